//! Every message of `../shared/sip-torture/` (RFC 4475, RFC 5118 raw and
//! wire forms, derived variants) through the parser, checked against
//! `torture-expectations.toml` (its header documents the format).
//!
//! For each file: valid ones parse to the right kind and survive a
//! write/parse round trip; refused ones carry the expected status (or none:
//! drop) and, when answered, a response that parses and echoes the Call-ID.
//! The same bytes framed as a stream must frame to the same message.

mod corpus;

use hibiki_sip::parse::{frame, parse_message, Framed};
use hibiki_sip::write::write_message;
use hibiki_sip::Message;

use corpus::{load_expectations, torture_dir, torture_files};

#[test]
fn every_torture_file_has_an_expectation_and_vice_versa() {
    let dir = torture_dir();
    let files = torture_files(&dir);
    let exp = load_expectations("torture-expectations.toml");
    let listed: Vec<&str> = exp.iter().map(|e| e.file.as_str()).collect();
    let missing: Vec<&String> = files
        .iter()
        .filter(|f| !listed.contains(&f.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "files without an expectation: {missing:?}"
    );
    let stale: Vec<&&str> = listed
        .iter()
        .filter(|l| !files.iter().any(|f| f == *l))
        .collect();
    assert!(stale.is_empty(), "expectations without a file: {stale:?}");
    assert!(files.len() >= 75, "corpus shrank: {} files", files.len());
}

#[test]
fn torture_messages_get_their_expected_outcome() {
    let dir = torture_dir();
    let mut failures = Vec::new();
    for e in load_expectations("torture-expectations.toml") {
        let bytes = std::fs::read(dir.join(&e.file)).expect("read torture file");
        if let Err(why) = corpus::check(&e, &bytes) {
            failures.push(format!("{}: {why}", e.file));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn valid_torture_messages_round_trip() {
    let dir = torture_dir();
    for e in load_expectations("torture-expectations.toml") {
        if !e.valid {
            continue;
        }
        let bytes = std::fs::read(dir.join(&e.file)).unwrap();
        let m = parse_message(&bytes).unwrap();
        let written = write_message(&m);
        let again = parse_message(&written)
            .unwrap_or_else(|err| panic!("{}: rewritten form refused: {err}", e.file));
        assert_eq!(m, again, "{}: round trip changed the message", e.file);
    }
}

#[test]
fn wire_forms_frame_like_datagrams() {
    // Over a stream, the wire-legal messages that carry a Content-Length
    // must frame to exactly one message that parses like the datagram.
    let dir = torture_dir();
    for e in load_expectations("torture-expectations.toml") {
        if !e.valid || !(e.file.ends_with(".wire") || e.file == "wsinv.dat") {
            continue;
        }
        let bytes = std::fs::read(dir.join(&e.file)).unwrap();
        let Ok(Framed::Message { len }) = frame(&bytes) else {
            panic!("{}: did not frame: {:?}", e.file, frame(&bytes));
        };
        assert_eq!(len, bytes.len(), "{}", e.file);
        assert_eq!(
            parse_message(&bytes[..len]),
            parse_message(&bytes),
            "{}",
            e.file
        );
    }
    // dblreq: over a stream the two requests frame one at a time, with the
    // CRLF between them a keep-alive.
    let bytes = std::fs::read(dir.join("dblreq.dat")).unwrap();
    let Ok(Framed::Message { len }) = frame(&bytes) else {
        panic!("dblreq")
    };
    let Ok(Message::Request(first)) = parse_message(&bytes[..len]) else {
        panic!()
    };
    assert_eq!(first.method.as_str(), "REGISTER");
    let rest = &bytes[len..];
    assert_eq!(frame(rest), Ok(Framed::KeepAlive { len: 2 }));
    let Ok(Framed::Message { len: second_len }) = frame(&rest[2..]) else {
        panic!()
    };
    assert!(second_len <= rest.len() - 2);
    let Ok(Message::Request(second)) = parse_message(&rest[2..]) else {
        panic!()
    };
    assert_eq!(second.method.as_str(), "INVITE");
}
