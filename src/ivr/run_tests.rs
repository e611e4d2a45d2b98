//! Interpreter tests: small flows held in strings, driven with a fake
//! clock and scripted input; every step type and its error paths.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::expr::Value;
use super::run::{Action, Ending, Input, LookupRequest, LookupResult, Millis, Session};
use super::{load_text, Context, Flow};

fn context(known: &[&str]) -> Context {
    Context {
        prompts_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts")),
        known_flows: Some(known.iter().map(|s| (*s).to_owned()).collect()),
    }
}

fn flow(name: &str, start: &str, body: &str, known: &[&str]) -> Arc<Flow> {
    let text = format!("[flow]\nname = \"{name}\"\nstart = \"{start}\"\n\n{body}");
    let path = format!("{name}.toml");
    match load_text(Path::new(&path), &text, &context(known)) {
        Ok(f) => Arc::new(f),
        Err(errors) => panic!("{errors:?}"),
    }
}

/// 2026-11-23 (a Monday) at `hh:mm` in Tokyo.
fn tokyo(hh: u32, mm: u32) -> DateTime<Utc> {
    let text = format!("2026-11-23T{hh:02}:{mm:02}:00+09:00");
    DateTime::parse_from_rfc3339(&text)
        .unwrap()
        .with_timezone(&Utc)
}

/// A session on flow `t` (plus any `others`), with a clock.
struct Call {
    s: Session,
    now: Millis,
}

impl Call {
    fn new(body: &str) -> Call {
        Call::with(body, Vec::new(), tokyo(10, 0))
    }

    fn with(body: &str, others: Vec<Arc<Flow>>, at: DateTime<Utc>) -> Call {
        let mut known = vec!["t"];
        let names: Vec<String> = others.iter().map(|f| f.name.clone()).collect();
        known.extend(names.iter().map(String::as_str));
        let t = flow("t", "a", body, &known);
        let mut flows: BTreeMap<String, Arc<Flow>> = BTreeMap::new();
        flows.insert("t".into(), Arc::clone(&t));
        for f in others {
            flows.insert(f.name.clone(), f);
        }
        let mut s = Session::new(Arc::new(flows), t, "+81312345678", "100", at);
        s.start(0);
        Call { s, now: 0 }
    }

    fn actions(&mut self) -> Vec<Action> {
        std::iter::from_fn(|| self.s.poll_action()).collect()
    }

    /// The `op` of the one `Play` among the pending actions, and its
    /// prompts' names.
    fn played(&mut self) -> (u64, Vec<String>) {
        let plays: Vec<(u64, Vec<String>)> = self
            .actions()
            .into_iter()
            .filter_map(|a| match a {
                Action::Play { op, prompts } => {
                    Some((op, prompts.into_iter().map(|p| p.name).collect()))
                }
                _ => None,
            })
            .collect();
        assert_eq!(plays.len(), 1, "expected one Play, got {plays:?}");
        plays.into_iter().next().unwrap()
    }

    fn input(&mut self, input: Input) {
        self.s.handle(input, self.now);
    }

    fn key(&mut self, d: char) {
        self.input(Input::Digit(d));
    }

    /// Lets the prompt of `op` finish after `ms`.
    fn play_done(&mut self, op: u64, ms: Millis) {
        self.now += ms;
        self.input(Input::PlayDone { op });
    }

    /// Advances to the session's deadline (which must exist).
    fn wait_out(&mut self) {
        let at = self.s.poll_timeout().expect("a deadline");
        assert!(at >= self.now);
        self.now = at;
        self.s.handle_timeout(at);
    }

    fn steps(&self) -> Vec<String> {
        self.s.path().iter().map(|e| e.step.clone()).collect()
    }

    fn outcomes(&self) -> Vec<String> {
        self.s.path().iter().map(|e| e.outcome.clone()).collect()
    }

    fn var(&self, name: &str) -> Option<Value> {
        self.s.vars().get(name).cloned()
    }
}

const BYE: &str = "[steps.bye]\ntype = \"hangup\"\n";
const OTHER: &str = "[steps.other]\ntype = \"play\"\nprompts = [\"goodbye\"]\nnext = \"bye\"\n";

fn menu(extra: &str) -> String {
    format!(
        r#"[steps.a]
type = "menu"
prompt = ["main-menu"]
options = {{ "1" = "one", "2" = "bye" }}
timeout_seconds = 4
timeout_prompt = ["no-input"]
invalid_prompt = ["invalid"]
{extra}
fallback = "other"

[steps.one]
type = "play"
prompts = ["welcome"]
next = "bye"

{OTHER}
{BYE}"#
    )
}

#[test]
fn play_then_next_then_hangup() {
    let mut c = Call::new(&format!(
        "[steps.a]\ntype = \"play\"\nprompts = [\"welcome\", \"goodbye\"]\nnext = \"bye\"\n\n{BYE}"
    ));
    let (op, names) = c.played();
    assert_eq!(names, ["welcome", "goodbye"]);
    assert!(c.s.ending().is_none());
    c.play_done(op, 1800);
    assert_eq!(c.actions(), [Action::Hangup]);
    assert_eq!(c.s.ending(), Some(&Ending::HungUp));
    assert_eq!(c.steps(), ["a", "bye"]);
    let a = &c.s.path()[0];
    assert_eq!(
        (a.kind, a.at_ms, a.duration_ms, a.outcome.as_str()),
        ("play", 0, 1800, "played")
    );
    assert_eq!(a.next.as_deref(), Some("bye"));
    // A stale PlayDone changes nothing.
    c.input(Input::PlayDone { op });
    assert_eq!(c.steps().len(), 2);
}

#[test]
fn menu_key_during_the_prompt_barges_in() {
    let mut c = Call::new(&menu(""));
    let (_, names) = c.played();
    assert_eq!(names, ["main-menu"]);
    c.now = 700;
    c.key('1');
    let actions = c.actions();
    assert_eq!(actions[0], Action::StopPlay);
    assert!(matches!(&actions[1], Action::Play { prompts, .. } if prompts[0].name == "welcome"));
    assert_eq!(c.s.path()[0].outcome, "key 1");
    assert_eq!(c.s.path()[0].next.as_deref(), Some("one"));
    assert_eq!(c.s.path()[0].duration_ms, 700);
}

#[test]
fn menu_timeout_then_invalid_then_good_key() {
    let mut c = Call::new(&menu("retries = 2"));
    let (op, _) = c.played();
    c.play_done(op, 3000);
    assert_eq!(
        c.s.poll_timeout(),
        Some(7000),
        "timeout counts from the prompt's end"
    );
    c.wait_out();
    let (op, names) = c.played();
    assert_eq!(names, ["no-input", "main-menu"]);
    c.play_done(op, 4000);
    c.key('7');
    let (_, names) = c.played();
    assert_eq!(names, ["invalid", "main-menu"]);
    c.key('2');
    assert_eq!(c.outcomes()[0], "key 2 (after no input, invalid key 7)");
    assert_eq!(c.steps(), ["a", "bye"]);
}

#[test]
fn menu_invalid_twice_with_one_retry_takes_the_fallback() {
    let mut c = Call::new(&menu("retries = 1"));
    c.played();
    c.key('9');
    let (_, names) = c.played();
    assert_eq!(names, ["invalid", "main-menu"]);
    c.key('8');
    assert_eq!(
        c.outcomes()[0],
        "fallback after invalid key 9, invalid key 8"
    );
    assert_eq!(c.steps(), ["a"]);
    let (_, names) = c.played();
    assert_eq!(names, ["goodbye"], "the fallback step runs");
}

#[test]
fn menu_silence_until_retries_run_out() {
    let mut c = Call::new(&menu("retries = 2"));
    for _ in 0..3 {
        let (op, _) = c.played();
        c.play_done(op, 1000);
        c.wait_out();
    }
    assert_eq!(
        c.outcomes()[0],
        "fallback after no input, no input, no input"
    );
    assert_eq!(c.s.path()[0].next.as_deref(), Some("other"));
}

#[test]
fn keys_typed_during_a_play_step_answer_the_next_menu() {
    let body = format!(
        "[steps.a]\ntype = \"play\"\nprompts = [\"welcome\"]\nnext = \"m\"\n\n{}",
        menu("").replace("[steps.a]", "[steps.m]")
    );
    let mut c = Call::new(&body);
    c.played();
    c.now = 300;
    c.key('1');
    let actions = c.actions();
    assert_eq!(actions[0], Action::StopPlay);
    // The menu took the key without playing its prompt.
    assert!(
        matches!(&actions[1], Action::Play { prompts, .. } if prompts[0].name == "welcome"),
        "{actions:?}"
    );
    assert_eq!(c.steps(), ["a", "m"]);
    assert_eq!(c.outcomes(), ["interrupted by key 1", "key 1"]);
}

fn gather(extra: &str) -> String {
    format!(
        r#"[steps.a]
type = "gather"
var = "account"
min_digits = 4
max_digits = 6
inter_digit_timeout_seconds = 3
first_digit_timeout_seconds = 8
prompt = ["main-menu"]
invalid_prompt = ["invalid"]
retries = 1
{extra}
next = "ok"
fallback = "other"

[steps.ok]
type = "play"
prompts = [{{ say = "digits", var = "account" }}]
next = "bye"

{OTHER}
{BYE}"#
    )
}

#[test]
fn gather_stops_at_max_digits_and_says_them() {
    let mut c = Call::new(&gather(""));
    c.played();
    for d in "123456".chars() {
        c.key(d);
    }
    assert_eq!(c.var("account"), Some(Value::String("123456".into())));
    let (_, names) = c.played();
    assert_eq!(
        names,
        ["digit-1", "digit-2", "digit-3", "digit-4", "digit-5", "digit-6"]
    );
    assert_eq!(c.outcomes()[0], "account = 123456");
}

#[test]
fn gather_terminator_and_inter_digit_timeout() {
    let mut c = Call::new(&gather(""));
    let (op, _) = c.played();
    c.play_done(op, 2000);
    assert_eq!(c.s.poll_timeout(), Some(10_000), "first-digit timeout");
    for d in "9876#".chars() {
        c.key(d);
    }
    assert_eq!(c.var("account"), Some(Value::String("9876".into())));

    let mut c = Call::new(&gather(""));
    let (op, _) = c.played();
    c.play_done(op, 1000);
    c.now = 1500;
    for d in "12345".chars() {
        c.key(d);
    }
    assert_eq!(c.s.poll_timeout(), Some(4500), "inter-digit timeout");
    c.wait_out();
    assert_eq!(c.var("account"), Some(Value::String("12345".into())));
}

#[test]
fn gather_too_short_then_pattern_mismatch_takes_the_fallback() {
    let mut c = Call::new(&gather("pattern = \"[0-9]+\""));
    c.played();
    c.key('1');
    c.key('2');
    c.key('#');
    let (_, names) = c.played();
    assert_eq!(names, ["invalid", "main-menu"]);
    for d in "12*4#".chars() {
        c.key(d);
    }
    assert_eq!(
        c.outcomes()[0],
        "fallback after too short `12`, no match `12*4`"
    );
    assert_eq!(c.var("account"), None);
    assert_eq!(c.played().1, ["goodbye"]);
}

#[test]
fn gather_with_no_input_retries_then_falls_back() {
    let mut c = Call::new(&gather(""));
    let (op, _) = c.played();
    c.play_done(op, 1000);
    c.wait_out();
    let (op, names) = c.played();
    assert_eq!(names, ["invalid", "main-menu"]);
    c.play_done(op, 1000);
    c.wait_out();
    assert_eq!(c.outcomes()[0], "fallback after no input, no input");
}

#[test]
fn set_and_branch_with_runtime_errors() {
    let body = format!(
        r#"[steps.a]
type = "set"
vars = {{ n = "2 * 21", bad = "1 / 0", vip = "caller == \"+81312345678\"" }}
next = "b"

[steps.b]
type = "branch"
cases = [{{ when = "bad > 1", goto = "other" }}, {{ when = "vip && n == 42", goto = "bye" }}]
else = "other"

{OTHER}
{BYE}"#
    );
    let c = Call::new(&body);
    assert_eq!(c.var("n"), Some(Value::Int(42)));
    assert_eq!(c.var("bad"), None);
    assert!(c.outcomes()[0].contains("bad unset"), "{}", c.outcomes()[0]);
    assert!(c.outcomes()[0].contains("n = 42"));
    assert_eq!(c.steps(), ["a", "b", "bye"]);
    assert!(
        c.outcomes()[1].starts_with("case 1: vip && n == 42 [case 0 taken as false"),
        "{}",
        c.outcomes()[1]
    );
    assert_eq!(c.s.ending(), Some(&Ending::HungUp));
}

fn hours_body() -> String {
    format!(
        r#"[steps.a]
type = "hours"
schedule = "office"
open = "bye"
closed = "other"
holiday = "hol"

[steps.hol]
type = "play"
prompts = ["holiday"]
next = "bye"

{OTHER}
{BYE}

[schedules.office]
time_zone = "Asia/Tokyo"
weekly = {{ mon = ["09:00-18:00"] }}
holidays = ["2026-11-30"]"#
    )
}

#[test]
fn hours_open_closed_holiday_by_the_sessions_clock() {
    let open = Call::with(&hours_body(), Vec::new(), tokyo(9, 0));
    assert_eq!(open.steps(), ["a", "bye"]);
    assert!(open.outcomes()[0].starts_with("open at 2026-11-23T00:00:00"));
    let closed = Call::with(&hours_body(), Vec::new(), tokyo(18, 0));
    assert_eq!(closed.s.path()[0].next.as_deref(), Some("other"));
    let holiday_at = DateTime::parse_from_rfc3339("2026-11-30T10:00:00+09:00")
        .unwrap()
        .with_timezone(&Utc);
    let holiday = Call::with(&hours_body(), Vec::new(), holiday_at);
    assert_eq!(holiday.s.path()[0].next.as_deref(), Some("hol"));
}

fn lookup_body(source: &str) -> String {
    format!(
        r#"[steps.a]
type = "lookup"
{source}
timeout_ms = 1500
next = "found"
not_found = "other"
error = "err"

[steps.found]
type = "play"
prompts = ["hello", {{ say = "prompt", var = "who" }}]
next = "bye"

[steps.err]
type = "play"
prompts = ["invalid"]
next = "bye"

{OTHER}
{BYE}"#
    )
}

fn lookup_op(c: &mut Call) -> (u64, LookupRequest) {
    match c.actions().as_slice() {
        [Action::Lookup { op, request }] => (*op, request.clone()),
        other => panic!("{other:?}"),
    }
}

#[test]
fn customer_lookup_found_not_found_failed() {
    let src = "source = \"customer\"\nmap = { name = \"customer_name\", name_prompt = \"who\" }";
    let mut c = Call::new(&lookup_body(src));
    let (op, request) = lookup_op(&mut c);
    assert_eq!(
        request,
        LookupRequest::Customer {
            caller: "+81312345678".into()
        }
    );
    c.now = 40;
    let doc = serde_json::json!({"id": "c1", "name": "Hanako Yamada", "name_prompt": "customer-hanako-yamada"});
    c.input(Input::LookupDone {
        op,
        result: LookupResult::Found(doc),
    });
    assert_eq!(
        c.var("customer_name"),
        Some(Value::String("Hanako Yamada".into()))
    );
    assert_eq!(c.played().1, ["hello", "customer-hanako-yamada"]);
    assert_eq!(c.s.path()[0].duration_ms, 40);

    let mut c = Call::new(&lookup_body(src));
    let (op, _) = lookup_op(&mut c);
    c.input(Input::LookupDone {
        op,
        result: LookupResult::NotFound,
    });
    assert_eq!(c.s.path()[0].next.as_deref(), Some("other"));

    let mut c = Call::new(&lookup_body(src));
    let (op, _) = lookup_op(&mut c);
    c.input(Input::LookupDone {
        op,
        result: LookupResult::Failed("database down".into()),
    });
    assert_eq!(c.outcomes()[0], "error: database down");
    assert_eq!(c.s.path()[0].next.as_deref(), Some("err"));
}

#[test]
fn found_without_the_mapped_field_leaves_it_unset() {
    let src = "source = \"customer\"\nmap = { name_prompt = \"who\" }";
    let mut c = Call::new(&lookup_body(src));
    let (op, _) = lookup_op(&mut c);
    c.input(Input::LookupDone {
        op,
        result: LookupResult::Found(serde_json::json!({"id": "c3", "name_prompt": null})),
    });
    // `who` unset: the say-item is skipped, the rest is played.
    assert_eq!(c.played().1, ["hello"]);
    assert_eq!(c.var("who"), None);
}

#[test]
fn http_lookup_fills_the_url_and_times_out() {
    let src = "source = \"http\"\nurl = \"http://127.0.0.1:9/c?phone={caller}&n={dialled}\"\nmethod = \"POST\"\nmap = { \"/customer/tier\" = \"who\" }";
    let mut c = Call::new(&lookup_body(src));
    let (op, request) = lookup_op(&mut c);
    match request {
        LookupRequest::Http {
            url,
            body,
            timeout_ms,
            ..
        } => {
            assert_eq!(url, "http://127.0.0.1:9/c?phone=%2B81312345678&n=100");
            assert_eq!(timeout_ms, 1500);
            assert_eq!(body.unwrap()["caller"], "+81312345678");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(c.s.poll_timeout(), Some(1500));
    c.wait_out();
    assert_eq!(c.outcomes()[0], "error: no answer in 1500 ms");
    c.played();
    // The answer that comes too late is ignored.
    c.input(Input::LookupDone {
        op,
        result: LookupResult::Found(serde_json::json!({"customer": {"tier": "gold"}})),
    });
    assert_eq!(c.var("who"), None);
    assert_eq!(c.steps(), ["a"]);
}

#[test]
fn http_lookup_maps_json_pointers() {
    let src = "source = \"http\"\nurl = \"http://127.0.0.1:9/c\"\nmap = { \"/customer/tier\" = \"who\", \"/balance\" = \"balance\" }";
    let mut c = Call::new(&lookup_body(src));
    let (op, _) = lookup_op(&mut c);
    c.input(Input::LookupDone {
        op,
        result: LookupResult::Found(
            serde_json::json!({"customer": {"tier": "gold"}, "balance": 1200}),
        ),
    });
    assert_eq!(c.var("who"), Some(Value::String("gold".into())));
    assert_eq!(c.var("balance"), Some(Value::Int(1200)));
}

#[test]
fn queue_without_an_agent_takes_the_fallback() {
    let body = format!(
        "[steps.a]\ntype = \"queue\"\nqueue = \"support\"\npriority = 3\nskills = [{{ name = \"support\", min_level = 2 }}]\nfallback = \"other\"\n\n{OTHER}\n{BYE}"
    );
    let mut c = Call::new(&body);
    let op = match c.actions().as_slice() {
        [Action::Queue {
            op,
            queue,
            priority,
            skills,
        }] => {
            assert_eq!((queue.as_str(), *priority), ("support", 3));
            assert_eq!(skills, &[("support".to_owned(), 2)]);
            *op
        }
        other => panic!("{other:?}"),
    };
    c.input(Input::QueueLeft {
        op,
        reason: "no agents".into(),
    });
    assert_eq!(c.outcomes()[0], "left the queue: no agents");
    assert_eq!(c.played().1, ["goodbye"]);
}

#[test]
fn a_callback_taken_in_the_queue_ends_the_flow_with_it() {
    let body = format!(
        "[steps.a]\ntype = \"queue\"\nqueue = \"support\"\nfallback = \"other\"\n\n{OTHER}\n{BYE}"
    );
    let mut c = Call::new(&body);
    let op = match c.actions().as_slice() {
        [Action::Queue { op, .. }] => *op,
        other => panic!("{other:?}"),
    };
    // Another op's news is not this step's.
    c.input(Input::QueueCallback {
        op: op + 1,
        callback: "cb-0".into(),
    });
    assert!(c.s.ending().is_none());
    c.input(Input::QueueCallback {
        op,
        callback: "cb-1".into(),
    });
    assert_eq!(c.outcomes(), ["callback requested (call cb-1)"]);
    assert_eq!(
        c.s.ending(),
        Some(&Ending::Callback {
            queue: "support".into(),
            callback: "cb-1".into()
        })
    );
    assert!(c.actions().is_empty(), "the driver hangs up, not the flow");
}

fn voicemail_body() -> String {
    format!(
        "[steps.a]\ntype = \"voicemail\"\nprompt = [\"leave-message\"]\nmax_seconds = 30\nnext = \"other\"\n\n{OTHER}\n{BYE}"
    )
}

fn record_op(c: &mut Call) -> u64 {
    match c.actions().as_slice() {
        [Action::Record { op, max_ms }] => {
            assert_eq!(*max_ms, 30_000);
            *op
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn voicemail_records_until_pound_then_goes_on() {
    let mut c = Call::new(&voicemail_body());
    let (op, names) = c.played();
    assert_eq!(names, ["leave-message", "beep"]);
    c.play_done(op, 4000);
    let rec = record_op(&mut c);
    assert_eq!(c.s.poll_timeout(), Some(34_000));
    c.now = 12_000;
    c.key('5'); // other keys are part of the message
    assert!(c.actions().is_empty());
    c.key('#');
    assert_eq!(c.actions(), [Action::StopRecord { op: rec }]);
    c.now = 12_100;
    c.input(Input::RecordDone {
        op: rec,
        duration_ms: 8000,
    });
    assert_eq!(c.outcomes()[0], "recorded 8.0 s [ended by #]");
    assert_eq!(c.played().1, ["goodbye"]);
}

#[test]
fn voicemail_max_length_and_hangup_while_recording() {
    let mut c = Call::new(&voicemail_body());
    c.played();
    c.key('1'); // skips the greeting
    assert_eq!(c.actions()[0], Action::StopPlay);
    let rec = match c.s.poll_timeout() {
        Some(30_000) => 1,
        other => panic!("{other:?}"),
    };
    let _ = rec;
    c.wait_out();
    assert!(matches!(
        c.actions().as_slice(),
        [Action::StopRecord { .. }]
    ));

    let mut c = Call::new(&voicemail_body());
    let (op, _) = c.played();
    c.play_done(op, 100);
    let rec = record_op(&mut c);
    c.now = 5000;
    c.input(Input::Hangup);
    assert_eq!(c.actions(), [Action::StopRecord { op: rec }]);
    assert_eq!(c.s.ending(), Some(&Ending::CallerHungUp));
    assert_eq!(c.outcomes()[0], "caller hung up");
}

fn transfer_body(to: &str, caller_id: &str) -> String {
    format!(
        "[steps.a]\ntype = \"transfer\"\ntrunk = \"carrier\"\nto = '{to}'\ncaller_id = \"{caller_id}\"\nnext = \"other\"\n\n{OTHER}\n{BYE}"
    )
}

#[test]
fn transfer_answered_ends_the_flow() {
    let mut c = Call::new(&transfer_body("+81300000000", "keep"));
    let op = match c.actions().as_slice() {
        [Action::Transfer {
            op,
            trunk,
            to,
            caller_id,
        }] => {
            assert_eq!((trunk.as_str(), to.as_str()), ("carrier", "+81300000000"));
            assert_eq!(caller_id.as_deref(), Some("+81312345678"));
            *op
        }
        other => panic!("{other:?}"),
    };
    c.input(Input::TransferDone { op, result: Ok(()) });
    assert_eq!(
        c.s.ending(),
        Some(&Ending::Transferred {
            to: "+81300000000".into()
        })
    );
    assert!(
        c.actions().is_empty(),
        "no hang-up: the call goes on bridged"
    );
}

#[test]
fn transfer_failures_go_to_next() {
    let mut c = Call::new(&transfer_body("\"+81\" + dialled", "trunk"));
    let op = match c.actions().as_slice() {
        [Action::Transfer {
            op, to, caller_id, ..
        }] => {
            assert_eq!(to, "+81100");
            assert_eq!(caller_id, &None);
            *op
        }
        other => panic!("{other:?}"),
    };
    c.input(Input::TransferDone {
        op,
        result: Err("486 Busy Here".into()),
    });
    assert_eq!(c.outcomes()[0], "failed: 486 Busy Here");
    assert_eq!(c.played().1, ["goodbye"]);

    // An expression that gives no number fails without dialling.
    let mut c = Call::new(&transfer_body("dialled == \"100\"", "+81311112222"));
    assert!(c.outcomes()[0].starts_with("failed: `dialled == \"100\"` gave true"));
    assert_eq!(c.played().1, ["goodbye"]);
}

#[test]
fn sub_flow_returns_and_goto_replaces() {
    let sub = flow(
        "sub",
        "s1",
        "[steps.s1]\ntype = \"set\"\nvars = { from_sub = \"1\" }\nnext = \"s2\"\n\n[steps.s2]\ntype = \"return\"\n",
        &["sub"],
    );
    let body = format!(
        "[steps.a]\ntype = \"goto\"\nflow = \"sub\"\nnext = \"b\"\n\n[steps.b]\ntype = \"goto\"\nstep = \"other\"\n\n{OTHER}\n{BYE}"
    );
    let mut c = Call::with(&body, vec![sub], tokyo(10, 0));
    let path: Vec<(String, String)> =
        c.s.path()
            .iter()
            .map(|e| (e.flow.clone(), e.step.clone()))
            .collect();
    assert_eq!(
        path,
        [
            ("t".into(), "a".into()),
            ("sub".into(), "s1".into()),
            ("sub".into(), "s2".into()),
            ("t".into(), "b".into()),
        ]
    );
    assert_eq!(c.s.path()[2].next.as_deref(), Some("t:b"));
    assert_eq!(c.var("from_sub"), Some(Value::Int(1)));
    assert_eq!(c.played().1, ["goodbye"]);

    // Without `next` the call stays in the other flow; its `return` at
    // the top hangs up.
    let sub = flow("sub", "s1", "[steps.s1]\ntype = \"return\"\n", &["sub"]);
    let mut c = Call::with(
        "[steps.a]\ntype = \"goto\"\nflow = \"sub\"\n",
        vec![sub],
        tokyo(10, 0),
    );
    assert_eq!(c.actions(), [Action::Hangup]);
    assert_eq!(c.outcomes()[1], "return from the top flow: hang up");
    assert_eq!(c.s.ending(), Some(&Ending::HungUp));
}

#[test]
fn a_loop_without_input_is_stopped() {
    // Validation refuses such a loop, so build it by hand from a valid
    // flow: the menu's place is taken by a `set` going back to `a`.
    let mut t = (*flow("t", "a", &menu(""), &["t"])).clone();
    let set: super::Step =
        toml::from_str("type = \"set\"\nvars = { n = \"1\" }\nnext = \"a\"").expect("a set step");
    t.steps.insert("a".into(), set);
    let t = Arc::new(t);
    let flows: BTreeMap<String, Arc<Flow>> = BTreeMap::from([("t".into(), Arc::clone(&t))]);
    let mut s = Session::new(Arc::new(flows), t, "1", "100", tokyo(10, 0));
    s.start(0);
    assert!(matches!(s.ending(), Some(Ending::Failed { .. })));
    // The budget's steps, then the entry saying why it stopped.
    assert_eq!(s.path().len(), super::run::STEP_BUDGET + 1);
    assert!(s.path()[super::run::STEP_BUDGET]
        .outcome
        .starts_with("failed: stopped after"));
    assert_eq!(s.poll_action(), Some(Action::Hangup));
}

#[test]
fn caller_hanging_up_mid_menu_ends_the_path() {
    let mut c = Call::new(&menu(""));
    c.played();
    c.now = 2500;
    c.input(Input::Hangup);
    assert_eq!(c.s.ending(), Some(&Ending::CallerHungUp));
    assert_eq!(c.outcomes(), ["caller hung up"]);
    assert_eq!(c.s.path()[0].duration_ms, 2500);
    assert!(c.actions().is_empty());
    assert_eq!(c.s.poll_timeout(), None);
    // Nothing happens after the end.
    c.key('1');
    assert!(c.actions().is_empty());
}

#[test]
fn the_path_serialises_for_the_call_record() {
    let mut c = Call::new(&menu(""));
    c.played();
    c.key('2');
    let json = serde_json::to_value(c.s.path()).unwrap();
    assert_eq!(json[0]["type"], "menu");
    assert_eq!(json[0]["outcome"], "key 2");
    assert_eq!(json[0]["next"], "bye");
    assert_eq!(json[1]["step"], "bye");
    assert!(json[1].get("next").is_none());
}
