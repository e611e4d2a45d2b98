//! `hibiki ivr simulate` on the shipped demo flow, run as the real
//! binary: in hours, after hours, on a holiday; a known and an unknown
//! caller; invalid input twice → the fallback; a voicemail; and how the
//! command refuses a bad script. The `--json` report is what is checked:
//! the steps taken, what was played, how the call ended.

use std::process::{Command, Output};

use serde_json::Value;

fn hibiki(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_hibiki"))
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run hibiki")
}

/// Simulates the demo flow with `args` added; the JSON report.
fn demo(args: &[&str]) -> Value {
    let mut all = vec!["ivr", "simulate", "demo", "--json"];
    all.extend_from_slice(args);
    let out = hibiki(&all);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{all:?}: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

fn steps(report: &Value) -> Vec<String> {
    report["path"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["step"].as_str().unwrap().to_owned())
        .collect()
}

fn outcome(report: &Value, step: &str) -> String {
    report["path"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["step"] == step)
        .unwrap_or_else(|| panic!("no step {step} in {report}"))["outcome"]
        .as_str()
        .unwrap()
        .to_owned()
}

fn played(report: &Value) -> Vec<String> {
    report["played"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

/// A Monday morning in Tokyo.
const OPEN: &str = "2026-11-23T10:00+09:00";
const UNKNOWN: &str = "lookup_caller=not_found";
const HANAKO: &str =
    r#"lookup_caller={"id":"c1","name":"Hanako Yamada","name_prompt":"customer-hanako-yamada"}"#;

#[test]
fn in_hours_an_unknown_caller_picks_support() {
    let r = demo(&[
        "--from",
        "+819099999999",
        "--at",
        OPEN,
        "--result",
        UNKNOWN,
        "--digits",
        "1",
    ]);
    assert_eq!(
        steps(&r),
        [
            "lookup_caller",
            "greeting",
            "hours",
            "main_menu",
            "support",
            "agents_busy",
            "callback",
            "thanks",
            "bye"
        ],
        "{r}"
    );
    assert_eq!(outcome(&r, "lookup_caller"), "not found");
    assert!(
        outcome(&r, "hours").starts_with("open at 2026-11-23T01:00:0"),
        "{r}"
    );
    assert_eq!(outcome(&r, "main_menu"), "key 1");
    assert!(outcome(&r, "support").starts_with("left the queue"), "{r}");
    assert_eq!(
        played(&r)[..2],
        ["en/demo-welcome".to_owned(), "en/main-menu".to_owned()]
    );
    assert_eq!(r["ending"]["ended"], "hung_up");
}

#[test]
fn a_known_caller_is_greeted_by_name() {
    let r = demo(&[
        "--from",
        "+81312345678",
        "--at",
        OPEN,
        "--result",
        HANAKO,
        "--digits",
        "2",
    ]);
    assert_eq!(
        steps(&r)[..5],
        [
            "lookup_caller",
            "greet_customer",
            "hours",
            "main_menu",
            "billing"
        ]
    );
    assert_eq!(
        played(&r)[..4],
        [
            "en/hello".to_owned(),
            "en/customer-hanako-yamada".to_owned(),
            "en/welcome-back".to_owned(),
            "en/main-menu".to_owned()
        ]
    );
    assert_eq!(r["vars"]["customer_name"], "Hanako Yamada");
}

#[test]
fn after_hours_and_on_a_holiday_the_menu_is_skipped() {
    let evening = demo(&[
        "--from",
        "+819099999999",
        "--at",
        "2026-11-23T19:30+09:00",
        "--result",
        UNKNOWN,
    ]);
    assert_eq!(
        steps(&evening)[..4],
        ["lookup_caller", "greeting", "hours", "after_hours"]
    );
    assert!(outcome(&evening, "hours").starts_with("closed"));
    assert!(played(&evening).contains(&"en/after-hours".to_owned()));

    let new_year = demo(&[
        "--from",
        "+819099999999",
        "--at",
        "2027-01-01T10:00+09:00",
        "--result",
        UNKNOWN,
    ]);
    assert_eq!(
        steps(&new_year)[..4],
        ["lookup_caller", "greeting", "hours", "holiday"]
    );
    assert!(outcome(&new_year, "hours").starts_with("holiday"));

    // A special day: open in the morning only.
    let morning = demo(&[
        "--from",
        "+819099999999",
        "--at",
        "2026-12-30T11:00+09:00",
        "--result",
        UNKNOWN,
        "--digits",
        "3",
    ]);
    assert!(outcome(&morning, "hours").starts_with("open"));
    let afternoon = demo(&[
        "--from",
        "+819099999999",
        "--at",
        "2026-12-30T13:00+09:00",
        "--result",
        UNKNOWN,
    ]);
    assert!(outcome(&afternoon, "hours").starts_with("closed"));
}

#[test]
fn invalid_input_twice_takes_the_fallback() {
    let r = demo(&[
        "--from",
        "+819099999999",
        "--at",
        OPEN,
        "--result",
        UNKNOWN,
        "--digits",
        "7,9",
    ]);
    assert_eq!(
        outcome(&r, "main_menu"),
        "fallback after invalid key 7, invalid key 9"
    );
    assert_eq!(steps(&r)[4], "operator");
    let heard = played(&r);
    assert_eq!(
        heard[1..4],
        [
            "en/main-menu".to_owned(),
            "en/invalid".to_owned(),
            "en/main-menu".to_owned()
        ]
    );

    // Silence twice does the same, with the no-input prompt.
    let r = demo(&[
        "--from",
        "+819099999999",
        "--at",
        OPEN,
        "--result",
        UNKNOWN,
        "--digits",
        "_,_",
    ]);
    assert_eq!(
        outcome(&r, "main_menu"),
        "fallback after no input, no input"
    );
    assert!(played(&r).contains(&"en/no-input".to_owned()));
}

#[test]
fn a_callback_request_records_a_message() {
    // 3: leave a callback request; `#` ends the message.
    let r = demo(&[
        "--from",
        "+819099999999",
        "--at",
        OPEN,
        "--result",
        UNKNOWN,
        "--digits",
        "3,#",
    ]);
    assert_eq!(steps(&r)[4..], ["callback", "thanks", "bye"]);
    assert!(outcome(&r, "callback").starts_with("recorded"), "{r}");
    assert!(played(&r).contains(&"en/beep".to_owned()));
    let events: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    assert!(
        events.contains(&"record a message (at most 120 s)"),
        "{events:?}"
    );
    assert!(events.contains(&"message saved"));
}

#[test]
fn the_text_report_and_bad_scripts() {
    let out = hibiki(&[
        "ivr",
        "simulate",
        "demo",
        "--from",
        "+819099999999",
        "--at",
        OPEN,
        "--result",
        UNKNOWN,
        "--digits",
        "1",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.starts_with("flow demo: call from +819099999999 to 100 at 2026-11-23T01:00:00+00:00"),
        "{text}"
    );
    assert!(
        text.contains("demo:main_menu (menu) key 1 → support"),
        "{text}"
    );
    assert!(text.contains("play en/main-menu"), "{text}");

    let bad_time = hibiki(&["ivr", "simulate", "demo", "--from", "1", "--at", "tomorrow"]);
    assert_eq!(bad_time.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_time.stderr).contains("--at `tomorrow`"));

    let bad_result = hibiki(&[
        "ivr",
        "simulate",
        "demo",
        "--from",
        "1",
        "--result",
        "lookup_caller",
    ]);
    assert_eq!(bad_result.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad_result.stderr).contains("expected STEP=OUTCOME"));

    let no_flow = hibiki(&["ivr", "simulate", "nope", "--from", "1"]);
    assert_eq!(no_flow.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&no_flow.stderr).contains("no flow `nope` in ivr-flows"));
}
