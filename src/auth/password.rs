//! Passwords: Argon2id hashing (RustCrypto's `argon2`, default parameters:
//! 19 MiB, 2 passes, 1 lane), verification, the rules a new password must
//! meet, and generated passwords.
//!
//! Hashing costs tens of milliseconds and 19 MiB on purpose, so it never
//! runs on an async worker thread: [`Hasher`] runs it with
//! `spawn_blocking`, and bounds how many run at once (a burst of logins
//! queues instead of taking one thread and 19 MiB each).
//!
//! Hashes are PHC strings (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`):
//! they carry their parameters, so raising them later leaves old hashes
//! verifiable.

use std::sync::{Arc, OnceLock};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use rand::Rng;
use tokio::sync::Semaphore;

/// The shortest password accepted, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The longest password accepted, in bytes: far beyond any passphrase,
/// short enough that nobody makes us hash megabytes.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// How long generated passwords are (about 94 bits from a 58-symbol set).
pub const GENERATED_PASSWORD_CHARS: usize = 16;

/// Letters and digits without the look-alikes `0 O o 1 l I`, so a
/// password read off a terminal is typed right the first time.
const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";

/// Why a password cannot be set or hashed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the password is too short: at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("the password is too long: at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("the password contains control characters")]
    ControlCharacters,
    #[error("hashing the password failed: {0}")]
    Hash(String),
    #[error("the hashing task failed: {0}")]
    Task(String),
}

/// Checks a new password against the rules: at least
/// [`MIN_PASSWORD_CHARS`] characters, at most [`MAX_PASSWORD_BYTES`]
/// bytes, no control characters (a stray newline from a pipe is a mistake,
/// not a secret).
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(PasswordError::TooLong);
    }
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::TooShort);
    }
    if password.chars().any(char::is_control) {
        return Err(PasswordError::ControlCharacters);
    }
    Ok(())
}

/// A random password of [`GENERATED_PASSWORD_CHARS`] characters from the
/// thread's CSPRNG (ChaCha, seeded by the OS).
pub fn generate_password() -> String {
    let mut rng = rand::rng();
    (0..GENERATED_PASSWORD_CHARS)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

/// Hashes a password with Argon2id and a fresh 16-byte salt. Blocking:
/// call through [`Hasher`] from async code.
pub fn hash_password(password: &str) -> Result<String, PasswordError> {
    let salt_bytes: [u8; 16] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|e| PasswordError::Hash(e.to_string()))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| PasswordError::Hash(e.to_string()))
}

/// True when `password` matches the PHC string `phc`; false when it does
/// not or `phc` is not a hash we can read. Blocking: call through
/// [`Hasher`] from async code. Comparison is constant-time (the crate's).
pub fn verify_password(password: &str, phc: &str) -> bool {
    match PasswordHash::new(phc) {
        Ok(parsed) => Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok(),
        Err(_) => false,
    }
}

/// A hash of a random password nobody knows, made once per process with
/// the same parameters as real hashes. A login for an unknown (or
/// unusable) user is verified against it, so it costs what a real one
/// costs and the answer's timing does not tell which usernames exist.
pub fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        // A fixed, valid Argon2id PHC string is the fallback should hashing
        // ever fail; it verifies nothing but costs the same.
        hash_password(&generate_password()).unwrap_or_else(|_| {
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$\
             kOVL8fI4P5W8Gk8OsAL5lQ0zWmRUHPAv6cTeRUOGLfQ"
                .to_owned()
        })
    })
}

/// Runs hashing and verification off the async threads, at most
/// `parallelism` at a time. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Hasher {
    permits: Arc<Semaphore>,
}

impl Hasher {
    /// A hasher running at most `parallelism` (at least 1) hashes at once.
    pub fn new(parallelism: usize) -> Hasher {
        Hasher {
            permits: Arc::new(Semaphore::new(parallelism.max(1))),
        }
    }

    /// One hash at a time per CPU core.
    pub fn per_core() -> Hasher {
        Hasher::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
    }

    /// [`hash_password`] on a blocking thread.
    pub async fn hash(&self, password: String) -> Result<String, PasswordError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| PasswordError::Task(e.to_string()))?;
        tokio::task::spawn_blocking(move || hash_password(&password))
            .await
            .map_err(|e| PasswordError::Task(e.to_string()))?
    }

    /// [`verify_password`] on a blocking thread; `None` for the
    /// [`dummy_hash`] (always false, same cost). A failed task is false.
    pub async fn verify(&self, password: String, phc: Option<String>) -> bool {
        let Ok(_permit) = self.permits.acquire().await else {
            return false;
        };
        tokio::task::spawn_blocking(move || {
            let real = phc.is_some();
            let phc = phc.unwrap_or_else(|| dummy_hash().to_owned());
            verify_password(&password, &phc) && real
        })
        .await
        .unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let phc = hash_password("correct horse").unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
        assert!(verify_password("correct horse", &phc));
        assert!(!verify_password("correct horsE", &phc));
        assert!(!verify_password("", &phc));
        // Salted: the same password hashes differently each time.
        assert_ne!(phc, hash_password("correct horse").unwrap());
    }

    #[test]
    fn unreadable_hashes_verify_nothing() {
        for bad in ["", "plain", "$argon2id$", "$md5$abc"] {
            assert!(!verify_password("anything", bad), "{bad}");
        }
    }

    #[test]
    fn the_dummy_hash_is_a_real_argon2id_hash() {
        let dummy = dummy_hash();
        assert!(
            dummy.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{dummy}"
        );
        assert!(PasswordHash::new(dummy).is_ok());
    }

    #[test]
    fn new_password_rules() {
        assert!(matches!(
            check_new_password("1234567"),
            Err(PasswordError::TooShort)
        ));
        check_new_password("12345678").unwrap();
        // Characters, not bytes: eight non-ASCII letters are enough.
        check_new_password("éééééééé").unwrap();
        assert!(matches!(
            check_new_password("password\n"),
            Err(PasswordError::ControlCharacters)
        ));
        assert!(matches!(
            check_new_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)),
            Err(PasswordError::TooLong)
        ));
    }

    #[test]
    fn generated_passwords_follow_the_rules_and_differ() {
        let a = generate_password();
        let b = generate_password();
        assert_eq!(a.chars().count(), GENERATED_PASSWORD_CHARS);
        assert!(a.bytes().all(|c| ALPHABET.contains(&c)), "{a}");
        check_new_password(&a).unwrap();
        assert_ne!(a, b);
    }

    #[tokio::test]
    async fn the_hasher_verifies_off_thread_and_the_dummy_never_matches() {
        let hasher = Hasher::new(1);
        let phc = hasher.hash("s3cret-pass".into()).await.unwrap();
        assert!(hasher.verify("s3cret-pass".into(), Some(phc.clone())).await);
        assert!(!hasher.verify("wrong-pass".into(), Some(phc)).await);
        assert!(!hasher.verify("s3cret-pass".into(), None).await);
    }
}
