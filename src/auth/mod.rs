//! Who may use the API: users with a [`Role`], Argon2id passwords, and
//! expiring bearer tokens.
//!
//! This module owns the rules, free of HTTP: what a username and a
//! password must be ([`accounts`]), how passwords are hashed and checked
//! ([`password`]), how tokens are made and stored ([`token`]: only a
//! SHA-256 of each token reaches the database), the brake on password
//! guessing ([`lockout`]), and the login and per-request check
//! ([`Authenticator`]). The rows live in `crate::store` (`users`,
//! `auth_tokens`); the HTTP side (the `Caller` extractor, the
//! `/api/v1/auth/*` and `/api/v1/users` endpoints) is `crate::api`; the
//! `hibiki user` commands are in `main.rs`.
//!
//! The product rule it serves: every API endpoint and websocket requires
//! a token and names the roles it admits. `docs/api.md` is the client's
//! view of it.

pub mod accounts;
pub mod lockout;
pub mod password;
mod role;
mod session;
pub mod token;

pub use accounts::{
    change_password, check_display_name, check_username, create_account, seed_demo_users,
    AccountError, DemoUser, NewAccount,
};
pub use password::{Hasher, PasswordError};
pub use role::{Role, UnknownRole};
pub use session::{AuthError, Authenticator, LoginError, Session, TokenRefused};
pub use token::{Token, TokenHash};
