//! What a flow's types cannot say: that every step name it uses exists,
//! every step is reachable from `start`, no loop runs without waiting for
//! the caller, every prompt file exists, and numbers are in range. Each
//! [`Problem`] names the key path at fault; [`load`](super::load) turns
//! that into a line.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use super::expr::BUILTIN_VARS;
use super::flow::{LookupSource, PromptItem, Step, CUSTOMER_FIELDS};
use super::say;
use super::Flow;

/// One fault: the key path (`steps.main_menu.options.2`) and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// Where, as a key path into the file.
    pub key: String,
    /// Why, for a person.
    pub reason: String,
}

/// The keys a `menu` option or a `gather` terminator may be.
pub const DTMF_KEYS: &str = "0123456789*#ABCD";

/// Every problem of `flow`; empty when it is valid.
pub fn check(flow: &Flow, prompts_dir: &Path, known_flows: Option<&[String]>) -> Vec<Problem> {
    let mut out = Vec::new();
    let mut problem = |key: String, reason: String| out.push(Problem { key, reason });
    let stem = super::load::flow_name(&flow.path);
    if flow.name != stem {
        problem(
            "flow.name".into(),
            format!(
                "flow name `{}` must match the file name `{stem}.toml`",
                flow.name
            ),
        );
    }
    if !flow.steps.contains_key(&flow.start) {
        problem(
            "flow.start".into(),
            format!("start step `{}` does not exist", flow.start),
        );
    }
    if !is_name(&flow.language) {
        // It names a folder under the prompts directory: no `/`, no `..`.
        problem(
            "flow.language".into(),
            format!(
                "language `{}` must be a tag like `en` or `pt-BR` (letters, digits, `_` and `-` only)",
                flow.language
            ),
        );
    }
    let language_dir = prompts_dir.join(&flow.language);
    for (name, step) in &flow.steps {
        let at = |key: &str| format!("steps.{name}.{key}");
        let mut fault = |key: String, reason: String| {
            problem(key, format!("step `{name}`: {reason}"));
        };
        if !is_name(name) {
            fault(
                format!("steps.{name}"),
                "step names may use letters, digits, `_` and `-` only".into(),
            );
        }
        for (key, target) in step.targets() {
            if !flow.steps.contains_key(target) {
                let what = match key.strip_prefix("options.") {
                    Some(digit) => format!("option \"{digit}\""),
                    None => format!("`{key}`"),
                };
                fault(at(&key), format!("{what} goes to unknown step `{target}`"));
            }
        }
        for (key, items) in step.prompt_lists() {
            for (i, item) in items.iter().enumerate() {
                match item {
                    PromptItem::Name(prompt) => {
                        let file = language_dir.join(format!("{prompt}.wav"));
                        if !is_name(prompt) {
                            fault(
                                format!("{}[{i}]", at(key)),
                                format!("bad prompt name `{prompt}`"),
                            );
                        } else if !file.is_file() {
                            fault(
                                format!("{}[{i}]", at(key)),
                                format!("missing prompt `{prompt}` (no {})", file.display()),
                            );
                        }
                    }
                    PromptItem::Say(say) => {
                        if !is_identifier(&say.var) {
                            fault(
                                format!("{}[{i}]", at(key)),
                                format!("bad variable name `{}`", say.var),
                            );
                        }
                        if !say::supports(say.say, &flow.language) {
                            let error = say::SayError::Language {
                                kind: say.say,
                                language: flow.language.clone(),
                            };
                            fault(format!("{}[{i}]", at(key)), error.to_string());
                            continue;
                        }
                        let missing: Vec<String> = say::say_prompts(say.say, &flow.language)
                            .into_iter()
                            .filter(|p| !language_dir.join(format!("{p}.wav")).is_file())
                            .collect();
                        if let Some(first) = missing.first() {
                            fault(
                                format!("{}[{i}]", at(key)),
                                format!(
                                    "say = \"{}\" needs prompt `{first}` ({} missing in {})",
                                    say::kind_name(say.say),
                                    missing.len(),
                                    language_dir.display()
                                ),
                            );
                        }
                    }
                }
            }
        }
        let mut positive = |key: &str, value: u32| {
            if value == 0 {
                fault(at(key), format!("`{key}` must be above 0"));
            }
        };
        match step {
            Step::Menu(m) => {
                positive("timeout_seconds", m.timeout_seconds);
                if m.options.is_empty() {
                    fault(at("options"), "a menu needs at least one option".into());
                }
                for digit in m.options.keys() {
                    if !is_dtmf(digit) {
                        fault(
                            at(&format!("options.{digit}")),
                            format!("option \"{digit}\" is not a key (0-9, *, #, A-D)"),
                        );
                    }
                }
            }
            Step::Gather(g) => {
                positive("max_digits", g.max_digits);
                positive("inter_digit_timeout_seconds", g.inter_digit_timeout_seconds);
                positive("first_digit_timeout_seconds", g.first_digit_timeout_seconds);
                if g.min_digits > g.max_digits {
                    fault(
                        at("min_digits"),
                        format!(
                            "min_digits {} is above max_digits {}",
                            g.min_digits, g.max_digits
                        ),
                    );
                }
                if !is_dtmf(&g.terminator) {
                    fault(
                        at("terminator"),
                        format!(
                            "terminator \"{}\" is not a key (0-9, *, #, A-D)",
                            g.terminator
                        ),
                    );
                }
                if !is_identifier(&g.var) || BUILTIN_VARS.contains(&g.var.as_str()) {
                    fault(at("var"), format!("cannot store into `{}`", g.var));
                }
            }
            Step::Set(s) => {
                for var in s.vars.keys() {
                    if !is_identifier(var) || BUILTIN_VARS.contains(&var.as_str()) {
                        fault(at(&format!("vars.{var}")), format!("cannot set `{var}`"));
                    }
                }
            }
            Step::Hours(h) if !flow.schedules.contains_key(&h.schedule) => {
                fault(
                    at("schedule"),
                    format!(
                        "unknown schedule `{}` (no [schedules.{}])",
                        h.schedule, h.schedule
                    ),
                );
            }
            Step::Lookup(l) => {
                positive("timeout_ms", l.timeout_ms);
                match l.source {
                    LookupSource::Http => match &l.url {
                        None => fault(at("source"), "source = \"http\" needs a `url`".into()),
                        Some(url)
                            if !(url.starts_with("http://") || url.starts_with("https://")) =>
                        {
                            fault(at("url"), format!("url `{url}` is not http:// or https://"))
                        }
                        Some(_) => {}
                    },
                    LookupSource::Customer => {
                        if l.url.is_some() || l.method.is_some() || !l.headers.is_empty() {
                            fault(
                                at("source"),
                                "`url`, `method` and `headers` apply to source = \"http\" only"
                                    .into(),
                            );
                        }
                    }
                }
                for (from, var) in &l.map {
                    let key = at(&format!("map.{from}"));
                    let ok = match l.source {
                        LookupSource::Customer => CUSTOMER_FIELDS.contains(&from.as_str()),
                        LookupSource::Http => from.starts_with('/') || from.is_empty(),
                    };
                    if !ok {
                        let expected = match l.source {
                            LookupSource::Customer => CUSTOMER_FIELDS.join(", "),
                            LookupSource::Http => "a JSON pointer like /customer/name".into(),
                        };
                        fault(
                            key.clone(),
                            format!("cannot map `{from}` (expected {expected})"),
                        );
                    }
                    if !is_identifier(var) || BUILTIN_VARS.contains(&var.as_str()) {
                        fault(key, format!("cannot store into `{var}`"));
                    }
                }
            }
            Step::Voicemail(v) => positive("max_seconds", v.max_seconds),
            Step::Goto(g) => match (&g.step, &g.flow) {
                (Some(_), Some(_)) | (None, None) => fault(
                    format!("steps.{name}"),
                    "a goto needs exactly one of `step` and `flow`".into(),
                ),
                (Some(_), None) if g.next.is_some() => fault(
                    at("next"),
                    "`next` applies to a goto with `flow` only".into(),
                ),
                (None, Some(other)) => {
                    if let Some(known) = known_flows {
                        if !known.contains(other) {
                            fault(at("flow"), format!("unknown flow `{other}`"));
                        }
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }
    // Every variable read is a built-in, an input, or stored by some step
    // (a typo check; whether it is set before it is read is the
    // interpreter's to report).
    let mut known: BTreeSet<&str> = BUILTIN_VARS.iter().copied().collect();
    known.extend(flow.inputs.iter().map(String::as_str));
    for (i, input) in flow.inputs.iter().enumerate() {
        if !is_identifier(input) || BUILTIN_VARS.contains(&input.as_str()) {
            problem(
                format!("flow.inputs[{i}]"),
                format!("bad input variable `{input}`"),
            );
        }
    }
    for step in flow.steps.values() {
        known.extend(step.stores().into_iter().map(|(_, v)| v));
    }
    for (name, step) in &flow.steps {
        for (key, var) in step.reads() {
            if !known.contains(var) {
                problem(
                    format!("steps.{name}.{key}"),
                    format!(
                        "step `{name}`: `{key}` reads unknown variable `{var}` (not set by any \
                         step, not caller, dialled or one of [flow] inputs)"
                    ),
                );
            }
        }
    }
    if flow.steps.contains_key(&flow.start) {
        let reachable = reachable(flow);
        for name in flow
            .steps
            .keys()
            .filter(|n| !reachable.contains(n.as_str()))
        {
            problem(
                format!("steps.{name}"),
                format!("step `{name}` is not reachable from start `{}`", flow.start),
            );
        }
    }
    for cycle in input_free_loops(flow) {
        let first = cycle.first().cloned().unwrap_or_default();
        let path: Vec<String> = cycle.iter().map(|s| format!("`{s}`")).collect();
        problem(
            format!("steps.{first}"),
            format!(
                "steps {} → `{first}` loop without waiting for the caller \
                 (a loop needs a menu, gather, queue or voicemail)",
                path.join(" → ")
            ),
        );
    }
    out
}

/// The steps reachable from `start`.
fn reachable(flow: &Flow) -> BTreeSet<&str> {
    let mut seen = BTreeSet::new();
    let mut todo = vec![flow.start.as_str()];
    while let Some(name) = todo.pop() {
        if !seen.insert(name) {
            continue;
        }
        if let Some(step) = flow.steps.get(name) {
            todo.extend(step.targets().into_iter().map(|(_, t)| t));
        }
    }
    seen
}

/// Cycles through steps none of which waits for the caller, each once
/// (as found from its alphabetically first step). A `goto` into another
/// flow is assumed to wait (that flow is checked on its own).
fn input_free_loops(flow: &Flow) -> Vec<Vec<String>> {
    let moves = |step: &Step| -> Vec<String> {
        match step {
            Step::Goto(g) if g.flow.is_some() => Vec::new(),
            s if s.waits_for_caller() => Vec::new(),
            s => s.targets().into_iter().map(|(_, t)| t.to_owned()).collect(),
        }
    };
    let graph: BTreeMap<&str, Vec<String>> = flow
        .steps
        .iter()
        .map(|(name, step)| (name.as_str(), moves(step)))
        .collect();
    let mut found: Vec<Vec<String>> = Vec::new();
    let mut in_a_loop: BTreeSet<String> = BTreeSet::new();
    // Depth-first from every step; a back edge to the current path is a loop.
    for start in graph.keys() {
        let mut path: Vec<(&str, usize)> = vec![(start, 0)];
        let mut done: BTreeSet<&str> = BTreeSet::new();
        while let Some((node, next)) = path.last().copied() {
            let targets = graph.get(node).map(Vec::as_slice).unwrap_or_default();
            match targets.get(next) {
                None => {
                    done.insert(node);
                    path.pop();
                }
                Some(target) => {
                    if let Some(last) = path.last_mut() {
                        last.1 += 1;
                    }
                    if let Some(at) = path.iter().position(|(n, _)| *n == target.as_str()) {
                        let cycle: Vec<String> = path
                            .get(at..)
                            .unwrap_or_default()
                            .iter()
                            .map(|(n, _)| n.to_string())
                            .collect();
                        if cycle.iter().all(|s| !in_a_loop.contains(s)) {
                            in_a_loop.extend(cycle.iter().cloned());
                            found.push(cycle);
                        }
                    } else if !done.contains(target.as_str()) && graph.contains_key(target.as_str())
                    {
                        if let Some((key, _)) = graph.get_key_value(target.as_str()) {
                            path.push((key, 0));
                        }
                    }
                }
            }
        }
    }
    found
}

/// Letters, digits, `_`, `-`; not empty.
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A variable name: a letter or `_`, then letters, digits, `_`.
fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One DTMF key.
fn is_dtmf(s: &str) -> bool {
    s.len() == 1 && DTMF_KEYS.contains(s)
}
