//! [`ConfigError`]: every refusal names where (file and line, or the
//! environment variable), which key, and why.

use std::fmt;
use std::path::PathBuf;

/// Where a bad value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// The config file; `line` is 1-based, when known.
    File { path: PathBuf, line: Option<usize> },
    /// An environment variable.
    Env { var: String },
    /// A default (or a value set in code): no location.
    Unknown,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::File {
                path,
                line: Some(line),
            } => write!(f, "{}:{line}", path.display()),
            Location::File { path, line: None } => write!(f, "{}", path.display()),
            Location::Env { var } => write!(f, "environment variable {var}"),
            Location::Unknown => f.write_str("configuration"),
        }
    }
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A value is malformed, unknown or inconsistent.
    #[error("{at}: {}{reason}", key.as_ref().map(|k| format!("key `{k}`: ")).unwrap_or_default())]
    Invalid {
        /// The key path (`sip.listen`, `trunks[0].inbound.sources[1]`),
        /// when the fault is in one key.
        key: Option<String>,
        at: Location,
        reason: String,
    },
}

impl ConfigError {
    /// The key at fault, if any.
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => key.as_deref(),
            ConfigError::Read { .. } => None,
        }
    }

    /// The 1-based line in the file, when the file is at fault.
    pub fn line(&self) -> Option<usize> {
        match self {
            ConfigError::Invalid {
                at: Location::File { line, .. },
                ..
            } => *line,
            _ => None,
        }
    }
}
