//! API tokens: 32 random bytes, base64url without padding (43
//! characters), handed to the client once at login. The database keeps
//! only [`TokenHash`], the SHA-256 of the token text, so a leaked copy of
//! the database (a backup, a replica) holds nothing that opens the API.
//! SHA-256 without a salt or a slow hash is enough here: unlike a
//! password, a token has 256 bits of entropy, so there is nothing to
//! guess.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

/// How many random bytes a token carries.
pub const TOKEN_BYTES: usize = 32;

/// A bearer token as issued. `Debug` does not show it; take it out with
/// [`Token::expose`] only to hand it to the client.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl Token {
    /// A fresh token from the thread's CSPRNG (ChaCha, seeded by the OS).
    pub fn generate() -> Token {
        let bytes: [u8; TOKEN_BYTES] = rand::random();
        Token(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The token text, for the login answer.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// What the database stores for it.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

/// The lower-case hex SHA-256 of a token's text: the `auth_tokens` key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TokenHash(String);

impl TokenHash {
    /// The hash of a presented token (whatever its shape: a malformed
    /// token simply matches no row).
    pub fn of(presented: &str) -> TokenHash {
        TokenHash(hex::encode(Sha256::digest(presented.as_bytes())))
    }

    /// A hash read back from the database.
    pub fn from_stored(hex: String) -> TokenHash {
        TokenHash(hex)
    }

    /// The stored text (64 hex digits).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TokenHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_43_base64url_characters_of_32_random_bytes() {
        let t = Token::generate();
        let text = t.expose();
        assert_eq!(text.len(), 43, "{text}");
        assert!(
            text.bytes()
                .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'),
            "{text}"
        );
        assert_eq!(URL_SAFE_NO_PAD.decode(text).unwrap().len(), TOKEN_BYTES);
        assert_ne!(t, Token::generate());
    }

    #[test]
    fn the_hash_is_the_sha256_hex_of_the_text() {
        // SHA-256("abc"), FIPS 180-2 appendix B.1.
        assert_eq!(
            TokenHash::of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let t = Token::generate();
        assert_eq!(t.hash(), TokenHash::of(t.expose()));
        assert_eq!(t.hash().as_str().len(), 64);
        assert_ne!(t.hash().as_str(), t.expose());
    }

    #[test]
    fn debug_never_shows_the_token() {
        let t = Token::generate();
        let shown = format!("{t:?}");
        assert!(!shown.contains(t.expose()), "{shown}");
    }
}
