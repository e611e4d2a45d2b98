//! Fuzz target: any text as an IVR flow file, through everything the
//! server does with one: `ivr::load_text` (TOML, the flow model, the
//! validator, errors with file, line and reason); then, on fragments of
//! the text, expression parsing and evaluation and schedule parsing and
//! evaluation; and, when the flow loads, a simulated call through it
//! (`ivr::simulate`, the `run::Session` interpreter on a virtual clock).
//!
//! Prompts are checked against the repository's `ivr-flows/prompts/`, so
//! the seed flows (ivr-flows/, bench/ivr-flows/) load. The simulated
//! caller is scripted by comment lines, which the flow's TOML ignores:
//! `# keys: 1 1234# _ 9` (key groups, `_` silence), `# at: <RFC 3339>`,
//! `# caller: …`, `# dialled: …`, `# result: <step>=<outcome>` (as
//! `hibiki ivr simulate --result`), `# lookup: <JSON>` (what lookups
//! find); a flow without them runs a fixed script at two instants.
//!
//! Nothing may panic or hang; a refused file's every error names the file,
//! a line within the file, and a reason.
#![no_main]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, TimeZone as _, Utc};
use hibiki::ivr::expr::{Expr, Value};
use hibiki::ivr::run::{Flows, LookupRequest, LookupResult, PromptRef};
use hibiki::ivr::schedule::{Schedule, TimeRange};
use hibiki::ivr::simulate::{simulate, Script, Scripted};
use hibiki::ivr::{load_text, validate, Context, Flow, FlowError};
use libfuzzer_sys::fuzz_target;

const PROMPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../ivr-flows/prompts");
/// Lines of the text tried as expression and schedule fragments.
const MAX_FRAGMENTS: usize = 64;

/// The `[flow] name` the text gives, so the file can be named after it
/// (the validator wants the two to match).
fn flow_name(text: &str) -> Option<String> {
    let table: toml::Table = toml::from_str(text).ok()?;
    let name = table.get("flow")?.get("name")?.as_str()?;
    Some(name.to_owned())
}

/// The value of `# <key>: value` comment lines.
fn directives<'a>(text: &'a str, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    text.lines().filter_map(move |line| {
        let rest = line.trim().strip_prefix('#')?.trim_start();
        let rest = rest.strip_prefix(key)?.strip_prefix(':')?;
        Some(rest.trim())
    })
}

/// Expressions and time ranges on fragments: every line, and the value
/// of every `key = value` line, quotes removed.
fn fragments(text: &str) {
    let vars = BTreeMap::from([
        ("caller".to_owned(), Value::String("+819012345678".into())),
        ("dialled".to_owned(), Value::String("100".into())),
        ("account".to_owned(), Value::String("12345678".into())),
        ("attempts".to_owned(), Value::Int(2)),
        ("balance".to_owned(), Value::Float(1234.5)),
        ("vip".to_owned(), Value::Boolean(true)),
    ]);
    for line in text.lines().take(MAX_FRAGMENTS) {
        let value = line.split_once('=').map_or(line, |(_, v)| v).trim();
        let unquoted = value.trim_matches(|c| c == '"' || c == '\'');
        for fragment in [line, unquoted] {
            if let Ok(expr) = Expr::parse(fragment) {
                assert_eq!(expr.source(), fragment);
                let _ = expr.variables().count();
                let _ = expr.eval(&vars);
                let _ = expr.eval_bool(&vars);
            }
            if let Ok(range) = TimeRange::parse(fragment) {
                assert!(range.start < range.end && range.end <= 24 * 60);
            }
        }
    }
}

/// Instants around a schedule's interesting days.
fn instants(text: &str) -> Vec<DateTime<Utc>> {
    let mut out: Vec<DateTime<Utc>> = directives(text, "at")
        .filter_map(|at| DateTime::parse_from_rfc3339(at).ok())
        .map(|at| at.with_timezone(&Utc))
        .collect();
    // A weekday morning in Tokyo, and a Sunday night in Tokyo.
    if let chrono::LocalResult::Single(at) = Utc.with_ymd_and_hms(2026, 11, 24, 1, 0, 0) {
        out.push(at);
    }
    if let chrono::LocalResult::Single(at) = Utc.with_ymd_and_hms(2026, 11, 29, 14, 30, 0) {
        out.push(at);
    }
    out.truncate(4);
    out
}

/// A `[schedules.*]` table, or the whole text as one.
fn schedules(text: &str, at: &[DateTime<Utc>]) {
    let mut found: Vec<Schedule> = Vec::new();
    if let Ok(schedule) = toml::from_str::<Schedule>(text) {
        found.push(schedule);
    }
    if let Ok(table) = toml::from_str::<toml::Table>(text) {
        if let Some(toml::Value::Table(tables)) = table.get("schedules") {
            for value in tables.values().take(8) {
                if let Ok(schedule) = value.clone().try_into::<Schedule>() {
                    found.push(schedule);
                }
            }
        }
    }
    for schedule in &found {
        for instant in at {
            let _ = schedule.state_at(*instant);
        }
    }
}

fn check_errors(path: &Path, text: &str, errors: &[FlowError]) {
    assert!(!errors.is_empty(), "a refusal says why");
    let lines = text.lines().count().max(1) + 1;
    let shown = path.display().to_string();
    for e in errors {
        let message = e.to_string();
        assert!(message.starts_with(&shown), "`{message}` names the file");
        assert!(
            message.len() > shown.len() + 2,
            "`{message}` gives a reason"
        );
        let line = e
            .line()
            .unwrap_or_else(|| panic!("`{message}` gives a line"));
        assert!(
            (1..=lines).contains(&line),
            "line {line} of a {lines}-line file: {message}"
        );
    }
}

fn run(flow: Flow, text: &str, at: &[DateTime<Utc>]) {
    let flow = Arc::new(flow);
    // The validator again, as `hibiki ivr validate --prompts-dir` runs it.
    let problems = validate::check(&flow, Path::new(PROMPTS), None);
    assert!(
        problems.is_empty(),
        "a flow that loaded validates: {problems:?}"
    );
    let _ = flow.prompt_files();

    let mut keys: Vec<String> = directives(text, "keys")
        .flat_map(|k| k.split_whitespace())
        .map(str::to_owned)
        .take(32)
        .collect();
    if keys.is_empty() {
        keys = ["1", "1234#", "_", "2", "*", "0", "9#"]
            .map(str::to_owned)
            .to_vec();
    }
    let mut results = BTreeMap::new();
    for result in directives(text, "result").take(8) {
        if let Some((step, outcome)) = result.split_once('=') {
            if let Ok(scripted) = outcome.trim().parse::<Scripted>() {
                results.insert(step.trim().to_owned(), scripted);
            }
        }
    }
    let found = directives(text, "lookup")
        .find_map(|doc| serde_json::from_str(doc).ok())
        .unwrap_or_else(|| {
            serde_json::json!({
                "name": "Hanako", "name_prompt": "hello", "tier": "gold",
                "balance": 1234, "customer": { "name": "Hanako" }
            })
        });
    let caller = directives(text, "caller")
        .next()
        .unwrap_or("+819012345678")
        .to_owned();
    let dialled = directives(text, "dialled")
        .next()
        .unwrap_or("100")
        .to_owned();

    let flows: BTreeMap<String, Arc<Flow>> = BTreeMap::from([(flow.name.clone(), flow.clone())]);
    let flows: Arc<dyn Flows> = Arc::new(flows);
    for (i, instant) in at.iter().take(2).enumerate() {
        let script = Script {
            caller: caller.clone(),
            dialled: dialled.clone(),
            at: *instant,
            keys: keys.clone(),
            results: results.clone(),
        };
        let mut prompt_ms = |_: &PromptRef| 1200;
        let mut lookup = |request: &LookupRequest| match (i, request) {
            (0, _) => LookupResult::Found(found.clone()),
            (_, LookupRequest::Customer { .. }) => LookupResult::NotFound,
            (_, LookupRequest::Http { .. }) => LookupResult::Failed("503".into()),
        };
        let report = simulate(
            flows.clone(),
            flow.clone(),
            &script,
            &mut prompt_ms,
            &mut lookup,
        );
        assert!(!report.path.is_empty(), "a call visits its first step");
        let _ = report.text();
    }
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();

    let name = flow_name(text).unwrap_or_else(|| "fuzz".to_owned());
    let path = PathBuf::from("/fuzz-flows").join(format!("{name}.toml"));
    let context = Context {
        prompts_dir: Some(PathBuf::from(PROMPTS)),
        known_flows: Some(vec![name.clone(), "demo".into(), "agents".into()]),
    };
    let at = instants(text);
    match load_text(&path, text, &context) {
        Ok(flow) => run(flow, text, &at),
        Err(errors) => check_errors(&path, text, &errors),
    }
    fragments(text);
    schedules(text, &at);
});
