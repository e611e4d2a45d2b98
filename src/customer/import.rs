//! Customer import from CSV: what `POST /api/v1/customers/import` runs.
//!
//! The file is UTF-8 (a byte-order mark is skipped), RFC 4180: fields
//! separated by commas, optionally in double quotes (a quote inside a
//! quoted field is doubled; quoted fields may hold commas and line
//! breaks), records ended by CRLF or LF. The first record is the header;
//! its names, in any order and case: `id` (optional), `name` (required),
//! `phones`, `email`, `notes`. Any other column is refused, so a typo does
//! not silently drop data.
//!
//! Each later record is one customer. `phones` holds numbers separated by
//! `;` or `|`, each normalised to E.164 with the configured default region
//! ([`super::normalise_phone`]). A row with an `id` that exists updates
//! that customer (name, phones, email and notes replaced; the name prompt
//! kept); any other row creates one (with the row's `id`, or a new uuid).
//! A bad row (no name, a number that is not one, a number owned by
//! another customer, a field too long) is reported with its row number
//! (the header is row 1, as a spreadsheet numbers it) and does not stop
//! the others. The CSV reader is hand-written (about fifty lines) rather
//! than a dependency: this is its one use.

use super::normalise_phone;
use crate::store::{Customer, Store, StoreError};

/// The most data rows one import takes.
pub const MAX_ROWS: usize = 10_000;

/// The longest name, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The longest email, in characters.
pub const MAX_EMAIL_CHARS: usize = 254;

/// The longest notes, in characters.
pub const MAX_NOTES_CHARS: usize = 10_000;

/// The most phone numbers a customer has.
pub const MAX_PHONES: usize = 20;

/// What an import did.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ImportReport {
    pub created: u64,
    pub updated: u64,
    /// The rows refused, in file order.
    pub errors: Vec<RowError>,
}

/// A row an import refused.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    /// 1-based, the header being row 1 (a quoted field spanning lines
    /// still counts as one row).
    pub row: u64,
    pub reason: String,
}

/// Why a whole file is refused (nothing imported).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("the file is empty: it needs a header row (id, name, phones, email, notes)")]
    Empty,
    #[error("CSV: {0}")]
    Syntax(String),
    #[error("unknown column `{0}`: the columns are id, name, phones, email, notes")]
    UnknownColumn(String),
    #[error("column `{0}` appears twice")]
    DuplicateColumn(String),
    #[error("the header has no `name` column")]
    NoNameColumn,
    #[error("{rows} rows: at most {MAX_ROWS} per import")]
    TooManyRows { rows: usize },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Splits CSV text into records of fields (RFC 4180, LF or CRLF).
/// Blank lines are skipped.
pub fn parse_csv(text: &str) -> Result<Vec<Vec<String>>, String> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut records = Vec::new();
    let mut record: Vec<String> = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut in_quotes = false;
    // True once the current field was quoted: only a separator may follow
    // its closing quote.
    let mut was_quoted = false;
    let mut line = 1u64;
    while let Some(c) = chars.next() {
        if in_quotes {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    field.push('"');
                }
                '"' => in_quotes = false,
                '\n' => {
                    line += 1;
                    field.push(c);
                }
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' if field.is_empty() && !was_quoted => {
                in_quotes = true;
                was_quoted = true;
            }
            ',' => {
                record.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' => {
                record.push(std::mem::take(&mut field));
                was_quoted = false;
                if !(record.len() == 1 && record[0].is_empty()) {
                    records.push(std::mem::take(&mut record));
                } else {
                    record.clear();
                }
                line += 1;
            }
            _ if was_quoted => {
                return Err(format!(
                    "line {line}: text after a closing quote (a quote inside a quoted field is written twice)"
                ))
            }
            '"' => return Err(format!("line {line}: a quote inside an unquoted field")),
            _ => field.push(c),
        }
    }
    if in_quotes {
        return Err(format!("line {line}: a quoted field is not closed"));
    }
    if !field.is_empty() || was_quoted || !record.is_empty() {
        record.push(field);
        records.push(record);
    }
    Ok(records)
}

/// Where each known column is in the header.
#[derive(Default)]
struct Columns {
    id: Option<usize>,
    name: usize,
    phones: Option<usize>,
    email: Option<usize>,
    notes: Option<usize>,
}

fn columns(header: &[String]) -> Result<Columns, ImportError> {
    let mut name = None;
    let mut cols = Columns::default();
    for (i, raw) in header.iter().enumerate() {
        let key = raw.trim().to_ascii_lowercase();
        let slot = match key.as_str() {
            "id" => &mut cols.id,
            "name" => &mut name,
            "phones" => &mut cols.phones,
            "email" => &mut cols.email,
            "notes" => &mut cols.notes,
            _ => return Err(ImportError::UnknownColumn(raw.trim().to_owned())),
        };
        if slot.replace(i).is_some() {
            return Err(ImportError::DuplicateColumn(key));
        }
    }
    cols.name = name.ok_or(ImportError::NoNameColumn)?;
    Ok(cols)
}

/// Normalises a list of numbers separated by `;` or `|` (or given as a
/// list): sorted, without repeats. The error names the number refused.
pub fn normalise_phones<'a>(
    raw: impl IntoIterator<Item = &'a str>,
    default_region: &str,
) -> Result<Vec<String>, String> {
    let mut phones = Vec::new();
    for p in raw.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
        let e164 = normalise_phone(p, default_region).ok_or_else(|| {
            format!("phone {p:?} is not a phone number (region {default_region})")
        })?;
        phones.push(e164);
    }
    phones.sort();
    phones.dedup();
    if phones.len() > MAX_PHONES {
        return Err(format!("{} phones: at most {MAX_PHONES}", phones.len()));
    }
    Ok(phones)
}

/// Checks a customer's name, email and notes as the API and the import
/// take them.
pub fn check_fields(name: &str, email: Option<&str>, notes: &str) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("name: empty".to_owned());
    }
    if name.chars().count() > MAX_NAME_CHARS {
        return Err(format!("name: at most {MAX_NAME_CHARS} characters"));
    }
    if let Some(email) = email {
        if email.chars().count() > MAX_EMAIL_CHARS || email.chars().any(char::is_whitespace) {
            return Err(format!(
                "email {email:?}: at most {MAX_EMAIL_CHARS} characters, no spaces"
            ));
        }
    }
    if notes.chars().count() > MAX_NOTES_CHARS {
        return Err(format!("notes: at most {MAX_NOTES_CHARS} characters"));
    }
    Ok(())
}

/// Says who owns a number a write was refused for: `phone +… already
/// belongs to customer `id` (Name)`.
pub async fn owner_message(store: &Store, number: &str) -> String {
    match store.customer_by_phone(number).await {
        Ok(Some(owner)) => format!(
            "phone {number} already belongs to customer `{}` ({})",
            owner.id, owner.name
        ),
        _ => format!("phone {number} already belongs to another customer"),
    }
}

/// Imports CSV text (see the module doc). `now_ms` is the created and
/// updated time of every row written. A database failure stops the import
/// (rows before it stay written) and is returned as [`ImportError::Store`].
pub async fn import_csv(
    store: &Store,
    text: &str,
    default_region: &str,
    now_ms: i64,
) -> Result<ImportReport, ImportError> {
    let records = parse_csv(text).map_err(ImportError::Syntax)?;
    let mut records = records.into_iter();
    let header = records.next().ok_or(ImportError::Empty)?;
    let cols = columns(&header)?;
    let rows: Vec<Vec<String>> = records.collect();
    if rows.len() > MAX_ROWS {
        return Err(ImportError::TooManyRows { rows: rows.len() });
    }
    let mut report = ImportReport::default();
    for (i, fields) in rows.iter().enumerate() {
        let row = i as u64 + 2;
        match import_row(store, &cols, fields, default_region, now_ms).await {
            Ok(RowOutcome::Created) => report.created += 1,
            Ok(RowOutcome::Updated) => report.updated += 1,
            Err(RowFailure::Refused(reason)) => report.errors.push(RowError { row, reason }),
            Err(RowFailure::Store(e)) => return Err(e.into()),
        }
    }
    Ok(report)
}

enum RowOutcome {
    Created,
    Updated,
}

enum RowFailure {
    Refused(String),
    Store(StoreError),
}

async fn import_row(
    store: &Store,
    cols: &Columns,
    fields: &[String],
    default_region: &str,
    now_ms: i64,
) -> Result<RowOutcome, RowFailure> {
    let get = |i: Option<usize>| {
        i.and_then(|i| fields.get(i))
            .map(|s| s.trim())
            .unwrap_or("")
    };
    let name = get(Some(cols.name));
    let id = get(cols.id);
    let email = Some(get(cols.email)).filter(|e| !e.is_empty());
    let notes = get(cols.notes);
    check_fields(name, email, notes).map_err(RowFailure::Refused)?;
    if id.chars().count() > 128 {
        return Err(RowFailure::Refused("id: at most 128 characters".to_owned()));
    }
    let phones = normalise_phones(get(cols.phones).split([';', '|']), default_region)
        .map_err(RowFailure::Refused)?;
    let existing = if id.is_empty() {
        None
    } else {
        store.customer(id).await.map_err(RowFailure::Store)?
    };
    let customer = Customer {
        id: if id.is_empty() {
            uuid::Uuid::new_v4().to_string()
        } else {
            id.to_owned()
        },
        name: name.to_owned(),
        name_prompt: existing.as_ref().and_then(|c| c.name_prompt.clone()),
        email: email.map(str::to_owned),
        notes: notes.to_owned(),
        phones,
    };
    let written = if existing.is_some() {
        store
            .update_customer(&customer, now_ms)
            .await
            .map(|_| RowOutcome::Updated)
    } else {
        store
            .create_customer(&customer, now_ms)
            .await
            .map(|()| RowOutcome::Created)
    };
    match written {
        Ok(outcome) => Ok(outcome),
        Err(StoreError::Conflict {
            table: "customer_phones",
            key,
        }) => {
            let number = key.strip_prefix("number ").unwrap_or(&key);
            Err(RowFailure::Refused(owner_message(store, number).await))
        }
        Err(StoreError::Conflict { key, .. }) => Err(RowFailure::Refused(format!(
            "customer {key} was created meanwhile"
        ))),
        Err(e) => Err(RowFailure::Store(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(text: &str) -> Vec<Vec<String>> {
        parse_csv(text).unwrap()
    }

    #[test]
    fn plain_and_quoted_fields() {
        assert_eq!(
            rows("name,phones\r\nHanako,03-1234-5678\nTaro,\n"),
            [
                vec!["name", "phones"],
                vec!["Hanako", "03-1234-5678"],
                vec!["Taro", ""]
            ]
        );
        assert_eq!(
            rows("\u{FEFF}name,notes\n\"Smith, John\",\"said \"\"hi\"\"\nthen left\"\n\n"),
            [
                vec!["name", "notes"],
                vec!["Smith, John", "said \"hi\"\nthen left"]
            ]
        );
        // No final line break; an empty quoted last field.
        assert_eq!(rows("a,b\n1,\"\""), [vec!["a", "b"], vec!["1", ""]]);
        assert!(rows("").is_empty());
    }

    #[test]
    fn broken_quotes_are_refused_with_their_line() {
        for (bad, why) in [
            ("a\n\"open", "line 2: a quoted field is not closed"),
            ("a\n\"x\"y", "line 2: text after a closing quote"),
            ("a\nx\"y", "line 2: a quote inside an unquoted field"),
        ] {
            let e = parse_csv(bad).unwrap_err();
            assert!(e.starts_with(why), "{bad:?}: {e}");
        }
    }

    #[test]
    fn header_columns_are_known_and_unique() {
        let h = |s: &str| s.split(',').map(str::to_owned).collect::<Vec<_>>();
        let c = columns(&h("Phones, NAME ,id")).unwrap();
        assert_eq!(
            (c.name, c.phones, c.id, c.email),
            (1, Some(0), Some(2), None)
        );
        assert!(matches!(
            columns(&h("name,phone")),
            Err(ImportError::UnknownColumn(c)) if c == "phone"
        ));
        assert!(matches!(
            columns(&h("name,Name")),
            Err(ImportError::DuplicateColumn(_))
        ));
        assert!(matches!(
            columns(&h("id,phones")),
            Err(ImportError::NoNameColumn)
        ));
    }

    #[test]
    fn phone_lists_are_normalised_sorted_and_deduplicated() {
        assert_eq!(
            normalise_phones(
                "090-1234-5678; +81312345678|03-1234-5678|".split([';', '|']),
                "JP"
            ),
            Ok(vec!["+81312345678".to_owned(), "+819012345678".to_owned()])
        );
        let e = normalise_phones(["1001"], "JP").unwrap_err();
        assert!(e.contains("\"1001\""), "{e}");
    }
}
