//! Reading values out ("say-items"): a variable's value → the names of the
//! prompts to play, in order, from a language's prompt set
//! (`<prompts_dir>/<language>/<name>.wav`, names without `.wav`). Pure
//! text work: no file is read here. [`say_prompts`] lists every prompt a
//! language's set must hold for a kind, which validation checks exist and
//! `ivr-flows/prompts/generate-say.sh` generates.
//!
//! ## Value formats
//! Surrounding whitespace is ignored; an empty value is an error.
//!
//! | kind | accepted | read as (en / ja) |
//! |---|---|---|
//! | `digits` | keys `0-9 * # A-D` (`a-d` too); the separators `space + - ( ) .` are skipped; anything else is an error | key by key: `digit-<key>`, `digit-star`, `digit-pound` |
//! | `number` | an integer, optional leading `-`, at most [`MAX_NUMBER`] either way (leading zeros allowed) | "minus one thousand two hundred thirty-four" / まいなす せん にひゃく さんじゅう よん |
//! | `amount` | `-`? digits, then optionally `.` and one or two digits (`1234`, `1234.5`, `1234.50`); whole part at most [`MAX_NUMBER`] | en: dollars and cents ("one dollar and five cents", "zero dollars", "fifty cents"; no cents part when they are zero) / ja: yen (〜えん); a non-zero fraction is refused (yen have none; money is not rounded) |
//! | `time` | `HH:MM` or `HH:MM:SS[.fff]` 24-hour (hour may be one digit), or an RFC 3339 date-time (offset optional), whose local time as written is read; seconds are not read | en: "nine oh five a.m.", "nine o'clock p.m.", "twelve thirty a.m.", 12:00 "noon", 00:00 "midnight" / ja: ごぜん/ごご + 0–11 じ + ふん (午前0時 is midnight, 午後0時 noon; no ふん part at :00) |
//! | `date` | `YYYY-MM-DD` (a real date), or an RFC 3339 date-time, whose date as written is read | en: month + ordinal day, "December thirty-first" / ja: 12がつ 31にち with the irregular day readings (ついたち, ふつか, …, はつか); the year is not read (say it with a `number` item) |
//! | `prompt` | a prompt name, `[A-Za-z0-9_-]+` | that prompt |
//!
//! ## Languages
//! `digits` and `prompt` work in any language whose folder has the files
//! (`digit-*`); `number`, `amount`, `time` and `date` need a language's
//! rules and exist for [`LANGUAGES`] (`en`, `ja`).
//!
//! ## Granularity
//! English builds numbers from `number-0` … `number-19`, the tens,
//! `hundred`, `thousand`, `million`, `billion`. Japanese reads in groups of
//! four digits (万, 億), each digit with its place as one prompt
//! (`number-300` さんびゃく, `number-8000` はっせん), so the sound changes
//! inside a word are recorded, never concatenated. Hours with じ, minutes
//! with ふん/ぷん (`time-minute-1` いっぷん … `time-minute-10` じゅっぷん and
//! `time-minute-20` … `-50`), months with がつ and days with にち are whole
//! prompts for the same reason; 23 minutes is `number-20` + `time-minute-3`
//! (にじゅう さんぷん), a compound's natural break.

use chrono::NaiveDate;

use super::flow::SayKind;

/// The languages with number, amount, time and date rules.
pub const LANGUAGES: &[&str] = &["en", "ja"];

/// The largest number (and amount) read, either way: just under a
/// trillion (en) = 9999億 9999万 9999 (ja).
pub const MAX_NUMBER: u64 = 999_999_999_999;

/// Why a value cannot be read out.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SayError {
    /// The kind needs language rules this language does not have.
    #[error(
        "say = \"{}\" has no prompt set for language `{language}` (sets: {})",
        kind_name(*kind),
        LANGUAGES.join(", ")
    )]
    Language {
        /// What was to be read.
        kind: SayKind,
        /// The flow's language.
        language: String,
    },
    /// The value is not in the kind's format (or out of range).
    #[error("say = \"{}\" cannot read `{value}`: {reason}", kind_name(*kind))]
    Value {
        /// What was to be read.
        kind: SayKind,
        /// The value (its first 40 characters).
        value: String,
        /// Why, for a person.
        reason: String,
    },
}

/// The kind as written in a flow file (`"digits"`, …).
pub fn kind_name(kind: SayKind) -> &'static str {
    match kind {
        SayKind::Digits => "digits",
        SayKind::Number => "number",
        SayKind::Amount => "amount",
        SayKind::Time => "time",
        SayKind::Date => "date",
        SayKind::Prompt => "prompt",
    }
}

/// Whether `language` can read `kind` (given its prompt files).
pub fn supports(kind: SayKind, language: &str) -> bool {
    matches!(kind, SayKind::Digits | SayKind::Prompt) || LANGUAGES.contains(&language)
}

/// The prompts to play, in order, to read `value` as `kind` in `language`.
///
/// ```
/// use hibiki::ivr::{flow::SayKind, say::say};
/// assert_eq!(say(SayKind::Number, "42", "en").unwrap(), ["number-40", "number-2"]);
/// assert_eq!(say(SayKind::Date, "2026-04-01", "ja").unwrap(), ["date-month-4", "date-day-1"]);
/// ```
pub fn say(kind: SayKind, value: &str, language: &str) -> Result<Vec<String>, SayError> {
    let lang = match language {
        "en" => Some(Lang::En),
        "ja" => Some(Lang::Ja),
        _ => None,
    };
    let refuse = |reason: String| SayError::Value {
        kind,
        value: value.chars().take(40).collect(),
        reason,
    };
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(refuse("the value is empty".into()));
    }
    let lang = match (kind, lang) {
        (SayKind::Digits, _) => return digits(trimmed).map_err(refuse),
        (SayKind::Prompt, _) => {
            return if is_prompt_name(trimmed) {
                Ok(vec![trimmed.to_owned()])
            } else {
                Err(refuse(
                    "a prompt name uses letters, digits, `_` and `-` only".into(),
                ))
            };
        }
        (_, Some(lang)) => lang,
        (_, None) => {
            return Err(SayError::Language {
                kind,
                language: language.to_owned(),
            })
        }
    };
    let mut out = Out(Vec::new());
    match kind {
        SayKind::Number => {
            let (negative, n) = integer(trimmed).map_err(refuse)?;
            if negative && n > 0 {
                out.push("number-minus");
            }
            lang.number(n, &mut out);
        }
        SayKind::Amount => {
            let (negative, whole, cents) = amount(trimmed).map_err(refuse)?;
            if negative && (whole, cents) != (0, 0) {
                out.push("number-minus");
            }
            match lang {
                Lang::En => en_amount(whole, cents, &mut out),
                Lang::Ja if cents != 0 => {
                    return Err(refuse(
                        "yen have no fractional part (write 1234 or 1234.00)".into(),
                    ))
                }
                Lang::Ja => {
                    ja_number(whole, &mut out);
                    out.push("amount-yen");
                }
            }
        }
        SayKind::Time => {
            let (hour, minute) = time(trimmed).ok_or_else(|| {
                refuse("not a time (expected HH:MM, HH:MM:SS or an RFC 3339 date-time)".into())
            })?;
            match lang {
                Lang::En => en_time(hour, minute, &mut out),
                Lang::Ja => ja_time(hour, minute, &mut out),
            }
        }
        SayKind::Date => {
            let (month, day) = date(trimmed).ok_or_else(|| {
                refuse("not a date (expected YYYY-MM-DD or an RFC 3339 date-time)".into())
            })?;
            out.push(format!("date-month-{month}"));
            out.push(format!("date-day-{day}"));
        }
        SayKind::Digits | SayKind::Prompt => {}
    }
    Ok(out.0)
}

/// Every prompt `language`'s set needs to read any value as `kind`
/// (empty for `prompt`, and for a kind the language cannot read: see
/// [`supports`]).
pub fn say_prompts(kind: SayKind, language: &str) -> Vec<String> {
    let mut out = Out(Vec::new());
    match (kind, language) {
        (SayKind::Digits, _) => {
            for key in DIGIT_KEYS {
                out.push(format!("digit-{key}"));
            }
        }
        (SayKind::Prompt, _) => {}
        (SayKind::Number, "en" | "ja") => number_set(language, &mut out),
        (SayKind::Amount, "en") => {
            number_set(language, &mut out);
            for word in ["dollar", "dollars", "cent", "cents", "and"] {
                out.push(format!("amount-{word}"));
            }
        }
        (SayKind::Amount, "ja") => {
            number_set(language, &mut out);
            out.push("amount-yen");
        }
        (SayKind::Time, "en") => {
            // Hours 1–12 and minutes 1–59.
            for n in (1..20).chain((20..=50).step_by(10)) {
                out.push(format!("number-{n}"));
            }
            for word in ["oh", "oclock", "am", "pm", "noon", "midnight"] {
                out.push(format!("time-{word}"));
            }
        }
        (SayKind::Time, "ja") => {
            out.push("time-am");
            out.push("time-pm");
            for h in 0..12 {
                out.push(format!("time-hour-{h}"));
            }
            for m in (1..=10).chain((20..=50).step_by(10)) {
                out.push(format!("time-minute-{m}"));
            }
            for tens in (10..=50).step_by(10) {
                out.push(format!("number-{tens}"));
            }
        }
        (SayKind::Date, "en" | "ja") => {
            for m in 1..=12 {
                out.push(format!("date-month-{m}"));
            }
            for d in 1..=31 {
                out.push(format!("date-day-{d}"));
            }
        }
        _ => {}
    }
    out.0
}

/// The keys `digits` reads, as they appear in prompt names.
const DIGIT_KEYS: [&str; 16] = [
    "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "star", "pound", "A", "B", "C", "D",
];

#[derive(Clone, Copy)]
enum Lang {
    En,
    Ja,
}

impl Lang {
    fn number(self, n: u64, out: &mut Out) {
        match self {
            Lang::En => en_number(n, out),
            Lang::Ja => ja_number(n, out),
        }
    }
}

/// Prompt names being collected.
struct Out(Vec<String>);

impl Out {
    fn push(&mut self, name: impl Into<String>) {
        self.0.push(name.into());
    }
}

fn number_set(language: &str, out: &mut Out) {
    let numbers: Vec<u64> = if language == "ja" {
        // Each digit with its place: 0–9, 10–90, 100–900, 1000–9000.
        (0..10)
            .chain(
                [10, 100, 1000]
                    .iter()
                    .flat_map(|p| (1..10).map(move |d| d * p)),
            )
            .collect()
    } else {
        (0..20).chain((20..=90).step_by(10)).collect()
    };
    for n in numbers {
        out.push(format!("number-{n}"));
    }
    let words: &[&str] = if language == "ja" {
        &["man", "oku", "minus"]
    } else {
        &["hundred", "thousand", "million", "billion", "minus"]
    };
    for word in words {
        out.push(format!("number-{word}"));
    }
}

fn digits(value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for c in value.chars() {
        match c {
            '0'..='9' | 'A'..='D' => out.push(format!("digit-{c}")),
            'a'..='d' => out.push(format!("digit-{}", c.to_ascii_uppercase())),
            '*' => out.push("digit-star".into()),
            '#' => out.push("digit-pound".into()),
            ' ' | '+' | '-' | '(' | ')' | '.' => {}
            other => return Err(format!("`{other}` is not a key (0-9, *, #, A-D)")),
        }
    }
    if out.is_empty() {
        return Err("no keys to read".into());
    }
    Ok(out)
}

/// `-`? digits → (negative, magnitude), at most [`MAX_NUMBER`].
fn integer(value: &str) -> Result<(bool, u64), String> {
    let (negative, digits) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    Ok((negative, magnitude(digits)?))
}

fn magnitude(digits: &str) -> Result<u64, String> {
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err("not a whole number (like 42 or -7)".into());
    }
    let significant = digits.trim_start_matches('0');
    match significant.parse::<u64>() {
        _ if significant.is_empty() => Ok(0),
        Ok(n) if n <= MAX_NUMBER => Ok(n),
        _ => Err(format!("out of range (at most {MAX_NUMBER} either way)")),
    }
}

/// `-`? digits (`.` one or two digits)? → (negative, whole, cents).
fn amount(value: &str) -> Result<(bool, u64, u64), String> {
    let format = || "not an amount (like 1234, 1234.5 or 1234.50)".to_owned();
    let (negative, rest) = match value.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, value),
    };
    let (whole, fraction) = match rest.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (rest, None),
    };
    if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format());
    }
    let whole = magnitude(whole)?;
    let cents = match fraction {
        None => 0,
        Some(f) if !(1..=2).contains(&f.len()) || !f.bytes().all(|b| b.is_ascii_digit()) => {
            return Err(format!(
                "{} (one or two decimals; amounts are not rounded)",
                format()
            ))
        }
        Some(f) => {
            let n: u64 = f.parse().map_err(|_| format())?;
            if f.len() == 1 {
                n * 10
            } else {
                n
            }
        }
    };
    Ok((negative, whole, cents))
}

/// Exactly two ASCII digits, at most `max`.
fn two_digits(s: &str, max: u32) -> Option<u32> {
    if s.len() != 2 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok().filter(|n| *n <= max)
}

/// `H:MM`, `HH:MM`, `HH:MM:SS` or `HH:MM:SS.fff` → (hour, minute).
fn clock(s: &str) -> Option<(u32, u32)> {
    let mut parts = s.split(':');
    let (hour, minute, second) = (parts.next()?, parts.next()?, parts.next());
    if parts.next().is_some()
        || !(1..=2).contains(&hour.len())
        || !hour.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let hour: u32 = hour.parse().ok().filter(|h| *h < 24)?;
    let minute = two_digits(minute, 59)?;
    if let Some(second) = second {
        let (whole, fraction) = match second.split_once('.') {
            Some((w, f)) => (w, Some(f)),
            None => (second, None),
        };
        // 60: a leap second.
        two_digits(whole, 60)?;
        if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
            return None;
        }
    }
    Some((hour, minute))
}

/// `YYYY-MM-DD`, a date that exists.
fn calendar_date(s: &str) -> Option<NaiveDate> {
    let (year, rest) = (s.get(..4)?, s.get(4..)?);
    let month = rest.strip_prefix('-')?.get(..2)?;
    let day = rest.get(3..)?.strip_prefix('-')?;
    if !year.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    NaiveDate::from_ymd_opt(
        year.parse().ok()?,
        two_digits(month, 12)?,
        two_digits(day, 31)?,
    )
}

/// An RFC 3339 date-time (`T`, `t` or a space between; the offset `Z` or
/// `±HH:MM` optional) → its date and its local hour and minute as written.
fn date_time(s: &str) -> Option<(NaiveDate, u32, u32)> {
    let date = calendar_date(s.get(..10)?)?;
    let rest = s.get(10..)?.strip_prefix(['T', 't', ' '])?;
    let split = |at: usize| Some((rest.get(..at)?, rest.get(at..)?));
    let local = match rest.strip_suffix(['Z', 'z']) {
        Some(local) => local,
        None => match rest.len().checked_sub(6).and_then(split) {
            Some((local, offset)) if offset.starts_with(['+', '-']) => {
                let (h, m) = offset.get(1..)?.split_once(':')?;
                two_digits(h, 23)?;
                two_digits(m, 59)?;
                local
            }
            _ => rest,
        },
    };
    // RFC 3339 writes the time in full: HH:MM:SS.
    if local.get(2..3) != Some(":") || local.split(':').count() != 3 {
        return None;
    }
    let (hour, minute) = clock(local)?;
    Some((date, hour, minute))
}

fn time(value: &str) -> Option<(u32, u32)> {
    clock(value).or_else(|| date_time(value).map(|(_, h, m)| (h, m)))
}

/// → (month, day).
fn date(value: &str) -> Option<(u32, u32)> {
    use chrono::Datelike;
    let date = match value.len() {
        10 => calendar_date(value)?,
        _ => date_time(value)?.0,
    };
    Some((date.month(), date.day()))
}

fn en_number(n: u64, out: &mut Out) {
    if n == 0 {
        out.push("number-0");
        return;
    }
    let scales = [
        (1_000_000_000, Some("billion")),
        (1_000_000, Some("million")),
        (1_000, Some("thousand")),
        (1, None),
    ];
    for (scale, word) in scales {
        let group = (n / scale) % 1000;
        if group > 0 {
            en_below_thousand(group, out);
            if let Some(word) = word {
                out.push(format!("number-{word}"));
            }
        }
    }
}

/// 1–999: "three hundred forty-two".
fn en_below_thousand(n: u64, out: &mut Out) {
    let (hundreds, rest) = (n / 100, n % 100);
    if hundreds > 0 {
        out.push(format!("number-{hundreds}"));
        out.push("number-hundred");
    }
    if rest >= 20 {
        out.push(format!("number-{}", rest / 10 * 10));
        if rest % 10 > 0 {
            out.push(format!("number-{}", rest % 10));
        }
    } else if rest > 0 {
        out.push(format!("number-{rest}"));
    }
}

fn ja_number(n: u64, out: &mut Out) {
    if n == 0 {
        out.push("number-0");
        return;
    }
    for (scale, unit) in [(100_000_000, Some("oku")), (10_000, Some("man")), (1, None)] {
        let group = (n / scale) % 10_000;
        if group == 0 {
            continue;
        }
        for place in [1000, 100, 10, 1] {
            let digit = group / place % 10;
            if digit > 0 {
                out.push(format!("number-{}", digit * place));
            }
        }
        if let Some(unit) = unit {
            out.push(format!("number-{unit}"));
        }
    }
}

fn en_amount(dollars: u64, cents: u64, out: &mut Out) {
    if dollars > 0 || cents == 0 {
        en_number(dollars, out);
        out.push(if dollars == 1 {
            "amount-dollar"
        } else {
            "amount-dollars"
        });
    }
    if cents > 0 {
        if dollars > 0 {
            out.push("amount-and");
        }
        en_number(cents, out);
        out.push(if cents == 1 {
            "amount-cent"
        } else {
            "amount-cents"
        });
    }
}

fn en_time(hour: u32, minute: u32, out: &mut Out) {
    match (hour, minute) {
        (0, 0) => return out.push("time-midnight"),
        (12, 0) => return out.push("time-noon"),
        _ => {}
    }
    let twelve = match hour % 12 {
        0 => 12,
        h => h,
    };
    en_number(u64::from(twelve), out);
    match minute {
        0 => out.push("time-oclock"),
        1..=9 => {
            out.push("time-oh");
            en_number(u64::from(minute), out);
        }
        _ => en_number(u64::from(minute), out),
    }
    out.push(if hour < 12 { "time-am" } else { "time-pm" });
}

fn ja_time(hour: u32, minute: u32, out: &mut Out) {
    out.push(if hour < 12 { "time-am" } else { "time-pm" });
    out.push(format!("time-hour-{}", hour % 12));
    let (tens, ones) = (minute / 10 * 10, minute % 10);
    match minute {
        0 => {}
        // いっぷん … じゅっぷん, whole.
        1..=10 => out.push(format!("time-minute-{minute}")),
        // にじゅっぷん …, whole.
        _ if ones == 0 => out.push(format!("time-minute-{tens}")),
        // じゅう さんぷん: the tens, then the ones with ふん/ぷん.
        _ => {
            out.push(format!("number-{tens}"));
            out.push(format!("time-minute-{ones}"));
        }
    }
}

/// Letters, digits, `_`, `-`; not empty.
fn is_prompt_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// `say` with the `number-`/`time-`/… names written without their
    /// prefix where unambiguous: each expected name is checked whole.
    fn ok(kind: SayKind, value: &str, language: &str) -> Vec<String> {
        say(kind, value, language).unwrap_or_else(|e| panic!("{value:?}: {e}"))
    }

    fn numbers(words: &str) -> Vec<String> {
        words
            .split_whitespace()
            .map(|w| match w {
                w if w.contains('-') => w.to_owned(),
                w => format!("number-{w}"),
            })
            .collect()
    }

    fn refused(kind: SayKind, value: &str, language: &str) -> String {
        match say(kind, value, language) {
            Ok(names) => panic!("{value:?} read as {names:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn digits_read_key_by_key_in_any_language() {
        for language in ["en", "ja", "fr"] {
            assert_eq!(
                ok(SayKind::Digits, "09*#AbcD", language),
                [
                    "digit-0",
                    "digit-9",
                    "digit-star",
                    "digit-pound",
                    "digit-A",
                    "digit-B",
                    "digit-C",
                    "digit-D"
                ]
            );
        }
        // Separators of phone numbers are skipped.
        assert_eq!(ok(SayKind::Digits, " +1 (415) 555-01.00 ", "en").len(), 11);
        assert_eq!(ok(SayKind::Digits, "+81", "ja"), ["digit-8", "digit-1"]);
    }

    #[test]
    fn digits_refuse_what_is_not_a_key() {
        assert_eq!(
            refused(SayKind::Digits, "12x4", "en"),
            "say = \"digits\" cannot read `12x4`: `x` is not a key (0-9, *, #, A-D)"
        );
        assert!(refused(SayKind::Digits, "E", "en").contains("`E` is not a key"));
        assert!(refused(SayKind::Digits, "１２", "en").contains("not a key"));
        assert!(refused(SayKind::Digits, "+-", "en").ends_with("no keys to read"));
        assert!(refused(SayKind::Digits, "  ", "en").ends_with("the value is empty"));
    }

    #[test]
    fn english_numbers() {
        let cases = [
            ("0", "0"),
            ("7", "7"),
            ("13", "13"),
            ("20", "20"),
            ("42", "40 2"),
            ("99", "90 9"),
            ("100", "1 hundred"),
            ("101", "1 hundred 1"),
            ("110", "1 hundred 10"),
            ("999", "9 hundred 90 9"),
            ("1000", "1 thousand"),
            ("1001", "1 thousand 1"),
            ("1234", "1 thousand 2 hundred 30 4"),
            ("20000", "20 thousand"),
            ("100000", "1 hundred thousand"),
            ("1000000", "1 million"),
            ("1000010", "1 million 10"),
            ("1002003", "1 million 2 thousand 3"),
            ("999999999", "9 hundred 90 9 million 9 hundred 90 9 thousand 9 hundred 90 9"),
            ("1000000000", "1 billion"),
            ("999999999999", "9 hundred 90 9 billion 9 hundred 90 9 million 9 hundred 90 9 thousand 9 hundred 90 9"),
            ("-5", "minus 5"),
            ("-0", "0"),
            ("0042", "40 2"),
            (" 15 ", "15"),
        ];
        for (value, words) in cases {
            assert_eq!(ok(SayKind::Number, value, "en"), numbers(words), "{value}");
        }
    }

    #[test]
    fn japanese_numbers_group_by_man_and_oku_with_irregular_places() {
        let cases = [
            ("0", "0"),
            ("4", "4"),
            ("10", "10"),
            ("11", "10 1"),
            ("24", "20 4"),
            ("100", "100"),
            ("300", "300"),
            ("600", "600"),
            ("800", "800"),
            ("1000", "1000"),
            ("3000", "3000"),
            ("8000", "8000"),
            ("1234", "1000 200 30 4"),
            ("3800", "3000 800"),
            ("10000", "1 man"),
            ("10001", "1 man 1"),
            ("12345", "1 man 2000 300 40 5"),
            ("100000", "10 man"),
            ("10000000", "1000 man"),
            ("100000000", "1 oku"),
            ("100010000", "1 oku 1 man"),
            ("123456789", "1 oku 2000 300 40 5 man 6000 700 80 9"),
            (
                "999999999999",
                "9000 900 90 9 oku 9000 900 90 9 man 9000 900 90 9",
            ),
            ("-600", "minus 600"),
        ];
        for (value, words) in cases {
            assert_eq!(ok(SayKind::Number, value, "ja"), numbers(words), "{value}");
        }
    }

    #[test]
    fn numbers_refuse_what_is_not_a_whole_number_in_range() {
        for language in ["en", "ja"] {
            for bad in ["1.5", "1,000", "+5", "--5", "-", "abc", "1e6", "٣"] {
                assert!(
                    refused(SayKind::Number, bad, language)
                        .ends_with("not a whole number (like 42 or -7)"),
                    "{bad}"
                );
            }
            assert_eq!(
                refused(SayKind::Number, "1000000000000", language),
                "say = \"number\" cannot read `1000000000000`: out of range (at most 999999999999 either way)"
            );
            assert!(
                refused(SayKind::Number, "-99999999999999999999999", language)
                    .contains("out of range")
            );
            // Leading zeros do not count against the range.
            assert!(say(SayKind::Number, "000000000000001", language).is_ok());
        }
    }

    #[test]
    fn english_amounts_are_dollars_and_cents() {
        let cases = [
            ("0", "0 amount-dollars"),
            ("0.00", "0 amount-dollars"),
            ("1", "1 amount-dollar"),
            ("1.00", "1 amount-dollar"),
            ("2", "2 amount-dollars"),
            ("0.01", "1 amount-cent"),
            ("0.5", "50 amount-cents"),
            ("1.01", "1 amount-dollar amount-and 1 amount-cent"),
            (
                "1234.5",
                "1 thousand 2 hundred 30 4 amount-dollars amount-and 50 amount-cents",
            ),
            (
                "1234.50",
                "1 thousand 2 hundred 30 4 amount-dollars amount-and 50 amount-cents",
            ),
            (
                "1234.05",
                "1 thousand 2 hundred 30 4 amount-dollars amount-and 5 amount-cents",
            ),
            ("21.99", "20 1 amount-dollars amount-and 90 9 amount-cents"),
            (
                "-3.25",
                "minus 3 amount-dollars amount-and 20 5 amount-cents",
            ),
            ("-0.00", "0 amount-dollars"),
        ];
        for (value, words) in cases {
            assert_eq!(ok(SayKind::Amount, value, "en"), numbers(words), "{value}");
        }
    }

    #[test]
    fn japanese_amounts_are_yen_without_a_fraction() {
        let cases = [
            ("0", "0 amount-yen"),
            ("1", "1 amount-yen"),
            ("300", "300 amount-yen"),
            ("1234.00", "1000 200 30 4 amount-yen"),
            ("1234.0", "1000 200 30 4 amount-yen"),
            ("50000", "5 man amount-yen"),
            ("-800", "minus 800 amount-yen"),
        ];
        for (value, words) in cases {
            assert_eq!(ok(SayKind::Amount, value, "ja"), numbers(words), "{value}");
        }
        assert_eq!(
            refused(SayKind::Amount, "1234.50", "ja"),
            "say = \"amount\" cannot read `1234.50`: yen have no fractional part (write 1234 or 1234.00)"
        );
    }

    #[test]
    fn amounts_refuse_other_formats() {
        for language in ["en", "ja"] {
            for bad in [
                ".5", "5.", "1,234.50", "$5", "5 USD", "1.2.3", "abc", "1.-5",
            ] {
                assert!(
                    refused(SayKind::Amount, bad, language)
                        .contains("not an amount (like 1234, 1234.5 or 1234.50)"),
                    "{bad}"
                );
            }
            assert!(refused(SayKind::Amount, "1.505", language)
                .ends_with("(one or two decimals; amounts are not rounded)"));
            assert!(refused(SayKind::Amount, "1000000000000.00", language).contains("out of range"));
        }
    }

    #[test]
    fn english_times() {
        let cases = [
            ("09:05", "9 time-oh 5 time-am"),
            ("9:05", "9 time-oh 5 time-am"),
            ("09:00", "9 time-oclock time-am"),
            ("21:00", "9 time-oclock time-pm"),
            ("00:00", "time-midnight"),
            ("12:00", "time-noon"),
            ("00:30", "12 30 time-am"),
            ("12:15", "12 15 time-pm"),
            ("13:45", "1 40 5 time-pm"),
            ("23:59", "11 50 9 time-pm"),
            ("11:10", "11 10 time-am"),
            ("10:01:59", "10 time-oh 1 time-am"),
            ("18:20:00.250", "6 20 time-pm"),
            // RFC 3339: the local time as written, whatever the offset.
            ("2026-12-31T09:05:00+09:00", "9 time-oh 5 time-am"),
            ("2026-12-31T17:30:00Z", "5 30 time-pm"),
            ("2026-12-31 17:30:00.5-05:00", "5 30 time-pm"),
            ("2026-12-31t00:00:00", "time-midnight"),
        ];
        for (value, words) in cases {
            assert_eq!(ok(SayKind::Time, value, "en"), numbers(words), "{value}");
        }
    }

    #[test]
    fn japanese_times_use_gozen_gogo_and_whole_hour_and_minute_readings() {
        let cases = [
            ("00:00", "time-am time-hour-0"),
            ("04:00", "time-am time-hour-4"),
            ("09:01", "time-am time-hour-9 time-minute-1"),
            ("09:03", "time-am time-hour-9 time-minute-3"),
            ("07:10", "time-am time-hour-7 time-minute-10"),
            ("11:11", "time-am time-hour-11 10 time-minute-1"),
            ("12:00", "time-pm time-hour-0"),
            ("12:30", "time-pm time-hour-0 time-minute-30"),
            ("13:20", "time-pm time-hour-1 time-minute-20"),
            ("16:23", "time-pm time-hour-4 20 time-minute-3"),
            ("21:58", "time-pm time-hour-9 50 time-minute-8"),
            ("23:59:59", "time-pm time-hour-11 50 time-minute-9"),
            (
                "2026-12-31T09:05:00+09:00",
                "time-am time-hour-9 time-minute-5",
            ),
        ];
        for (value, words) in cases {
            assert_eq!(ok(SayKind::Time, value, "ja"), numbers(words), "{value}");
        }
    }

    #[test]
    fn times_refuse_other_formats() {
        for language in ["en", "ja"] {
            for bad in [
                "24:00",
                "9",
                "9:5",
                "09:60",
                "09:05:61",
                "123:00",
                "09:05:00:00",
                "9am",
                "09.05",
                "2026-12-31",
                "2026-12-31T09:05",
                "2026-02-30T09:05:00Z",
                "2026-12-31T09:05:00+9",
                "2026-12-31X09:05:00",
                "09:05:00.",
                "０９:05",
            ] {
                assert!(
                    refused(SayKind::Time, bad, language).ends_with(
                        "not a time (expected HH:MM, HH:MM:SS or an RFC 3339 date-time)"
                    ),
                    "{bad}"
                );
            }
        }
    }

    #[test]
    fn dates_are_month_then_day_without_the_year() {
        for language in ["en", "ja"] {
            let cases = [
                ("2026-12-31", 12, 31),
                ("2027-01-01", 1, 1),
                ("2028-02-29", 2, 29),
                ("2026-04-14", 4, 14),
                ("2026-07-20", 7, 20),
                ("2026-09-24", 9, 24),
                ("2026-12-31T23:59:59+09:00", 12, 31),
                ("2026-06-02 08:00:00Z", 6, 2),
            ];
            for (value, month, day) in cases {
                assert_eq!(
                    ok(SayKind::Date, value, language),
                    [format!("date-month-{month}"), format!("date-day-{day}")],
                    "{value}"
                );
            }
            for bad in [
                "2026-02-30",
                "2027-02-29",
                "2026-13-01",
                "2026-00-10",
                "2026-1-1",
                "26-12-31",
                "2026/12/31",
                "31.12.2026",
                "2026-12-31T25:00:00Z",
                "December 31",
                "2026-12-3１",
            ] {
                assert!(
                    refused(SayKind::Date, bad, language)
                        .ends_with("not a date (expected YYYY-MM-DD or an RFC 3339 date-time)"),
                    "{bad}"
                );
            }
        }
    }

    #[test]
    fn prompt_is_the_value_when_it_is_a_safe_name() {
        assert_eq!(
            ok(SayKind::Prompt, "customer-hanako-yamada", "en"),
            ["customer-hanako-yamada"]
        );
        assert_eq!(ok(SayKind::Prompt, " Name_2 ", "fr"), ["Name_2"]);
        for bad in ["../secret", "a/b", "a.wav", "名前", "a b", ""] {
            let error = refused(SayKind::Prompt, bad, "en");
            assert!(
                error.ends_with("a prompt name uses letters, digits, `_` and `-` only")
                    || error.ends_with("the value is empty"),
                "{bad}: {error}"
            );
        }
    }

    #[test]
    fn other_languages_read_digits_and_prompts_only() {
        for kind in [
            SayKind::Number,
            SayKind::Amount,
            SayKind::Time,
            SayKind::Date,
        ] {
            assert!(!supports(kind, "fr"));
            assert!(say_prompts(kind, "fr").is_empty());
            assert_eq!(
                say(kind, "1", "fr"),
                Err(SayError::Language {
                    kind,
                    language: "fr".into()
                })
            );
        }
        assert_eq!(
            refused(SayKind::Amount, "1", "de"),
            "say = \"amount\" has no prompt set for language `de` (sets: en, ja)"
        );
        assert!(supports(SayKind::Digits, "fr") && supports(SayKind::Prompt, "fr"));
        assert_eq!(say_prompts(SayKind::Digits, "fr").len(), 16);
        assert!(say_prompts(SayKind::Prompt, "en").is_empty());
    }

    #[test]
    fn long_values_are_cut_in_errors() {
        let long = "x".repeat(500);
        let SayError::Value { value, .. } = say(SayKind::Number, &long, "en").unwrap_err() else {
            panic!()
        };
        assert_eq!(value.len(), 40);
    }

    /// Everything `say` can return for a kind is in `say_prompts`, and
    /// (for time and date, which can be enumerated) nothing more.
    #[test]
    fn say_prompts_lists_exactly_what_say_uses() {
        for language in LANGUAGES {
            let listed =
                |kind| -> BTreeSet<String> { say_prompts(kind, language).into_iter().collect() };
            let used = |kind, values: &mut dyn Iterator<Item = String>| -> BTreeSet<String> {
                values.flat_map(|v| ok(kind, &v, language)).collect()
            };
            let times = used(
                SayKind::Time,
                &mut (0..24).flat_map(|h| (0..60).map(move |m| format!("{h:02}:{m:02}"))),
            );
            assert_eq!(times, listed(SayKind::Time), "{language}");
            let day = NaiveDate::from_ymd_opt(2028, 1, 1).unwrap();
            let dates = used(
                SayKind::Date,
                &mut day.iter_days().take(366).map(|d| d.to_string()),
            );
            assert_eq!(dates, listed(SayKind::Date), "{language}");
            // Numbers: every value below 10,000 and a spread above, negative too.
            let spread = (0..10_000u64)
                .chain((0..2000u64).map(|i| i * 499_999_999 + i))
                .chain([MAX_NUMBER]);
            let numbers = used(
                SayKind::Number,
                &mut spread
                    .clone()
                    .flat_map(|n| [n.to_string(), format!("-{n}")]),
            );
            assert_eq!(numbers, listed(SayKind::Number), "{language}");
            let amounts = used(
                SayKind::Amount,
                &mut spread
                    .flat_map(|n| {
                        [
                            format!("{n}"),
                            format!("-{}.00", n % 1000),
                            format!("{}", n % 3),
                        ]
                    })
                    .chain(if *language == "en" {
                        vec!["1.01".to_owned(), "2.5".to_owned()]
                    } else {
                        vec![]
                    }),
            );
            assert_eq!(amounts, listed(SayKind::Amount), "{language}");
            let digits = used(
                SayKind::Digits,
                &mut ["0123456789*#ABCD".to_owned()].into_iter(),
            );
            assert_eq!(digits, listed(SayKind::Digits));
        }
    }
}
