//! IVR flows: the TOML format of `ivr-flows/*.toml`, loading with errors
//! that name file, line and reason, validation (step references,
//! reachability, loops that take no input, prompts, schedules,
//! expressions, patterns), the set of flows in force with its safe
//! reload, and the interpreter that walks a call through a flow. Calls run
//! flows in `call::ivr`; `hibiki ivr simulate` runs them without a phone.
//!
//! - [`flow`]: the types a flow file deserialises into.
//! - [`expr`]: expressions (`set`, `branch`, `transfer.to`).
//! - [`schedule`]: schedules and instant → open / closed / holiday.
//! - [`load`]: file → [`Flow`] or every [`FlowError`].
//! - [`validate`]: the checks types cannot express.
//! - [`say`]: values read out (say-items) → prompt names, per language.
//! - [`run`]: the interpreter, sans-IO (inputs and time in, actions out).
//! - [`simulate`]: a virtual-clock driver of [`run`] for `hibiki ivr simulate`.
//! - [`dip`]: HTTP data dips (the IO of `lookup` with `source = "http"`).
//! - [`registry`]: the flows in force ([`FlowRegistry`], [`FlowSet`]),
//!   replaced whole by a reload only when every flow is valid.
//! - [`reload`]: what triggers a reload (SIGHUP, file changes, the API).
//!
//! `docs/ivr.md` documents the format; `docs/ivr.schema.json` is
//! [`json_schema`]'s output, kept in step by a test.

pub mod dip;
pub mod expr;
pub mod flow;
pub mod load;
pub mod registry;
pub mod reload;
pub mod run;
pub mod say;
pub mod schedule;
pub mod simulate;
pub mod validate;

#[cfg(test)]
mod run_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::PathBuf;

pub use flow::Step;
pub use load::{load_file, load_files, load_text, Context};
pub use registry::{FlowRegistry, FlowSet};
pub use schedule::{HoursState, Schedule};

/// A flow that loaded and validated.
#[derive(Clone, Debug)]
pub struct Flow {
    /// `[flow] name`, which is the file's stem.
    pub name: String,
    /// The file it came from.
    pub path: PathBuf,
    /// The first step (exists).
    pub start: String,
    /// The prompt language (`en`, `ja`).
    pub language: String,
    /// Variables a calling flow provides (`[flow] inputs`).
    pub inputs: Vec<String>,
    /// The steps by name; every name a step uses is a key here.
    pub steps: BTreeMap<String, Step>,
    /// The schedules by name; every `hours` step's schedule is a key here.
    pub schedules: BTreeMap<String, Schedule>,
}

impl Flow {
    /// The step called `name` (every name a validated flow uses exists).
    pub fn step(&self, name: &str) -> Option<&Step> {
        self.steps.get(name)
    }

    /// Every prompt the flow can play, as (language, name): the names its
    /// steps list, `beep` when it takes voicemail, and the whole prompt
    /// set of each say-item kind it uses. (Say-items of kind `prompt`
    /// name theirs at run time.)
    pub fn prompt_files(&self) -> std::collections::BTreeSet<(String, String)> {
        let mut out = std::collections::BTreeSet::new();
        let language = &self.language;
        for step in self.steps.values() {
            if matches!(step, Step::Voicemail(_)) {
                out.insert((language.clone(), "beep".to_owned()));
            }
            for (_, items) in step.prompt_lists() {
                for item in items {
                    match item {
                        flow::PromptItem::Name(name) => {
                            out.insert((language.clone(), name.clone()));
                        }
                        flow::PromptItem::Say(say) => {
                            for name in say::say_prompts(say.say, language) {
                                out.insert((language.clone(), name));
                            }
                        }
                    }
                }
            }
        }
        out
    }
}

/// A flow file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// The file could not be read.
    #[error("{}: cannot read: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Malformed, unknown or inconsistent content.
    #[error("{}{}: {reason}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        /// 1-based, when known.
        line: Option<usize>,
        reason: String,
    },
}

impl FlowError {
    /// The 1-based line at fault, when known.
    pub fn line(&self) -> Option<usize> {
        match self {
            FlowError::Invalid { line, .. } => *line,
            FlowError::Read { .. } => None,
        }
    }
}

/// The JSON Schema of a flow file, pretty-printed with a final newline.
pub fn json_schema() -> String {
    let schema = schemars::schema_for!(flow::FlowFile);
    let mut text = serde_json::to_string_pretty(&schema).unwrap_or_default();
    text.push('\n');
    text
}
