//! The flow model: what one `ivr-flows/<name>.toml` file says, as typed
//! values the interpreter walks. Serde reads it (every table refuses
//! unknown keys); values with a syntax of their own (expressions, regex
//! patterns, time ranges, dates, time zones) are parsed while reading, so
//! a flow that loads holds no unparsed text. Cross-references (step
//! names, schedules, prompts) are checked afterwards by
//! [`validate`](super::validate).
//!
//! Schemars derives the JSON Schema (`hibiki ivr schema`,
//! `docs/ivr.schema.json`) from these same types.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Deserialize;

use super::expr::Expr;
use super::schedule::Schedule;

/// One flow file.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(title = "Hibiki IVR flow")]
pub struct FlowFile {
    /// The flow's name, entry step and prompt language.
    pub flow: FlowHeader,
    /// The steps, by name; steps refer to each other by these names.
    pub steps: BTreeMap<String, Step>,
    /// Named schedules for `hours` steps.
    #[serde(default)]
    pub schedules: BTreeMap<String, Schedule>,
}

/// The `[flow]` table.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct FlowHeader {
    /// The flow's name (default: the file name without `.toml`).
    #[serde(default)]
    pub name: Option<String>,
    /// The first step.
    pub start: String,
    /// The prompt set: `<prompts_dir>/<language>/` (default `en`). A tag
    /// like `en` or `pt-BR`: letters, digits, `_` and `-`.
    #[serde(default = "default_language")]
    #[schemars(regex(pattern = r"^[A-Za-z0-9_-]+$"))]
    pub language: String,
    /// Variables this flow reads without setting them: those a calling
    /// flow sets before a `goto` into it.
    #[serde(default)]
    pub inputs: Vec<String>,
}

fn default_language() -> String {
    "en".into()
}

/// One step; `type` picks the kind.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Step {
    /// Play prompts, then go on.
    Play(Play),
    /// Play a prompt and wait for one key.
    Menu(Menu),
    /// Collect several digits into a variable.
    Gather(Gather),
    /// Set variables from expressions.
    Set(SetVars),
    /// Go to the first case whose condition holds.
    Branch(Branch),
    /// Open, closed or holiday, by a schedule.
    Hours(Hours),
    /// Look data up (customer by caller number, or HTTP) into variables.
    Lookup(Lookup),
    /// Queue the call for an agent.
    Queue(Queue),
    /// Record a message and create a callback request.
    Voicemail(Voicemail),
    /// Blind transfer to an external number through a trunk.
    Transfer(Transfer),
    /// Jump to a step, or run another flow.
    Goto(Goto),
    /// End a sub-flow (back to the calling `goto`); hang up in a top flow.
    Return(Empty),
    /// End the call.
    Hangup(Empty),
}

impl Step {
    /// The step's `type`.
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Play(_) => "play",
            Step::Menu(_) => "menu",
            Step::Gather(_) => "gather",
            Step::Set(_) => "set",
            Step::Branch(_) => "branch",
            Step::Hours(_) => "hours",
            Step::Lookup(_) => "lookup",
            Step::Queue(_) => "queue",
            Step::Voicemail(_) => "voicemail",
            Step::Transfer(_) => "transfer",
            Step::Goto(_) => "goto",
            Step::Return(_) => "return",
            Step::Hangup(_) => "hangup",
        }
    }

    /// Whether the step waits for the caller (input, an agent, a
    /// recording): a loop must pass through one of these.
    pub fn waits_for_caller(&self) -> bool {
        matches!(
            self,
            Step::Menu(_) | Step::Gather(_) | Step::Queue(_) | Step::Voicemail(_)
        )
    }

    /// Every step this one can go to, with the key naming it
    /// (`options.2`, `cases[0].goto`).
    pub fn targets(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = Vec::new();
        match self {
            Step::Play(s) => out.push(("next".into(), &s.next)),
            Step::Menu(s) => {
                for (digit, target) in &s.options {
                    out.push((format!("options.{digit}"), target));
                }
                out.push(("fallback".into(), &s.fallback));
            }
            Step::Gather(s) => {
                out.push(("next".into(), &s.next));
                out.push(("fallback".into(), &s.fallback));
            }
            Step::Set(s) => out.push(("next".into(), &s.next)),
            Step::Branch(s) => {
                for (i, case) in s.cases.iter().enumerate() {
                    out.push((format!("cases[{i}].goto"), &case.goto));
                }
                out.push(("else".into(), &s.otherwise));
            }
            Step::Hours(s) => {
                out.push(("open".into(), &s.open));
                out.push(("closed".into(), &s.closed));
                if let Some(h) = &s.holiday {
                    out.push(("holiday".into(), h));
                }
            }
            Step::Lookup(s) => {
                out.push(("next".into(), &s.next));
                if let Some(n) = &s.not_found {
                    out.push(("not_found".into(), n));
                }
                out.push(("error".into(), &s.error));
            }
            Step::Queue(s) => out.push(("fallback".into(), &s.fallback)),
            Step::Voicemail(s) => out.push(("next".into(), &s.next)),
            Step::Transfer(s) => out.push(("next".into(), &s.next)),
            Step::Goto(s) => {
                if let Some(step) = &s.step {
                    out.push(("step".into(), step));
                }
                if let Some(next) = &s.next {
                    out.push(("next".into(), next));
                }
            }
            Step::Return(_) | Step::Hangup(_) => {}
        }
        out
    }

    /// The variables the step stores into, with their keys.
    pub fn stores(&self) -> Vec<(String, &str)> {
        match self {
            Step::Set(s) => s
                .vars
                .keys()
                .map(|v| (format!("vars.{v}"), v.as_str()))
                .collect(),
            Step::Gather(g) => vec![("var".into(), g.var.as_str())],
            Step::Lookup(l) => l
                .map
                .iter()
                .map(|(from, v)| (format!("map.{from}"), v.as_str()))
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The variables the step reads (expressions and say-items), with
    /// the key that reads each.
    pub fn reads(&self) -> Vec<(String, &str)> {
        let mut out: Vec<(String, &str)> = Vec::new();
        for (key, items) in self.prompt_lists() {
            for (i, item) in items.iter().enumerate() {
                if let PromptItem::Say(say) = item {
                    out.push((format!("{key}[{i}]"), say.var.as_str()));
                }
            }
        }
        match self {
            Step::Set(s) => {
                for (var, expr) in &s.vars {
                    out.extend(expr.variables().map(|v| (format!("vars.{var}"), v)));
                }
            }
            Step::Branch(b) => {
                for (i, case) in b.cases.iter().enumerate() {
                    out.extend(
                        case.when
                            .variables()
                            .map(|v| (format!("cases[{i}].when"), v)),
                    );
                }
            }
            Step::Transfer(t) => {
                if let Destination::Expr(e) = &t.to {
                    out.extend(e.variables().map(|v| ("to".to_owned(), v)));
                }
            }
            _ => {}
        }
        out
    }

    /// Every prompt list of the step, with its key.
    pub fn prompt_lists(&self) -> Vec<(&'static str, &[PromptItem])> {
        match self {
            Step::Play(s) => vec![("prompts", &s.prompts)],
            Step::Menu(s) => vec![
                ("prompt", &s.prompt),
                ("timeout_prompt", &s.timeout_prompt),
                ("invalid_prompt", &s.invalid_prompt),
            ],
            Step::Gather(s) => vec![("prompt", &s.prompt), ("invalid_prompt", &s.invalid_prompt)],
            Step::Voicemail(s) => vec![("prompt", &s.prompt)],
            _ => Vec::new(),
        }
    }
}

/// An empty step body (`hangup`, `return`).
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Empty {}

// Deserialised by hand rather than `untagged`, so a bad say-item gets its
// own error ("unknown variant `digit`…") instead of "did not match".
/// One item of a prompt list: a prompt file's name, or a value read out.
#[derive(Clone, Debug, JsonSchema)]
#[serde(untagged)]
pub enum PromptItem {
    /// `<prompts_dir>/<language>/<name>.wav`.
    Name(String),
    /// A variable read out from the prompt set.
    Say(Say),
}

impl<'de> Deserialize<'de> for PromptItem {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = PromptItem;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a prompt name or a say-item like { say = \"digits\", var = \"account\" }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<PromptItem, E> {
                Ok(PromptItem::Name(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<PromptItem, A::Error> {
                Say::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(PromptItem::Say)
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// `{ say = "digits", var = "account" }`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Say {
    /// How to read the value.
    pub say: SayKind,
    /// The variable read out.
    pub var: String,
}

/// How a [`Say`] reads its variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum SayKind {
    /// Digit by digit ("one two three").
    Digits,
    /// As a number ("one hundred twenty-three").
    Number,
    /// As an amount of money.
    Amount,
    /// As a time of day.
    Time,
    /// As a date.
    Date,
    /// The prompt whose name is the variable's value (a recorded name,
    /// say); checked when played, not at load.
    Prompt,
}

/// `type = "play"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Play {
    /// Played in order.
    pub prompts: Vec<PromptItem>,
    /// The step after.
    pub next: String,
}

/// `type = "menu"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Menu {
    /// Played before waiting (a key interrupts it).
    pub prompt: Vec<PromptItem>,
    /// Key (`0`-`9`, `*`, `#`, `A`-`D`) → step.
    pub options: BTreeMap<String, String>,
    /// How long to wait for a key after the prompt (seconds, > 0).
    #[serde(default = "default_menu_timeout")]
    pub timeout_seconds: u32,
    /// Played when no key came in time, before the menu repeats.
    #[serde(default)]
    pub timeout_prompt: Vec<PromptItem>,
    /// Played on a key with no option, before the menu repeats.
    #[serde(default)]
    pub invalid_prompt: Vec<PromptItem>,
    /// Repeats after a timeout or invalid key before `fallback`.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The step when retries run out.
    pub fallback: String,
}

fn default_menu_timeout() -> u32 {
    5
}

fn default_retries() -> u32 {
    2
}

/// `type = "gather"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Gather {
    /// The variable the digits go into.
    pub var: String,
    /// Fewest digits accepted (default 1).
    #[serde(default = "default_min_digits")]
    pub min_digits: u32,
    /// Most digits; collection ends when reached.
    pub max_digits: u32,
    /// The key that ends input early (default `#`; not stored).
    #[serde(default = "default_terminator")]
    pub terminator: String,
    /// Longest wait between digits (seconds, > 0).
    #[serde(default = "default_inter_digit")]
    pub inter_digit_timeout_seconds: u32,
    /// Longest wait for the first digit after the prompt (seconds, > 0).
    #[serde(default = "default_first_digit")]
    pub first_digit_timeout_seconds: u32,
    /// A regex the whole input must match (anchored).
    #[serde(default)]
    pub pattern: Option<Pattern>,
    /// Played before collecting.
    pub prompt: Vec<PromptItem>,
    /// Played on input that is too short or does not match, before retrying.
    #[serde(default)]
    pub invalid_prompt: Vec<PromptItem>,
    /// Retries after bad or no input before `fallback`.
    #[serde(default = "default_retries")]
    pub retries: u32,
    /// The step after good input.
    pub next: String,
    /// The step when retries run out.
    pub fallback: String,
}

fn default_min_digits() -> u32 {
    1
}

fn default_terminator() -> String {
    "#".into()
}

fn default_inter_digit() -> u32 {
    5
}

fn default_first_digit() -> u32 {
    10
}

/// A `gather.pattern`, compiled, matched against the whole input.
#[derive(Clone, Debug)]
pub struct Pattern {
    /// As written.
    pub source: String,
    /// `^(?:source)$`.
    pub regex: regex::Regex,
}

impl Pattern {
    /// Whether `input` matches the whole pattern.
    pub fn matches(&self, input: &str) -> bool {
        self.regex.is_match(input)
    }
}

impl<'de> Deserialize<'de> for Pattern {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let source = String::deserialize(d)?;
        let regex = regex::Regex::new(&format!("^(?:{source})$")).map_err(|e| {
            serde::de::Error::custom(format!("bad pattern `{source}`: {}", one_line(&e)))
        })?;
        Ok(Pattern { source, regex })
    }
}

impl JsonSchema for Pattern {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Pattern".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A regular expression (Rust regex syntax) the whole input must match."
        })
    }
}

/// An error's text on one line (regex errors span several).
pub(crate) fn one_line(e: &dyn std::fmt::Display) -> String {
    e.to_string()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `type = "set"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SetVars {
    /// Variable → expression, evaluated in name order.
    pub vars: BTreeMap<String, Expr>,
    /// The step after.
    pub next: String,
}

/// `type = "branch"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Branch {
    /// Tried in order; the first whose `when` is true wins.
    pub cases: Vec<Case>,
    /// The step when no case holds.
    #[serde(rename = "else")]
    pub otherwise: String,
}

/// One `branch` case.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Case {
    /// A boolean expression.
    pub when: Expr,
    /// The step when it holds.
    pub goto: String,
}

/// `type = "hours"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Hours {
    /// A `[schedules.<name>]` of this file.
    pub schedule: String,
    /// The step when open.
    pub open: String,
    /// The step when closed.
    pub closed: String,
    /// The step on a holiday (default: `closed`).
    #[serde(default)]
    pub holiday: Option<String>,
}

impl Hours {
    /// The step for `state` (`holiday` defaults to `closed`).
    pub fn target(&self, state: super::HoursState) -> &str {
        match state {
            super::HoursState::Open => &self.open,
            super::HoursState::Closed => &self.closed,
            super::HoursState::Holiday => self.holiday.as_deref().unwrap_or(&self.closed),
        }
    }
}

/// `type = "lookup"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Lookup {
    /// Where the data comes from.
    pub source: LookupSource,
    /// `http`: the URL (GET or POST).
    #[serde(default)]
    pub url: Option<String>,
    /// `http`: `GET` (default) or `POST`.
    #[serde(default)]
    pub method: Option<HttpMethod>,
    /// `http`: give up after this long (ms, > 0; default 2000); then `error`.
    #[serde(default = "default_lookup_timeout")]
    pub timeout_ms: u32,
    /// `http`: extra request headers.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Result → variable. `customer`: a field (`id`, `name`,
    /// `name_prompt`); `http`: a JSON pointer into the response
    /// (`/customer/name`).
    #[serde(default)]
    pub map: BTreeMap<String, String>,
    /// The step when found.
    pub next: String,
    /// The step when nothing was found (default: `next`).
    #[serde(default)]
    pub not_found: Option<String>,
    /// The step on error or timeout.
    pub error: String,
}

impl Lookup {
    /// The step when nothing was found (`not_found`, else `next`).
    pub fn not_found_step(&self) -> &str {
        self.not_found.as_deref().unwrap_or(&self.next)
    }
}

fn default_lookup_timeout() -> u32 {
    2000
}

/// `lookup.source`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum LookupSource {
    /// The customer whose number is the caller's, from the database.
    Customer,
    /// An external system over HTTP (JSON response).
    Http,
}

/// `lookup.method`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
pub enum HttpMethod {
    /// `GET`.
    #[serde(rename = "GET")]
    Get,
    /// `POST` (the variables as a JSON body).
    #[serde(rename = "POST")]
    Post,
}

/// The customer fields a `lookup` with `source = "customer"` can map.
pub const CUSTOMER_FIELDS: &[&str] = &["id", "name", "name_prompt"];

/// `type = "queue"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Queue {
    /// The queue's name.
    pub queue: String,
    /// Higher is answered first (default 0).
    #[serde(default)]
    pub priority: u32,
    /// Skills an agent needs.
    #[serde(default)]
    pub skills: Vec<Skill>,
    /// The step when the call cannot be queued or leaves the queue
    /// unanswered (until the ACD exists: always).
    pub fallback: String,
}

/// A required skill.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Skill {
    /// The skill's name.
    pub name: String,
    /// The least level an agent needs (default 1).
    #[serde(default = "default_min_level")]
    pub min_level: u32,
}

fn default_min_level() -> u32 {
    1
}

/// `type = "voicemail"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Voicemail {
    /// Played before the beep.
    pub prompt: Vec<PromptItem>,
    /// The longest message (seconds, > 0; default 120).
    #[serde(default = "default_voicemail_max")]
    pub max_seconds: u32,
    /// The step after recording.
    pub next: String,
}

fn default_voicemail_max() -> u32 {
    120
}

/// `type = "transfer"`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Transfer {
    /// The outbound trunk (a `[[trunks]]` name in hibiki.toml).
    pub trunk: String,
    /// A number (`+81312345678`) or an expression giving one.
    pub to: Destination,
    /// `keep` (default) the caller's number, `trunk` the trunk's own, or a
    /// fixed number.
    #[serde(default)]
    pub caller_id: CallerIdRule,
    /// The step when the transfer fails.
    pub next: String,
}

/// `transfer.to`.
#[derive(Clone, Debug)]
pub enum Destination {
    /// A literal number: `+`, digits, `*`, `#`.
    Number(String),
    /// Anything else: an expression.
    Expr(Expr),
}

impl<'de> Deserialize<'de> for Destination {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        if is_number(&text) {
            return Ok(Destination::Number(text));
        }
        Expr::parse(&text)
            .map(Destination::Expr)
            .map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for Destination {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Destination".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A phone number (`+`, digits, `*`, `#`) or an expression giving one."
        })
    }
}

/// Whether `text` is a dialable number: an optional `+`, then digits,
/// `*` or `#`.
pub fn is_number(text: &str) -> bool {
    let rest = text.strip_prefix('+').unwrap_or(text);
    !rest.is_empty()
        && rest
            .chars()
            .all(|c| c.is_ascii_digit() || c == '*' || c == '#')
}

/// `transfer.caller_id`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CallerIdRule {
    /// The caller's number.
    #[default]
    Keep,
    /// The trunk's own number.
    Trunk,
    /// This number.
    Fixed(String),
}

impl<'de> Deserialize<'de> for CallerIdRule {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        match text.as_str() {
            "keep" => Ok(CallerIdRule::Keep),
            "trunk" => Ok(CallerIdRule::Trunk),
            n if is_number(n) => Ok(CallerIdRule::Fixed(text)),
            _ => Err(serde::de::Error::custom(format!(
                "bad caller_id `{text}`: expected \"keep\", \"trunk\" or a number"
            ))),
        }
    }
}

impl JsonSchema for CallerIdRule {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "CallerIdRule".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "\"keep\" (the caller's number), \"trunk\" (the trunk's own) or a fixed number.",
            "anyOf": [
                { "enum": ["keep", "trunk"] },
                { "pattern": "^\\+?[0-9*#]+$" }
            ]
        })
    }
}

/// `type = "goto"`: exactly one of `step` and `flow`.
#[derive(Clone, Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Goto {
    /// A step of this flow.
    #[serde(default)]
    pub step: Option<String>,
    /// Another flow (by name), run from its start. With `next`, it is a
    /// sub-flow: its `return` step comes back here and goes on to `next`;
    /// without, the call stays in that flow.
    #[serde(default)]
    pub flow: Option<String>,
    /// With `flow`: the step after the sub-flow returns.
    #[serde(default)]
    pub next: Option<String>,
}
