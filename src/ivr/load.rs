//! From a flow file on disk to a validated [`Flow`], or to every error it
//! has, each with the file, the line and the reason.
//!
//! As in [`crate::config`], `toml` parses (knowing byte spans) under
//! `serde_path_to_error` (knowing the key path); validation problems come
//! back as key paths, and the line of a key path is looked up in the
//! spanned document (`toml::de::DeTable`). Steps are an internally tagged
//! enum, which serde buffers, so an error inside a step arrives with the
//! step's path only; the line is then refined to the unknown key it names,
//! or to the value it quotes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::flow::FlowFile;
use super::validate::{self, Problem};
use super::{Flow, FlowError};

/// What a flow is checked against besides itself.
#[derive(Clone, Debug, Default)]
pub struct Context {
    /// Where `<language>/<name>.wav` prompts are; `None`: `prompts/` next
    /// to the flow file.
    pub prompts_dir: Option<PathBuf>,
    /// The flows a `goto` with `flow` may name; `None`: not checked.
    pub known_flows: Option<Vec<String>>,
}

/// Reads, parses and validates one flow file.
pub fn load_file(path: &Path, context: &Context) -> Result<Flow, Vec<FlowError>> {
    let text = std::fs::read_to_string(path).map_err(|source| {
        vec![FlowError::Read {
            path: path.to_owned(),
            source,
        }]
    })?;
    load_text(path, &text, context)
}

/// Parses and validates a flow file's text; `path` names it in errors,
/// gives the default flow name (its stem) and the default prompts folder.
pub fn load_text(path: &Path, text: &str, context: &Context) -> Result<Flow, Vec<FlowError>> {
    let file = parse(path, text).map_err(|e| vec![e])?;
    let name = file.flow.name.clone().unwrap_or_else(|| flow_name(path));
    let prompts_dir = context.prompts_dir.clone().unwrap_or_else(|| {
        path.parent()
            .unwrap_or_else(|| Path::new("."))
            .join("prompts")
    });
    let flow = Flow {
        name,
        path: path.to_owned(),
        start: file.flow.start,
        language: file.flow.language,
        inputs: file.flow.inputs,
        steps: file.steps,
        schedules: file.schedules,
    };
    let problems = validate::check(&flow, &prompts_dir, context.known_flows.as_deref());
    if problems.is_empty() {
        return Ok(flow);
    }
    let mut errors: Vec<FlowError> = problems
        .into_iter()
        .map(|Problem { key, reason }| FlowError::Invalid {
            path: path.to_owned(),
            line: line_of_key(text, &key),
            reason,
        })
        .collect();
    errors.sort_by_key(|e| e.line());
    Err(errors)
}

/// The name a flow file gives its flow when `[flow] name` is absent.
pub fn flow_name(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn parse(path: &Path, text: &str) -> Result<FlowFile, FlowError> {
    let invalid = |line: Option<usize>, reason: String| FlowError::Invalid {
        path: path.to_owned(),
        line,
        reason,
    };
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| {
        invalid(
            e.span().map(|s| line_at(text, s.start)),
            e.message().trim().to_owned(),
        )
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let message = e.inner().message().trim().to_owned();
        let key = (key != ".").then_some(key);
        let refined = key.as_deref().and_then(|k| refine(text, k, &message));
        let line = refined
            .or_else(|| key.as_deref().and_then(|k| exact_line_of_key(text, k)))
            .or_else(|| e.inner().span().map(|s| line_at(text, s.start)))
            .or_else(|| key.as_deref().and_then(|k| line_of_key(text, k)));
        let reason = match key.as_deref().and_then(step_of_key) {
            Some(step) => format!("step `{step}`: {message}"),
            None => match key {
                Some(key) => format!("key `{key}`: {message}"),
                None => message,
            },
        };
        invalid(line, reason)
    })
}

/// `steps.<name>` and deeper → the step name.
fn step_of_key(key: &str) -> Option<&str> {
    let rest = key.strip_prefix("steps.")?;
    Some(rest.split(['.', '[']).next().unwrap_or(rest))
}

/// A more precise line for an error under `key`: the unknown field it
/// names, else the first value under `key` whose text it quotes.
fn refine(text: &str, key: &str, message: &str) -> Option<usize> {
    // An unknown field directly under `key`, or in a table inside it (a
    // say-item); else the first value the message quotes.
    let value = match quoted(message, "unknown field `") {
        Some(field) => {
            if let Some(line) = exact_line_of_key(text, &format!("{key}.{field}")) {
                return Some(line);
            }
            field
        }
        None => quoted(message, "`")?,
    };
    let node = node_at(text, key)?;
    find_value(&node, value).map(|offset| line_at(text, offset))
}

/// The text between `prefix` and the next backtick.
fn quoted<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let start = message.find(prefix)? + prefix.len();
    let rest = message.get(start..)?;
    rest.get(..rest.find('`')?)
}

/// The byte offset of the first string value equal to `wanted` in `node`.
fn find_value(node: &toml::de::DeValue<'_>, wanted: &str) -> Option<usize> {
    use toml::de::DeValue;
    match node {
        DeValue::Table(table) => table.iter().find_map(|(k, v)| {
            if k.get_ref().as_ref() == wanted {
                return Some(k.span().start);
            }
            match v.get_ref() {
                DeValue::String(s) if s.as_ref() == wanted => Some(v.span().start),
                inner => find_value(inner, wanted),
            }
        }),
        DeValue::Array(items) => items.iter().find_map(|v| match v.get_ref() {
            DeValue::String(s) if s.as_ref() == wanted => Some(v.span().start),
            inner => find_value(inner, wanted),
        }),
        _ => None,
    }
}

/// The 1-based line holding byte `offset`.
pub(super) use crate::config::line_at;

/// The line of the deepest part of `key` the file has.
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    find_key(text, key).map(|(line, _, _)| line)
}

/// The line of `key` only when the file holds the whole path.
fn exact_line_of_key(text: &str, key: &str) -> Option<usize> {
    find_key(text, key).and_then(|(line, exact, _)| exact.then_some(line))
}

/// The value at `key`, when the file has it.
fn node_at<'a>(text: &'a str, key: &str) -> Option<toml::de::DeValue<'a>> {
    find_key(text, key).and_then(|(_, exact, node)| if exact { node } else { None })
}

/// Splits `steps.menu.options.2` / `cases[0].goto` into names and indexes.
fn parts(key: &str) -> Option<Vec<Result<usize, &str>>> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(at) => (part.get(..at)?, part.get(at..)?),
            None => (part, ""),
        };
        out.push(Err(name));
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push(Ok(index.parse().ok()?));
        }
    }
    Some(out)
}

/// The line of the deepest part of `key` present in `text`, whether that
/// is the whole path, and the value there.
fn find_key<'a>(text: &'a str, key: &str) -> Option<(usize, bool, Option<toml::de::DeValue<'a>>)> {
    let root = toml::de::DeTable::parse(text).ok()?;
    let mut node = toml::de::DeValue::Table(root.into_inner());
    let mut span = None;
    for step in parts(key)? {
        let next = match step {
            Err(name) => node.get(name),
            Ok(index) => node.get(index),
        };
        match next {
            Some(found) => {
                span = Some(found.span());
                node = found.get_ref().clone();
            }
            None => return span.map(|s| (line_at(text, s.start), false, None)),
        }
    }
    span.map(|s| (line_at(text, s.start), true, Some(node)))
}

/// Loads several flow files; `goto` flows are checked against the files
/// given plus every `*.toml` in their folders. Returns each file's result
/// in order.
pub fn load_files(
    paths: &[PathBuf],
    prompts_dir: Option<&Path>,
) -> Vec<(PathBuf, Result<Flow, Vec<FlowError>>)> {
    let mut known: BTreeMap<String, ()> = BTreeMap::new();
    for path in paths {
        known.insert(flow_name(path), ());
        if let Some(dir) = path.parent() {
            for sibling in flow_files(dir).unwrap_or_default() {
                known.insert(flow_name(&sibling), ());
            }
        }
    }
    let context = Context {
        prompts_dir: prompts_dir.map(Path::to_owned),
        known_flows: Some(known.into_keys().collect()),
    };
    paths
        .iter()
        .map(|p| (p.clone(), load_file(p, &context)))
        .collect()
}

/// The `*.toml` files of `dir`, sorted.
pub fn flow_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "toml") && p.is_file())
        .collect();
    files.sort();
    Ok(files)
}
