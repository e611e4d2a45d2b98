//! Creating and changing accounts, the same rules for the API, the CLI
//! and the demo users: what a username may be, what a password must be,
//! hashing off the async threads, and the demo users of the embedded
//! default.

use std::fmt::Write as _;

use super::password::{check_new_password, generate_password, Hasher, PasswordError};
use super::Role;
use crate::store::{now_ms, AgentSkill, Store, StoreError, UserRecord};

/// The longest username, in bytes.
pub const MAX_USERNAME_BYTES: usize = 64;
/// The longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 128;

/// Why an account cannot be created or changed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error(
        "invalid username {0:?}: use 1 to {MAX_USERNAME_BYTES} lower-case letters a-z, digits \
         and . _ - @, starting with a letter or a digit"
    )]
    InvalidUsername(String),
    #[error("invalid display name: {0}")]
    InvalidDisplayName(&'static str),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("the username {0:?} is taken")]
    UsernameTaken(String),
    #[error("no user {0:?}")]
    NoSuchUser(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> AccountError {
        AccountError::Store(e)
    }
}

impl AccountError {
    /// True when the input was refused (as opposed to the database or the
    /// hashing task failing): the API answers 4xx for these.
    pub fn is_bad_input(&self) -> bool {
        match self {
            AccountError::InvalidUsername(_)
            | AccountError::InvalidDisplayName(_)
            | AccountError::UsernameTaken(_)
            | AccountError::NoSuchUser(_) => true,
            AccountError::Password(e) => {
                !matches!(e, PasswordError::Hash(_) | PasswordError::Task(_))
            }
            AccountError::Store(_) => false,
        }
    }
}

/// A username is 1 to [`MAX_USERNAME_BYTES`] characters of `a-z 0-9 . _ -
/// @`, starting with a letter or a digit. Lower case only, so `Alice` and
/// `alice` can never be two accounts (logins lower-case what is typed).
pub fn check_username(username: &str) -> Result<(), AccountError> {
    let ok = !username.is_empty()
        && username.len() <= MAX_USERNAME_BYTES
        && username
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || b"._-@".contains(&c))
        && username
            .bytes()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric());
    if ok {
        Ok(())
    } else {
        Err(AccountError::InvalidUsername(username.to_owned()))
    }
}

/// A display name: not blank, at most [`MAX_DISPLAY_NAME_CHARS`]
/// characters, no control characters. Returned trimmed.
pub fn check_display_name(name: &str) -> Result<String, AccountError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AccountError::InvalidDisplayName("must not be empty"));
    }
    if name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        return Err(AccountError::InvalidDisplayName(
            "too long: at most 128 characters",
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AccountError::InvalidDisplayName(
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// What it takes to create an account.
#[derive(Clone)]
pub struct NewAccount {
    pub username: String,
    /// `None`: the username.
    pub display_name: Option<String>,
    pub role: Role,
    pub password: String,
}

/// Checks a new account, hashes its password (on a blocking thread) and
/// stores it. A taken username is [`AccountError::UsernameTaken`].
pub async fn create_account(
    store: &Store,
    hasher: &Hasher,
    account: NewAccount,
) -> Result<UserRecord, AccountError> {
    check_username(&account.username)?;
    let display_name =
        check_display_name(account.display_name.as_deref().unwrap_or(&account.username))?;
    check_new_password(&account.password)?;
    let password_hash = hasher.hash(account.password).await?;
    let now = now_ms();
    let user = UserRecord {
        id: uuid::Uuid::new_v4().to_string(),
        username: account.username,
        display_name,
        role: account.role,
        password_hash,
        disabled: false,
        created_at_ms: now,
        updated_at_ms: now,
    };
    match store.create_user(&user).await {
        Ok(()) => Ok(user),
        Err(StoreError::Conflict { .. }) => Err(AccountError::UsernameTaken(user.username)),
        Err(e) => Err(e.into()),
    }
}

/// Sets a user's password (checked, hashed) and logs them out everywhere.
pub async fn change_password(
    store: &Store,
    hasher: &Hasher,
    username: &str,
    password: String,
) -> Result<(), AccountError> {
    check_new_password(&password)?;
    if store.user_by_username(username).await?.is_none() {
        return Err(AccountError::NoSuchUser(username.to_owned()));
    }
    let hash = hasher.hash(password).await?;
    if store.set_password_hash(username, &hash, now_ms()).await? {
        Ok(())
    } else {
        Err(AccountError::NoSuchUser(username.to_owned()))
    }
}

/// The demo accounts of the embedded default: username, display name,
/// role.
pub const DEMO_USERS: [(&str, &str, Role); 5] = [
    ("admin", "Administrator", Role::Admin),
    ("supervisor", "Supervisor", Role::Supervisor),
    ("manager", "Manager", Role::Manager),
    ("agent1", "Agent One", Role::Agent),
    ("agent2", "Agent Two", Role::Agent),
];

/// The skills of the demo agents (username, then skill and level): what
/// the demo queues route on. The supervisor has none.
pub const DEMO_AGENT_SKILLS: [(&str, &[(&str, u8)]); 2] = [
    ("agent1", &[("support", 5), ("billing", 3), ("operator", 1)]),
    ("agent2", &[("support", 2), ("operator", 3)]),
];

/// A demo account as created, with the password to show once.
#[derive(Clone)]
pub struct DemoUser {
    pub username: String,
    pub role: Role,
    pub password: String,
}

/// When no user exists, creates [`DEMO_USERS`] with generated passwords,
/// gives the demo agents their [`DEMO_AGENT_SKILLS`], and returns the
/// users (to print once); when any user exists, does nothing and returns
/// an empty list. A username taken meanwhile (another process seeding at
/// the same moment) is skipped.
pub async fn seed_demo_users(
    store: &Store,
    hasher: &Hasher,
) -> Result<Vec<DemoUser>, AccountError> {
    if store.count_users().await? > 0 {
        return Ok(Vec::new());
    }
    let mut created = Vec::new();
    for (username, display_name, role) in DEMO_USERS {
        let password = generate_password();
        let account = NewAccount {
            username: username.to_owned(),
            display_name: Some(display_name.to_owned()),
            role,
            password: password.clone(),
        };
        match create_account(store, hasher, account).await {
            Ok(_) => created.push(DemoUser {
                username: username.to_owned(),
                role,
                password,
            }),
            Err(AccountError::UsernameTaken(_)) => {}
            Err(e) => return Err(e),
        }
    }
    for (username, skills) in DEMO_AGENT_SKILLS {
        if !created.iter().any(|u| u.username == username) {
            continue;
        }
        let skills: Vec<AgentSkill> = skills
            .iter()
            .map(|(skill, level)| AgentSkill {
                skill: (*skill).to_owned(),
                level: *level,
            })
            .collect();
        store.set_agent_skills(username, &skills, now_ms()).await?;
    }
    Ok(created)
}

/// The boxed block that shows the demo users' passwords, once.
pub fn demo_users_banner(users: &[DemoUser]) -> String {
    let mut lines = vec![
        "Hibiki demo users (embedded default, first start)".to_owned(),
        "These passwords are shown only now. Reset one with:".to_owned(),
        "  hibiki user passwd USERNAME".to_owned(),
        String::new(),
    ];
    for u in users {
        lines.push(format!(
            "{:<12} {:<11} {}",
            u.username,
            u.role.as_str(),
            u.password
        ));
    }
    let width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(out, "+{}+", "-".repeat(width + 2));
    for line in &lines {
        let pad = width - line.chars().count();
        let _ = writeln!(out, "| {line}{} |", " ".repeat(pad));
    }
    let _ = writeln!(out, "+{}+", "-".repeat(width + 2));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames() {
        for ok in ["a", "agent1", "jane.doe", "j_d-1", "ops@acme.example", "7"] {
            check_username(ok).unwrap();
        }
        let long = "a".repeat(MAX_USERNAME_BYTES + 1);
        for bad in [
            "",
            "Alice",
            " alice",
            "alice ",
            ".alice",
            "-a",
            "a b",
            "a/b",
            "é",
            long.as_str(),
        ] {
            let err = check_username(bad).unwrap_err();
            assert!(matches!(err, AccountError::InvalidUsername(_)), "{bad}");
            assert!(err.is_bad_input());
        }
        check_username(&"a".repeat(MAX_USERNAME_BYTES)).unwrap();
    }

    #[test]
    fn display_names() {
        assert_eq!(check_display_name("  Jane Doe ").unwrap(), "Jane Doe");
        assert!(check_display_name("   ").is_err());
        assert!(check_display_name("a\tb").is_err());
        assert!(check_display_name(&"x".repeat(129)).is_err());
        check_display_name(&"x".repeat(128)).unwrap();
    }

    #[test]
    fn the_banner_lists_every_user_inside_a_box() {
        let users = vec![
            DemoUser {
                username: "admin".into(),
                role: Role::Admin,
                password: "pw-one".into(),
            },
            DemoUser {
                username: "agent1".into(),
                role: Role::Agent,
                password: "pw-two".into(),
            },
        ];
        let banner = demo_users_banner(&users);
        let lines: Vec<&str> = banner.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width), "{banner}");
        assert!(lines[0].starts_with("+-") && lines[lines.len() - 1].starts_with("+-"));
        assert!(
            banner.contains("admin        admin       pw-one"),
            "{banner}"
        );
        assert!(
            banner.contains("agent1       agent       pw-two"),
            "{banner}"
        );
        assert!(banner.contains("hibiki user passwd"), "{banner}");
    }
}
