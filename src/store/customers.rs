//! Customers and their phone numbers in the database: [`Customer`] and
//! the [`Store`] methods that keep them (`customers`, `customer_phones`;
//! see `migrations/*/0004_customers_callbacks.sql`).
//!
//! Written once for both databases, like `users.rs`: one SQL text, run by
//! `on_pool!` on either pool. Numbers are stored as given: the caller
//! normalises them to E.164 first (`crate::customer::normalise_phone`);
//! the schema only checks the leading `+`. A number belongs to one
//! customer at most, so the caller-id lookup ([`Store::customer_by_phone`])
//! has one answer.

use super::sql::{on_pool, text};
use super::{Store, StoreError};

/// A customer, with every phone number of theirs.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Customer {
    /// A uuid v4 string (or any unique text an import chooses).
    pub id: String,
    /// As an agent sees it.
    pub name: String,
    /// A prompt (name without `.wav`, in the flow's language directory)
    /// that says the name, for flows that greet callers by name.
    pub name_prompt: Option<String>,
    pub email: Option<String>,
    /// Free text for agents.
    pub notes: String,
    /// E.164 numbers (`+81312345678`), in the order stored (sorted).
    pub phones: Vec<String>,
}

const INSERT_CUSTOMER: &str = "INSERT INTO customers \
     (id, name, name_prompt, email, notes, created_at_ms, updated_at_ms) \
     VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING";

/// A taken number inserts nothing (the caller turns that into a conflict).
const INSERT_PHONE: &str =
    "INSERT INTO customer_phones (number, customer_id) VALUES ($1, $2) ON CONFLICT DO NOTHING";

const CUSTOMER_COLUMNS: &str = "c.id, c.name, c.name_prompt, c.email, c.notes";

const PHONES_OF: &str = "SELECT number FROM customer_phones WHERE customer_id = $1 ORDER BY number";

const COUNT_CUSTOMERS: &str = "SELECT COUNT(*) FROM customers";

/// `$1` id, then the fields, `$6` now.
const UPDATE_CUSTOMER: &str = "UPDATE customers SET name = $2, name_prompt = $3, email = $4, \
     notes = $5, updated_at_ms = $6 WHERE id = $1";

const DELETE_PHONES_OF: &str = "DELETE FROM customer_phones WHERE customer_id = $1";

/// The customers whose lower-cased name matches the `LIKE` pattern `$1`
/// (`\` escapes), by name then id; `$2` limit, `$3` offset.
const NAME_MATCHES: &str = "SELECT c.id FROM customers c \
     WHERE LOWER(c.name) LIKE $1 ESCAPE '\\' ORDER BY c.name, c.id LIMIT $2 OFFSET $3";

fn select_by_phone() -> String {
    format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customer_phones p \
         JOIN customers c ON c.id = p.customer_id WHERE p.number = $1"
    )
}

fn select_by_id() -> String {
    format!("SELECT {CUSTOMER_COLUMNS} FROM customers c WHERE c.id = $1")
}

fn select_by_name() -> String {
    format!(
        "SELECT {CUSTOMER_COLUMNS} FROM customers c \
         WHERE LOWER(c.name) LIKE $1 ESCAPE '\\' ORDER BY c.name, c.id LIMIT $2 OFFSET $3"
    )
}

fn select_phones_by_name() -> String {
    format!(
        "SELECT customer_id, number FROM customer_phones \
         WHERE customer_id IN ({NAME_MATCHES}) ORDER BY number"
    )
}

/// A `LIKE` pattern matching names that contain `needle` (lower-cased),
/// with `%`, `_` and `\` in it taken literally.
fn contains_pattern(needle: &str) -> String {
    let mut p = String::with_capacity(needle.len() + 2);
    p.push('%');
    for c in needle.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// A `customers` row, without its phones.
#[derive(sqlx::FromRow)]
struct CustomerRow {
    id: String,
    name: String,
    name_prompt: Option<String>,
    email: Option<String>,
    notes: String,
}

impl Store {
    /// Inserts a customer and their phones in one transaction. A taken id
    /// or a number that already belongs to someone is
    /// [`StoreError::Conflict`] (`table` `"customers"` or
    /// `"customer_phones"`, `key` the id or the number); nothing is
    /// written then. `now_ms` is both its created and updated time.
    pub async fn create_customer(
        &self,
        customer: &Customer,
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let refused = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let inserted = sqlx::query(INSERT_CUSTOMER)
                .bind(text(&customer.id))
                .bind(text(&customer.name))
                .bind(customer.name_prompt.as_deref().map(text))
                .bind(customer.email.as_deref().map(text))
                .bind(text(&customer.notes))
                .bind(now_ms)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let mut refused = None;
            if inserted == 0 {
                refused = Some(StoreError::Conflict {
                    table: "customers",
                    key: format!("id {:?}", customer.id),
                });
            } else {
                for number in &customer.phones {
                    let n = sqlx::query(INSERT_PHONE)
                        .bind(text(number))
                        .bind(text(&customer.id))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if n == 0 {
                        refused = Some(StoreError::Conflict {
                            table: "customer_phones",
                            key: format!("number {number}"),
                        });
                        break;
                    }
                }
            }
            if refused.is_none() {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            refused
        });
        match refused {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The customer one of whose numbers is `e164` (exact match: normalise
    /// the caller's number first), with all their numbers.
    pub async fn customer_by_phone(&self, e164: &str) -> Result<Option<Customer>, StoreError> {
        let sql = select_by_phone();
        let row: Option<CustomerRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(text(e164)).fetch_optional(pool).await?
        });
        self.with_phones(row).await
    }

    /// One customer by id, with all their numbers.
    pub async fn customer(&self, id: &str) -> Result<Option<Customer>, StoreError> {
        let sql = select_by_id();
        let row: Option<CustomerRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(text(id)).fetch_optional(pool).await?
        });
        self.with_phones(row).await
    }

    /// Replaces a customer's fields (`name`, `name_prompt`, `email`,
    /// `notes`) and phone numbers (the list given becomes the whole list)
    /// in one transaction, and sets the updated time to `now_ms`. False
    /// when no customer has the id. A number that belongs to another
    /// customer is [`StoreError::Conflict`] (`table` `"customer_phones"`,
    /// `key` `number +…`), and nothing is written then.
    pub async fn update_customer(
        &self,
        customer: &Customer,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let outcome = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(UPDATE_CUSTOMER)
                .bind(text(&customer.id))
                .bind(text(&customer.name))
                .bind(customer.name_prompt.as_deref().map(text))
                .bind(customer.email.as_deref().map(text))
                .bind(text(&customer.notes))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            let mut outcome = Ok(updated > 0);
            if updated > 0 {
                sqlx::query(DELETE_PHONES_OF)
                    .bind(text(&customer.id))
                    .execute(&mut *tx)
                    .await?;
                for number in &customer.phones {
                    let n = sqlx::query(INSERT_PHONE)
                        .bind(text(number))
                        .bind(text(&customer.id))
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if n == 0 {
                        outcome = Err(StoreError::Conflict {
                            table: "customer_phones",
                            key: format!("number {number}"),
                        });
                        break;
                    }
                }
            }
            if matches!(outcome, Ok(true)) {
                tx.commit().await?;
            } else {
                tx.rollback().await?;
            }
            outcome
        });
        outcome
    }

    /// The customers whose name contains `needle`, ignoring case (ASCII
    /// letters on both databases; every letter PostgreSQL and Rust agree
    /// on), by name then id, with their numbers: at most `limit`, after
    /// skipping `offset`.
    pub async fn search_customers(
        &self,
        needle: &str,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<Customer>, StoreError> {
        let pattern = contains_pattern(needle);
        let (rows_sql, phones_sql) = (select_by_name(), select_phones_by_name());
        let (rows, phones): (Vec<CustomerRow>, Vec<(String, String)>) = on_pool!(self, pool => {
            let rows = sqlx::query_as(&rows_sql)
                .bind(text(&pattern))
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await?;
            let phones = sqlx::query_as(&phones_sql)
                .bind(text(&pattern))
                .bind(i64::from(limit))
                .bind(i64::from(offset))
                .fetch_all(pool)
                .await?;
            (rows, phones)
        });
        let mut by_customer: std::collections::HashMap<String, Vec<String>> =
            std::collections::HashMap::new();
        for (customer_id, number) in phones {
            by_customer.entry(customer_id).or_default().push(number);
        }
        Ok(rows
            .into_iter()
            .map(|row| Customer {
                phones: by_customer.remove(&row.id).unwrap_or_default(),
                id: row.id,
                name: row.name,
                name_prompt: row.name_prompt,
                email: row.email,
                notes: row.notes,
            })
            .collect())
    }

    /// How many customers exist.
    pub async fn count_customers(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(COUNT_CUSTOMERS).fetch_one(pool).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    async fn with_phones(&self, row: Option<CustomerRow>) -> Result<Option<Customer>, StoreError> {
        let Some(row) = row else { return Ok(None) };
        let phones: Vec<(String,)> = on_pool!(self, pool => {
            sqlx::query_as(PHONES_OF).bind(&row.id).fetch_all(pool).await?
        });
        Ok(Some(Customer {
            id: row.id,
            name: row.name,
            name_prompt: row.name_prompt,
            email: row.email,
            notes: row.notes,
            phones: phones.into_iter().map(|(n,)| n).collect(),
        }))
    }
}
