//! Users and API tokens in the database: [`UserRecord`], [`TokenRecord`]
//! and the [`Store`] methods that keep them (`users`, `auth_tokens`; see
//! `migrations/*/0003_auth.sql`).
//!
//! Unlike the call tables, these methods are written once: each SQL text
//! is the same on both databases (`$n` binds, `ON CONFLICT DO NOTHING`,
//! booleans that sqlx maps to SQLite's 0/1 and PostgreSQL's `BOOLEAN`),
//! and `on_pool!` (`sql.rs`) expands each body for the SQLite and the PostgreSQL
//! pool, so the compiler checks both and the text cannot drift.
//!
//! Policy (who may log in, what a password must be) is not here: it is
//! in `crate::auth`. This module stores what it is given, refuses a taken
//! username with [`StoreError::Conflict`], and reads rows back checked.

use std::fmt;

use super::sql::{on_pool, text};
use super::{Store, StoreError};
use crate::auth::{Role, TokenHash};

/// One user of the API and the web UI.
#[derive(Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// A uuid v4 string.
    pub id: String,
    /// Unique; what the user types to log in.
    pub username: String,
    /// Shown in the UI and on reports.
    pub display_name: String,
    pub role: Role,
    /// The Argon2id PHC string of the password.
    pub password_hash: String,
    /// A disabled user cannot log in and their tokens are refused.
    pub disabled: bool,
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
}

impl fmt::Debug for UserRecord {
    /// Everything but the password hash.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserRecord")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("password_hash", &"***")
            .field("disabled", &self.disabled)
            .field("created_at_ms", &self.created_at_ms)
            .field("updated_at_ms", &self.updated_at_ms)
            .finish()
    }
}

/// One issued token: its hash (never the token), whose it is, and until
/// when it is good.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenRecord {
    pub token_hash: TokenHash,
    pub user_id: String,
    pub created_at_ms: i64,
    /// The token is refused from this instant on.
    pub expires_at_ms: i64,
    /// Logged out, or revoked by a password change or a disable.
    pub revoked: bool,
}

const USER_COLUMNS: &str = "id, username, display_name, role, password_hash, disabled, \
     created_at_ms, updated_at_ms";

/// Inserts a user; a taken username (or id) inserts nothing.
const INSERT_USER: &str = "INSERT INTO users (id, username, display_name, role, password_hash, \
     disabled, created_at_ms, updated_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
     ON CONFLICT DO NOTHING";

const COUNT_USERS: &str = "SELECT COUNT(*) FROM users";

/// `$1` username, `$2` hash, `$3` now.
const SET_PASSWORD: &str =
    "UPDATE users SET password_hash = $2, updated_at_ms = $3 WHERE username = $1";

/// `$1` username, `$2` disabled, `$3` now.
const SET_DISABLED: &str = "UPDATE users SET disabled = $2, updated_at_ms = $3 WHERE username = $1";

/// `$1` username: revokes every token of that user.
const REVOKE_TOKENS_OF_USERNAME: &str = "UPDATE auth_tokens SET revoked = $2 \
     WHERE user_id = (SELECT id FROM users WHERE username = $1) AND revoked = $3";

const INSERT_TOKEN: &str = "INSERT INTO auth_tokens \
     (token_hash, user_id, created_at_ms, expires_at_ms, revoked) VALUES ($1, $2, $3, $4, $5)";

/// A token and its user in one round trip.
const SELECT_TOKEN_WITH_USER: &str = "SELECT t.token_hash, t.user_id, \
     t.created_at_ms AS token_created_at_ms, t.expires_at_ms, t.revoked, \
     u.id, u.username, u.display_name, u.role, u.password_hash, u.disabled, \
     u.created_at_ms, u.updated_at_ms \
     FROM auth_tokens t JOIN users u ON u.id = t.user_id WHERE t.token_hash = $1";

/// `$1` hash, `$2` true, `$3` false.
const REVOKE_TOKEN: &str =
    "UPDATE auth_tokens SET revoked = $2 WHERE token_hash = $1 AND revoked = $3";

/// `$1` instant: deletes tokens that expired before it.
const PURGE_TOKENS: &str = "DELETE FROM auth_tokens WHERE expires_at_ms < $1";

fn select_users(tail: &str) -> String {
    format!("SELECT {USER_COLUMNS} FROM users {tail}")
}

/// Binds a [`UserRecord`]'s eight columns, in [`USER_COLUMNS`] order.
macro_rules! bind_user {
    ($query:expr, $u:expr) => {{
        let u: &UserRecord = $u;
        $query
            .bind(text(&u.id))
            .bind(text(&u.username))
            .bind(text(&u.display_name))
            .bind(u.role.as_str())
            .bind(text(&u.password_hash))
            .bind(u.disabled)
            .bind(u.created_at_ms)
            .bind(u.updated_at_ms)
    }};
}

impl Store {
    /// Inserts a user. A taken username is [`StoreError::Conflict`]
    /// (`key` is the username); nothing is written then.
    pub async fn create_user(&self, user: &UserRecord) -> Result<(), StoreError> {
        let inserted = on_pool!(self, pool => {
            bind_user!(sqlx::query(INSERT_USER), user)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if inserted == 0 {
            return Err(StoreError::Conflict {
                table: "users",
                key: format!("username {:?}", user.username),
            });
        }
        Ok(())
    }

    /// The user with this username (exact match), if any.
    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = select_users("WHERE username = $1");
        let row: Option<UserRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(text(username)).fetch_optional(pool).await?
        });
        row.map(UserRecord::try_from).transpose()
    }

    /// The user with this id, if any.
    pub async fn user_by_id(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = select_users("WHERE id = $1");
        let row: Option<UserRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).bind(text(id)).fetch_optional(pool).await?
        });
        row.map(UserRecord::try_from).transpose()
    }

    /// Every user, by username.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = select_users("ORDER BY username");
        let rows: Vec<UserRow> = on_pool!(self, pool => {
            sqlx::query_as(&sql).fetch_all(pool).await?
        });
        rows.into_iter().map(UserRecord::try_from).collect()
    }

    /// How many users exist (disabled ones included).
    pub async fn count_users(&self) -> Result<u64, StoreError> {
        let (n,): (i64,) = on_pool!(self, pool => {
            sqlx::query_as(COUNT_USERS).fetch_one(pool).await?
        });
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Sets a user's password hash and revokes every token of theirs, in
    /// one transaction (whoever knew the old password is logged out).
    /// False when there is no such user.
    pub async fn set_password_hash(
        &self,
        username: &str,
        password_hash: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let updated = on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            let updated = sqlx::query(SET_PASSWORD)
                .bind(text(username))
                .bind(text(password_hash))
                .bind(now_ms)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            sqlx::query(REVOKE_TOKENS_OF_USERNAME)
                .bind(text(username))
                .bind(true)
                .bind(false)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            updated
        });
        Ok(updated > 0)
    }

    /// Disables (or enables again) a user; disabling also revokes every
    /// token of theirs, in the same transaction. Returns the user as
    /// stored afterwards, `None` when there is no such user.
    pub async fn set_user_disabled(
        &self,
        username: &str,
        disabled: bool,
        now_ms: i64,
    ) -> Result<Option<UserRecord>, StoreError> {
        on_pool!(self, pool => {
            let mut tx = pool.begin().await?;
            sqlx::query(SET_DISABLED)
                .bind(text(username))
                .bind(disabled)
                .bind(now_ms)
                .execute(&mut *tx)
                .await?;
            if disabled {
                sqlx::query(REVOKE_TOKENS_OF_USERNAME)
                    .bind(text(username))
                    .bind(true)
                    .bind(false)
                    .execute(&mut *tx)
                    .await?;
            }
            tx.commit().await?;
        });
        self.user_by_username(username).await
    }

    /// Stores an issued token (by its hash). The user must exist.
    pub async fn insert_token(&self, token: &TokenRecord) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query(INSERT_TOKEN)
                .bind(token.token_hash.as_str())
                .bind(text(&token.user_id))
                .bind(token.created_at_ms)
                .bind(token.expires_at_ms)
                .bind(token.revoked)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// A token by its hash, with its user: what every authenticated
    /// request reads. Expired and revoked tokens are returned too (the
    /// caller says why it refuses them).
    pub async fn token_with_user(
        &self,
        token_hash: &TokenHash,
    ) -> Result<Option<(TokenRecord, UserRecord)>, StoreError> {
        let row: Option<TokenUserRow> = on_pool!(self, pool => {
            sqlx::query_as(SELECT_TOKEN_WITH_USER)
                .bind(token_hash.as_str())
                .fetch_optional(pool)
                .await?
        });
        let Some(row) = row else { return Ok(None) };
        let token = TokenRecord {
            token_hash: TokenHash::from_stored(row.token_hash),
            user_id: row.user_id,
            created_at_ms: row.token_created_at_ms,
            expires_at_ms: row.expires_at_ms,
            revoked: row.revoked,
        };
        Ok(Some((token, UserRecord::try_from(row.user)?)))
    }

    /// Revokes one token. False when it is unknown or already revoked.
    pub async fn revoke_token(&self, token_hash: &TokenHash) -> Result<bool, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(REVOKE_TOKEN)
                .bind(token_hash.as_str())
                .bind(true)
                .bind(false)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n > 0)
    }

    /// Deletes the tokens that expired before `before_ms`; returns how
    /// many. Expired tokens are refused anyway: this only keeps the table
    /// small.
    pub async fn purge_expired_tokens(&self, before_ms: i64) -> Result<u64, StoreError> {
        let n = on_pool!(self, pool => {
            sqlx::query(PURGE_TOKENS)
                .bind(before_ms)
                .execute(pool)
                .await?
                .rows_affected()
        });
        Ok(n)
    }
}

/// The `users` row as both databases return it.
#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    username: String,
    display_name: String,
    role: String,
    password_hash: String,
    disabled: bool,
    created_at_ms: i64,
    updated_at_ms: i64,
}

impl TryFrom<UserRow> for UserRecord {
    type Error = StoreError;

    fn try_from(row: UserRow) -> Result<UserRecord, StoreError> {
        let role = row.role.parse().map_err(|_| StoreError::Corrupt {
            table: "users",
            id: row.id.clone(),
            reason: format!("unknown role {:?}", row.role),
        })?;
        Ok(UserRecord {
            id: row.id,
            username: row.username,
            display_name: row.display_name,
            role,
            password_hash: row.password_hash,
            disabled: row.disabled,
            created_at_ms: row.created_at_ms,
            updated_at_ms: row.updated_at_ms,
        })
    }
}

/// A token row joined with its user's row.
#[derive(sqlx::FromRow)]
struct TokenUserRow {
    token_hash: String,
    user_id: String,
    token_created_at_ms: i64,
    expires_at_ms: i64,
    revoked: bool,
    #[sqlx(flatten)]
    user: UserRow,
}
