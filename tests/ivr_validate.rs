//! `hibiki ivr validate` and `hibiki ivr schema`, run as the real binary:
//! the shipped demo flow validates; every file in `tests/ivr-broken/` is
//! refused with its own message, file and line; the committed JSON Schema
//! is the one the code generates.

use std::path::Path;
use std::process::{Command, Output};

/// Broken file → the exact error line it must print. Every file in
/// `tests/ivr-broken/` must have an entry (and every entry a file).
const EXPECTED: &[(&str, &str)] = &[
    ("bad-date.toml", "9: key `schedules.office.holidays[1]`: no such date `2027-02-30`"),
    ("bad-expression.toml", "8: step `check`: bad expression `dialled == (`: Found an unmatched opening parenthesis '('."),
    ("bad-option-key.toml", "7: step `menu`: option \"12\" is not a key (0-9, *, #, A-D)"),
    ("bad-pattern.toml", "9: step `account`: bad pattern `[0-9{8}`: regex parse error: ^(?:[0-9{8})$ ^ error: unclosed character class"),
    ("bad-say-item.toml", "8: step `hello`: unknown variant `digit`, expected one of `digits`, `number`, `amount`, `time`, `date`, `prompt`"),
    ("bad-start.toml", "2: start step `greeting` does not exist"),
    ("bad-time-range.toml", "9: key `schedules.office.weekly.tue[0]`: bad time range `9-18` (expected HH:MM-HH:MM, like 09:00-18:00)"),
    ("bad-time-zone.toml", "8: key `schedules.office.time_zone`: unknown time zone `Asia/Tokio` (expected an IANA name like Asia/Tokyo)"),
    ("input-free-loop.toml", "9: steps `check` → `count` → `check` loop without waiting for the caller (a loop needs a menu, gather, queue or voicemail)"),
    ("min-above-max.toml", "7: step `account`: min_digits 9 is above max_digits 8"),
    ("missing-prompt.toml", "6: step `hello`: missing prompt `no-such-prompt` (no ivr-flows/prompts/en/no-such-prompt.wav)"),
    ("name-mismatch.toml", "2: flow name `other` must match the file name `name-mismatch.toml`"),
    ("range-crosses-midnight.toml", "9: key `schedules.night.weekly.fri[0]`: time range `22:00-06:00` ends before it starts (ranges may not cross midnight: split it at 24:00)"),
    ("say-number.toml", "7: step `hello`: say = \"amount\" has no prompt set for language `de` (sets: en, ja)"),
    ("toml-syntax.toml", "5: invalid basic string, expected `\"`"),
    ("unknown-flow.toml", "6: step `sub`: unknown flow `no-such-flow`"),
    ("unknown-key.toml", "7: step `hello`: unknown field `nxet`, expected `prompts` or `next`"),
    ("unknown-schedule.toml", "6: step `hours`: unknown schedule `ofice` (no [schedules.ofice])"),
    ("unknown-variable.toml", "14: step `check`: `cases[0].when` reads unknown variable `acount` (not set by any step, not caller, dialled or one of [flow] inputs)"),
    ("unknown-step-type.toml", "5: step `hello`: unknown variant `speak`, expected one of `play`, `menu`, `gather`, `set`, `branch`, `hours`, `lookup`, `queue`, `voicemail`, `transfer`, `goto`, `return`, `hangup`"),
    ("unknown-step.toml", "7: step `menu`: option \"2\" goes to unknown step `biling`"),
    ("unreachable.toml", "7: step `orphan` is not reachable from start `bye`"),
    ("zero-timeout.toml", "8: step `menu`: `timeout_seconds` must be above 0"),
];

fn hibiki(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hibiki"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env_remove("HIBIKI_CONFIG")
        .output()
        .expect("run hibiki")
}

#[test]
fn demo_flow_validates() {
    for args in [
        &["ivr", "validate"][..],
        &["ivr", "validate", "ivr-flows/demo.toml"],
    ] {
        let out = hibiki(args);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.lines().any(|l| l == "OK ivr-flows/demo.toml"),
            "{stdout}"
        );
    }
}

#[test]
fn every_broken_flow_has_its_message_file_and_line() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ivr-broken");
    let mut files: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut expected: Vec<&str> = EXPECTED.iter().map(|(f, _)| *f).collect();
    expected.sort();
    assert_eq!(
        files, expected,
        "tests/ivr-broken/ and EXPECTED must list the same files"
    );
    for (file, message) in EXPECTED {
        let path = format!("tests/ivr-broken/{file}");
        let out = hibiki(&[
            "ivr",
            "validate",
            "--prompts-dir",
            "ivr-flows/prompts",
            &path,
        ]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{file} passed validation");
        assert_eq!(out.stdout, b"", "{file}");
        assert_eq!(stderr, format!("error: {path}:{message}\n"), "{file}");
    }
}

#[test]
fn one_bad_file_fails_the_run_and_the_good_one_still_reports_ok() {
    let out = hibiki(&[
        "ivr",
        "validate",
        "--prompts-dir",
        "ivr-flows/prompts",
        "ivr-flows/demo.toml",
        "tests/ivr-broken/unreachable.toml",
    ]);
    assert!(!out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "OK ivr-flows/demo.toml\n"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("unreachable.toml:7:"));
}

#[test]
fn a_missing_file_is_an_error() {
    let out = hibiki(&["ivr", "validate", "tests/ivr-broken/no-such-file.toml"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("error: tests/ivr-broken/no-such-file.toml: cannot read:"),
        "{stderr}"
    );
}

#[test]
fn committed_schema_is_the_generated_one() {
    let out = hibiki(&["ivr", "schema"]);
    assert!(out.status.success());
    let committed =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/ivr.schema.json"))
            .unwrap();
    assert!(
        String::from_utf8_lossy(&out.stdout) == committed,
        "docs/ivr.schema.json is stale: run `cargo run -- ivr schema > docs/ivr.schema.json`"
    );
}
