//! Unit tests of loading and validation on small flows held in strings
//! (prompts from the shipped `ivr-flows/prompts/`). The one-file-per-fault
//! tests of the real binary are in `tests/ivr_validate.rs`.

use std::path::{Path, PathBuf};

use super::flow::{CallerIdRule, Destination, Step};
use super::{load_text, Context, Flow, HoursState};

fn context() -> Context {
    Context {
        prompts_dir: Some(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts")),
        known_flows: Some(vec!["t".into(), "other".into()]),
    }
}

/// Loads `body` as `t.toml` after a `[flow]` starting at `a`.
fn load(body: &str) -> Result<Flow, Vec<String>> {
    let text = format!("[flow]\nstart = \"a\"\n\n{body}");
    load_text(Path::new("t.toml"), &text, &context())
        .map_err(|errors| errors.iter().map(ToString::to_string).collect())
}

fn errors(body: &str) -> Vec<String> {
    load(body).expect_err("the flow should be refused")
}

const BYE: &str = "[steps.bye]\ntype = \"hangup\"\n";

#[test]
fn a_flow_with_every_kind_of_step_loads() {
    let flow = load(
        r#"[steps.a]
type = "lookup"
source = "http"
url = "http://127.0.0.1:9/customer"
method = "POST"
headers = { "x-api-key" = "k" }
map = { "/customer/tier" = "tier" }
next = "b"
error = "b"

[steps.b]
type = "set"
vars = { attempts = "0", vip = "tier == \"gold\"" }
next = "c"

[steps.c]
type = "branch"
cases = [{ when = "vip", goto = "d" }]
else = "e"

[steps.d]
type = "transfer"
trunk = "carrier"
to = "+81312345678"
caller_id = "trunk"
next = "e"

[steps.e]
type = "gather"
var = "account"
max_digits = 8
pattern = "[0-9]{8}"
prompt = ["main-menu", { say = "digits", var = "caller" }]
next = "f"
fallback = "g"

[steps.f]
type = "transfer"
trunk = "carrier"
to = "\"+81\" + account"
next = "g"

[steps.g]
type = "goto"
flow = "other"
next = "h"

[steps.h]
type = "hours"
schedule = "office"
open = "q"
closed = "v"

[steps.q]
type = "queue"
queue = "support"
skills = [{ name = "ja" }]
fallback = "v"

[steps.v]
type = "voicemail"
prompt = ["goodbye"]
next = "r"

[steps.r]
type = "return"

[schedules.office]
time_zone = "Asia/Tokyo"
weekly = { mon = ["09:00-18:00"] }
"#,
    )
    .unwrap();
    assert_eq!(flow.name, "t");
    assert_eq!(flow.language, "en");
    assert_eq!(flow.steps.len(), 11);
    let Some(Step::Transfer(d)) = flow.steps.get("d") else {
        panic!()
    };
    assert!(matches!(&d.to, Destination::Number(n) if n == "+81312345678"));
    assert_eq!(d.caller_id, CallerIdRule::Trunk);
    let Some(Step::Transfer(f)) = flow.steps.get("f") else {
        panic!()
    };
    assert!(matches!(&f.to, Destination::Expr(e) if e.source() == "\"+81\" + account"));
    assert_eq!(f.caller_id, CallerIdRule::Keep);
    let Some(Step::Gather(e)) = flow.steps.get("e") else {
        panic!()
    };
    let pattern = e.pattern.as_ref().unwrap();
    assert!(pattern.matches("12345678") && !pattern.matches("123456789"));
    assert_eq!(e.terminator, "#");
    let Some(Step::Hours(h)) = flow.step("h") else {
        panic!()
    };
    assert_eq!(
        h.target(HoursState::Holiday),
        "v",
        "holiday defaults to closed"
    );
    assert_eq!(h.target(HoursState::Open), "q");
    let Some(Step::Lookup(a)) = flow.step("a") else {
        panic!()
    };
    assert_eq!(a.not_found_step(), "b", "not_found defaults to next");
    let office = flow.schedules.get("office").unwrap();
    let monday_10_tokyo =
        chrono::DateTime::parse_from_rfc3339("2026-11-30T10:00:00+09:00").unwrap();
    assert_eq!(office.state_at(monday_10_tokyo.to_utc()), HoursState::Open);
}

#[test]
fn every_problem_is_reported_in_line_order() {
    let errors = errors(
        r#"[steps.a]
type = "play"
prompts = ["goodbye"]
next = "nowhere"

[steps.b]
type = "menu"
prompt = ["nope"]
options = { "1" = "a" }
fallback = "gone"
"#,
    );
    assert_eq!(
        errors,
        [
            "t.toml:7: step `a`: `next` goes to unknown step `nowhere`".to_owned(),
            "t.toml:9: step `b` is not reachable from start `a`".into(),
            format!(
                "t.toml:11: step `b`: missing prompt `nope` (no {}/ivr-flows/prompts/en/nope.wav)",
                env!("CARGO_MANIFEST_DIR")
            ),
            "t.toml:13: step `b`: `fallback` goes to unknown step `gone`".into(),
        ]
    );
}

#[test]
fn loops_through_a_waiting_step_or_another_flow_are_fine() {
    load(&format!(
        r#"[steps.a]
type = "play"
prompts = ["goodbye"]
next = "m"

[steps.m]
type = "menu"
prompt = ["main-menu"]
options = {{ "1" = "a", "2" = "s" }}
fallback = "bye"

[steps.s]
type = "goto"
flow = "other"
next = "a"

{BYE}"#
    ))
    .unwrap();
}

#[test]
fn a_goto_to_itself_is_a_loop() {
    assert_eq!(
        errors("[steps.a]\ntype = \"goto\"\nstep = \"a\"\n"),
        ["t.toml:4: steps `a` → `a` loop without waiting for the caller (a loop needs a menu, gather, queue or voicemail)"]
    );
}

#[test]
fn goto_needs_exactly_one_target_and_a_known_flow() {
    let both = errors(&format!(
        "[steps.a]\ntype = \"goto\"\nstep = \"bye\"\nflow = \"other\"\n\n{BYE}"
    ));
    assert_eq!(
        both,
        ["t.toml:4: step `a`: a goto needs exactly one of `step` and `flow`"]
    );
    let next = errors(&format!(
        "[steps.a]\ntype = \"goto\"\nstep = \"bye\"\nnext = \"bye\"\n\n{BYE}"
    ));
    assert_eq!(
        next,
        ["t.toml:7: step `a`: `next` applies to a goto with `flow` only"]
    );
    let unknown = errors("[steps.a]\ntype = \"goto\"\nflow = \"elsewhere\"\n");
    assert_eq!(unknown, ["t.toml:6: step `a`: unknown flow `elsewhere`"]);
}

#[test]
fn lookups_are_checked_for_their_source() {
    let no_url = errors(&format!(
        "[steps.a]\ntype = \"lookup\"\nsource = \"http\"\nnext = \"bye\"\nerror = \"bye\"\n\n{BYE}"
    ));
    assert_eq!(
        no_url,
        ["t.toml:6: step `a`: source = \"http\" needs a `url`"]
    );
    let customer = errors(&format!(
        "[steps.a]\ntype = \"lookup\"\nsource = \"customer\"\nurl = \"http://x\"\nmap = {{ phone = \"caller\" }}\nnext = \"bye\"\nerror = \"bye\"\n\n{BYE}"
    ));
    assert_eq!(
        customer,
        [
            "t.toml:6: step `a`: `url`, `method` and `headers` apply to source = \"http\" only",
            "t.toml:8: step `a`: cannot map `phone` (expected id, name, name_prompt)",
            "t.toml:8: step `a`: cannot store into `caller`",
        ]
    );
}

#[test]
fn builtin_variables_cannot_be_set() {
    let set = errors(&format!(
        "[steps.a]\ntype = \"set\"\nvars = {{ dialled = \"1\" }}\nnext = \"bye\"\n\n{BYE}"
    ));
    assert_eq!(set, ["t.toml:6: step `a`: cannot set `dialled`"]);
}

#[test]
fn values_are_parsed_while_reading_with_their_line() {
    let caller_id = errors(&format!(
        "[steps.a]\ntype = \"transfer\"\ntrunk = \"c\"\nto = \"100\"\ncaller_id = \"mine\"\nnext = \"bye\"\n\n{BYE}"
    ));
    assert_eq!(
        caller_id,
        ["t.toml:8: step `a`: bad caller_id `mine`: expected \"keep\", \"trunk\" or a number"]
    );
    let to = errors(&format!(
        "[steps.a]\ntype = \"transfer\"\ntrunk = \"c\"\nto = \"+81 (\"\nnext = \"bye\"\n\n{BYE}"
    ));
    assert_eq!(to.len(), 1);
    assert!(
        to[0].starts_with("t.toml:7: step `a`: bad expression `+81 (`:"),
        "{to:?}"
    );
}

#[test]
fn a_missing_required_key_names_the_step() {
    let missing = errors("[steps.a]\ntype = \"play\"\nprompts = []\n");
    assert_eq!(missing, ["t.toml:4: step `a`: missing field `next`"]);
}

#[test]
fn say_items_get_their_own_errors_at_their_line() {
    let kind = errors("[steps.a]\ntype = \"play\"\nprompts = [\n  \"goodbye\",\n  { say = \"digit\", var = \"x\" },\n]\nnext = \"a\"\n");
    assert_eq!(
        kind,
        ["t.toml:8: step `a`: unknown variant `digit`, expected one of `digits`, `number`, `amount`, `time`, `date`, `prompt`"]
    );
    let key = errors("[steps.a]\ntype = \"play\"\nprompts = [\n  \"goodbye\",\n  { say = \"digits\", var = \"x\", loud = true },\n]\nnext = \"a\"\n");
    assert_eq!(
        key,
        ["t.toml:8: step `a`: unknown field `loud`, expected `say` or `var`"]
    );
}

#[test]
fn no_truncation_or_corruption_of_the_demo_flow_panics() {
    let demo = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows/demo.toml"))
        .unwrap();
    let path = Path::new("demo.toml");
    load_text(path, &demo, &context()).unwrap();
    let mut refused = 0;
    for (at, _) in demo.char_indices().step_by(7) {
        let truncated = demo.get(..at).unwrap_or_default();
        if load_text(path, truncated, &context()).is_err() {
            refused += 1;
        }
        // A quote, bracket or equals sign dropped in: every error has a line.
        for junk in ["\"", "]", "=", "\n[steps.x]\n"] {
            let corrupt = format!("{truncated}{junk}{}", demo.get(at..).unwrap_or_default());
            if let Err(errors) = load_text(path, &corrupt, &context()) {
                assert!(errors.iter().all(|e| e.line().is_some()), "{errors:?}");
            }
        }
    }
    assert!(refused > 0);
}

#[test]
fn variables_read_must_be_set_somewhere_or_declared_inputs() {
    let body = format!(
        "[steps.a]\ntype = \"branch\"\ncases = [{{ when = \"acount == \\\"1\\\"\", goto = \"bye\" }}]\nelse = \"bye\"\n\n{BYE}"
    );
    assert_eq!(
        errors(&body),
        ["t.toml:6: step `a`: `cases[0].when` reads unknown variable `acount` (not set by any step, not caller, dialled or one of [flow] inputs)"]
    );
    let text = format!("[flow]\nstart = \"a\"\ninputs = [\"acount\"]\n\n{body}");
    let flow = load_text(Path::new("t.toml"), &text, &context()).unwrap();
    assert_eq!(flow.inputs, ["acount"]);
    let bad_input = load_text(
        Path::new("t.toml"),
        &format!("[flow]\nstart = \"bye\"\ninputs = [\"caller\"]\n\n{BYE}"),
        &context(),
    )
    .unwrap_err();
    assert_eq!(
        bad_input[0].to_string(),
        "t.toml:3: bad input variable `caller`"
    );
}

/// A flow in `language` whose one step plays `{ say = kind, var = "caller" }`.
fn say_flow(language: &str, kind: &str) -> String {
    format!(
        "[flow]\nstart = \"a\"\nlanguage = \"{language}\"\n\n[steps.a]\ntype = \"play\"\nprompts = [\n  {{ say = \"{kind}\", var = \"caller\" }},\n]\nnext = \"bye\"\n\n{BYE}"
    )
}

#[test]
fn say_items_validate_where_their_language_has_the_set() {
    for language in ["en", "ja"] {
        for kind in ["digits", "number", "amount", "time", "date", "prompt"] {
            let text = say_flow(language, kind);
            if let Err(errors) = load_text(Path::new("t.toml"), &text, &context()) {
                panic!("{language} {kind}: {errors:?}");
            }
        }
    }
}

#[test]
fn say_items_without_their_set_are_refused_at_their_line() {
    // No rules for the language: refused whether or not files exist.
    let errors: Vec<String> = load_text(Path::new("t.toml"), &say_flow("fr", "time"), &context())
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        ["t.toml:8: step `a`: say = \"time\" has no prompt set for language `fr` (sets: en, ja)"]
    );
    // Rules but a file missing: named, with the count.
    let dir = tempfile::tempdir().unwrap();
    let ja = dir.path().join("ja");
    std::fs::create_dir(&ja).unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts/ja");
    for name in super::say::say_prompts(super::flow::SayKind::Date, "ja") {
        if name != "date-day-20" {
            let file = format!("{name}.wav");
            std::fs::copy(shipped.join(&file), ja.join(&file)).unwrap();
        }
    }
    let context = Context {
        prompts_dir: Some(dir.path().to_path_buf()),
        known_flows: None,
    };
    load_text(Path::new("t.toml"), &say_flow("ja", "prompt"), &context).unwrap();
    let errors = load_text(Path::new("t.toml"), &say_flow("ja", "date"), &context).unwrap_err();
    assert_eq!(
        errors.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [format!(
            "t.toml:8: step `a`: say = \"date\" needs prompt `date-day-20` (1 missing in {})",
            ja.display()
        )]
    );
    // Digits need only the files, in any language.
    let digits = load_text(Path::new("t.toml"), &say_flow("ja", "digits"), &context).unwrap_err();
    assert!(
        digits[0]
            .to_string()
            .contains("say = \"digits\" needs prompt `digit-0` (16 missing"),
        "{digits:?}"
    );
}

/// Every prompt a say-item may play exists in the shipped sets, loads with
/// the server's loader, and is a word's length (not empty, not a stray
/// long recording); so are the customers' names and the beep.
#[test]
fn every_say_prompt_is_shipped_and_loads() {
    use super::flow::SayKind;
    use crate::media::prompt::PromptCache;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("ivr-flows/prompts");
    let cache = PromptCache::new();
    let kinds = [
        SayKind::Digits,
        SayKind::Number,
        SayKind::Amount,
        SayKind::Time,
        SayKind::Date,
    ];
    let mut checked = 0;
    for language in super::say::LANGUAGES {
        let mut names: std::collections::BTreeSet<String> = kinds
            .iter()
            .flat_map(|kind| super::say::say_prompts(*kind, language))
            .collect();
        names.insert("beep".into());
        if *language == "en" {
            names.extend([
                "customer-hanako-yamada".into(),
                "customer-john-smith".into(),
            ]);
        }
        for name in names {
            let path = root.join(language).join(format!("{name}.wav"));
            let prompt = cache
                .get(&path)
                .unwrap_or_else(|e| panic!("{language}/{name}: {e}"));
            let ms = prompt.duration_us() / 1000;
            assert!((200..=2000).contains(&ms), "{}: {ms} ms", path.display());
            checked += 1;
        }
    }
    // en: 16 keys, 33 number, 5 amount, 6 time, 43 date prompts, beep,
    // 2 names; ja: 16 keys, 40 number, 1 amount, 28 time, 43 date, beep.
    assert_eq!(checked, 106 + 129);
}

#[test]
fn a_language_must_not_leave_the_prompts_folder() {
    for language in ["../x", "/etc", "en/../ja", ""] {
        let text = format!(
            "[flow]\nstart = \"a\"\nlanguage = \"{language}\"\n\n[steps.a]\ntype = \"hangup\"\n"
        );
        let errors: Vec<String> = load_text(Path::new("t.toml"), &text, &context())
            .expect_err("refused")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert!(
            errors
                .iter()
                .any(|e| e.starts_with("t.toml:3: ") && e.contains("must be a tag like `en`")),
            "{language}: {errors:?}"
        );
    }
}
