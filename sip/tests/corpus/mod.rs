//! Shared by the corpus tests (`torture.rs`, `malformed.rs`, `oracle.rs`):
//! finding `../shared/sip-torture/`, reading expectation files, and
//! checking one message against its expectation.

#![allow(dead_code)] // each test binary uses a different part

use std::path::{Path, PathBuf};

use hibiki_sip::parse::parse_message;
use hibiki_sip::Message;
use serde::Deserialize;

/// The answer a refused message must get.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum Status {
    Code(u16),
    Word(String),
    #[serde(skip)]
    Drop,
}

impl Status {
    /// The parser's `status` field this expectation means.
    pub fn as_option(&self) -> Result<Option<u16>, String> {
        match self {
            Status::Code(c) => Ok(Some(*c)),
            Status::Word(w) if w == "drop" => Ok(None),
            Status::Drop => Ok(None),
            Status::Word(w) => Err(format!("bad status {w:?}: a code or \"drop\"")),
        }
    }
}

/// One entry of an expectations file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    pub file: String,
    #[serde(default)]
    pub rfc: Option<String>,
    pub kind: String,
    pub valid: bool,
    #[serde(default)]
    pub status: Option<Status>,
    #[serde(default)]
    pub layer: Option<String>,
    #[serde(default)]
    pub reason: Option<String>,
    pub why: String,
}

#[derive(Deserialize)]
struct File {
    message: Vec<Expectation>,
}

/// Reads an expectations file relative to `sip/tests/`.
pub fn load_expectations(rel: &str) -> Vec<Expectation> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(rel);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let file: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    for e in &file.message {
        assert!(
            e.kind == "request" || e.kind == "response",
            "{}: kind must be request or response",
            e.file
        );
        assert!(
            e.valid || e.status.is_some(),
            "{}: an invalid message needs a status",
            e.file
        );
        if let Some(layer) = &e.layer {
            assert_eq!(layer, "endpoint", "{}: unknown layer", e.file);
            assert!(
                e.valid,
                "{}: layer = endpoint means the parser accepts it",
                e.file
            );
        }
    }
    file.message
}

/// `../shared/sip-torture/`, found from the crate whether the repository
/// sits beside `shared/` or inside a directory next to it.
pub fn torture_dir() -> PathBuf {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let candidates = [
        manifest.join("../../shared/sip-torture"),
        manifest.join("../shared/sip-torture"),
    ];
    for c in &candidates {
        if c.join("README.md").is_file() || c.join("wsinv.dat").is_file() {
            return c.clone();
        }
    }
    panic!(
        "the SIP torture corpus is missing: looked for {} and {}; \
         it lives in the project's shared/ folder beside the repository",
        candidates[0].display(),
        candidates[1].display()
    );
}

/// Every message file of the corpus, relative paths, sorted (not the
/// README, checksums or dotfiles).
pub fn torture_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).expect("read corpus dir") {
            let path = entry.expect("dir entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with('.') || name == "README.md" || name == "SHA256SUMS" {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).expect("under corpus dir");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    out
}

/// Checks one message's parse against its expectation.
pub fn check(e: &Expectation, bytes: &[u8]) -> Result<(), String> {
    let parsed = parse_message(bytes);
    match (&parsed, e.valid) {
        (Ok(m), true) => {
            let kind = match m {
                Message::Request(_) => "request",
                Message::Response(_) => "response",
            };
            if kind != e.kind {
                return Err(format!("parsed as a {kind}, expected a {}", e.kind));
            }
            Ok(())
        }
        (Err(err), true) => Err(format!(
            "refused ({:?} {}) but should parse",
            err.status, err.reason
        )),
        (Ok(_), false) => Err("parsed but should be refused".into()),
        (Err(err), false) => {
            let want = e
                .status
                .as_ref()
                .map(Status::as_option)
                .transpose()?
                .flatten();
            if err.status != want {
                return Err(format!(
                    "refused with {:?} ({}), expected {want:?}",
                    err.status, err.reason
                ));
            }
            if let Some(reason) = &e.reason {
                if &err.reason != reason {
                    return Err(format!("reason {:?}, expected {reason:?}", err.reason));
                }
            }
            match (want, &err.response) {
                (None, None) => Ok(()),
                (None, Some(_)) => Err("dropped but carries a response".into()),
                (Some(_), None) => Err("answered but carries no response".into()),
                (Some(code), Some(resp)) => check_response(code, resp),
            }
        }
    }
}

/// A refusal's response must itself parse, with the right status, a To
/// tag and one Via per request Via.
fn check_response(code: u16, resp: &[u8]) -> Result<(), String> {
    match parse_message(resp) {
        Ok(Message::Response(r)) => {
            if r.status != code {
                return Err(format!("response status {} != {code}", r.status));
            }
            if hibiki_sip::find_param(&r.headers.to.params, "tag").is_none() {
                return Err("response To has no tag".into());
            }
            if !r.body.is_empty() {
                return Err("response has a body".into());
            }
            Ok(())
        }
        // The copied headers may themselves be the fault (a bad From, a
        // duplicate Call-ID): the response then only has to be framed.
        Err(_) if resp.starts_with(format!("SIP/2.0 {code} ").as_bytes()) => Ok(()),
        other => Err(format!("response does not parse: {other:?}")),
    }
}
