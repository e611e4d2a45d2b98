//! Hibiki's own corpus of malformed messages (`sip/tests/malformed/`, one
//! file per fault) checked at the parse level against
//! `malformed/expectations.toml`: status, exact reason, and a response that
//! is itself a well-formed SIP response. Every prefix of every file must
//! also be refused or parsed without a panic, as a datagram and as a
//! stream.

mod corpus;

use std::path::Path;

use hibiki_sip::parse::{frame, parse_message, Framed};

use corpus::load_expectations;

fn dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/malformed")
}

fn corpus_files() -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".sip"))
        .collect();
    files.sort();
    files
}

#[test]
fn corpus_is_complete() {
    let files = corpus_files();
    let exp = load_expectations("malformed/expectations.toml");
    assert!(files.len() >= 30, "only {} malformed messages", files.len());
    for f in &files {
        assert!(exp.iter().any(|e| &e.file == f), "{f} has no expectation");
    }
    for e in &exp {
        assert!(files.contains(&e.file), "{} listed but missing", e.file);
    }
}

#[test]
fn malformed_messages_get_their_expected_answer() {
    let mut failures = Vec::new();
    for e in load_expectations("malformed/expectations.toml") {
        let bytes = std::fs::read(dir().join(&e.file)).unwrap();
        if let Err(why) = corpus::check(&e, &bytes) {
            failures.push(format!("{}: {why}", e.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_prefix_is_handled_without_panic() {
    for f in corpus_files() {
        let bytes = std::fs::read(dir().join(&f)).unwrap();
        if bytes.len() > 8 * 1024 {
            continue; // the oversized message: its prefixes are all alike
        }
        for cut in 0..=bytes.len() {
            let prefix = &bytes[..cut];
            let _ = parse_message(prefix);
            match frame(prefix) {
                Ok(Framed::Message { len }) | Ok(Framed::KeepAlive { len }) => {
                    assert!(len > 0 && len <= cut, "{f}@{cut}: frame len {len}")
                }
                Ok(Framed::Incomplete) | Err(_) => {}
            }
        }
    }
}
