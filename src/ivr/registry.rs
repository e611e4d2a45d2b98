//! The flows in force, and replacing them safely while calls run.
//!
//! A [`FlowSet`] is every flow of `ivr.flows_dir`, loaded and validated
//! together (a `goto` with `flow` must name a flow of the same set), with
//! a version number. The [`FlowRegistry`] holds the current set behind an
//! `Arc`: a call takes [`FlowRegistry::current`] once, at its start, and
//! runs on that version to its end, however often the flows reload
//! meanwhile; the old set is freed when its last call ends.
//!
//! [`FlowRegistry::reload`] builds a whole new set from the files; only
//! when every file is valid, and every route's flow is still there, does
//! it replace the current one (version + 1). Otherwise the current set
//! stays in force and the problems (file, line, reason) are kept for the
//! API ([`FlowRegistry::last_error`]) and logged. Reloads are serialised;
//! readers never wait for one (the lock guards a pointer swap only).
//!
//! What triggers a reload (SIGHUP, file changes, the admin API) lives in
//! [`super::reload`]; this module reads files but knows nothing of tokio.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, PoisonError, RwLock};

use prometheus::IntCounterVec;
use serde::Serialize;
use tracing::{info, warn};

use super::load::{flow_files, flow_name, load_file, Context};
use super::{Flow, FlowError};
use crate::config::{RouteAction, RouteConfig};

/// Every flow of a folder, valid together, at one version.
#[derive(Debug)]
pub struct FlowSet {
    flows: BTreeMap<String, Arc<Flow>>,
    /// 1 for the set loaded at start, + 1 for each successful reload.
    pub version: u64,
    /// When this set was loaded (ms since the Unix epoch).
    pub loaded_at_ms: i64,
    /// The folder the flows came from (`ivr.flows_dir`).
    pub dir: PathBuf,
}

impl FlowSet {
    /// The flow called `name`.
    pub fn get(&self, name: &str) -> Option<Arc<Flow>> {
        self.flows.get(name).cloned()
    }

    /// The flow names, sorted.
    pub fn names(&self) -> Vec<&str> {
        self.flows.keys().map(String::as_str).collect()
    }

    /// Every flow, by name.
    pub fn flows(&self) -> impl Iterator<Item = &Arc<Flow>> {
        self.flows.values()
    }

    /// How many flows the set has.
    pub fn len(&self) -> usize {
        self.flows.len()
    }

    /// `true` when the set has no flow.
    pub fn is_empty(&self) -> bool {
        self.flows.is_empty()
    }
}

/// A session's `goto` with `flow` finds its flow in the set the call
/// started with.
impl super::run::Flows for FlowSet {
    fn flow(&self, name: &str) -> Option<Arc<Flow>> {
        self.get(name)
    }
}

/// Loads every `*.toml` of `dir` as one set: sub-flows resolve within it,
/// prompts are looked up in `<prompts_dir>/<language>/`. Every error of
/// every file, or the set.
fn load_set(dir: &Path, prompts_dir: &Path, version: u64) -> Result<FlowSet, Vec<FlowError>> {
    let files = flow_files(dir).map_err(|source| {
        vec![FlowError::Read {
            path: dir.to_owned(),
            source,
        }]
    })?;
    let context = Context {
        prompts_dir: Some(prompts_dir.to_owned()),
        known_flows: Some(files.iter().map(|p| flow_name(p)).collect()),
    };
    let mut flows = BTreeMap::new();
    let mut errors = Vec::new();
    for path in &files {
        match load_file(path, &context) {
            Ok(flow) => {
                flows.insert(flow.name.clone(), Arc::new(flow));
            }
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(FlowSet {
        flows,
        version,
        loaded_at_ms: crate::store::now_ms(),
        dir: dir.to_owned(),
    })
}

/// `Ok` when every `action = "ivr"` route names a flow of `set`; else
/// every route that does not, one per line.
pub fn routes_ok(set: &FlowSet, routes: &[RouteConfig]) -> Result<(), String> {
    let missing: Vec<String> = missing_flows(set, routes)
        .into_iter()
        .map(|(i, number, flow)| {
            format!(
                "routes[{i}] (number `{number}`) runs flow `{flow}`, but {} has no {flow}.toml \
                 (flows there: {})",
                set.dir.display(),
                listed(&set.names())
            )
        })
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(missing.join("\n"))
    }
}

/// (route index, number, flow) of each IVR route whose flow `set` lacks.
fn missing_flows<'a>(set: &FlowSet, routes: &'a [RouteConfig]) -> Vec<(usize, &'a str, &'a str)> {
    routes
        .iter()
        .enumerate()
        .filter_map(|(i, route)| match &route.action {
            RouteAction::Ivr { flow } if set.get(flow).is_none() => {
                Some((i, route.number.as_str(), flow.as_str()))
            }
            _ => None,
        })
        .collect()
}

fn listed(names: &[&str]) -> String {
    if names.is_empty() {
        "none".to_owned()
    } else {
        names.join(", ")
    }
}

/// One problem of a refused load, as the API and logs show it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FlowProblem {
    /// The flow file (or the folder, when it cannot be listed).
    pub file: PathBuf,
    /// 1-based, when known.
    pub line: Option<usize>,
    pub reason: String,
}

impl From<&FlowError> for FlowProblem {
    fn from(e: &FlowError) -> FlowProblem {
        match e {
            FlowError::Read { path, source } => FlowProblem {
                file: path.clone(),
                line: None,
                reason: format!("cannot read: {source}"),
            },
            FlowError::Invalid { path, line, reason } => FlowProblem {
                file: path.clone(),
                line: *line,
                reason: reason.clone(),
            },
        }
    }
}

impl fmt::Display for FlowProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.file.display(), self.reason),
            None => write!(f, "{}: {}", self.file.display(), self.reason),
        }
    }
}

/// A reload that took effect.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReloadReport {
    /// The version now in force.
    pub version: u64,
    pub loaded_at_ms: i64,
    /// The flow names, sorted.
    pub flows: Vec<String>,
}

/// The last reload, when it was refused (cleared by the next good one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ReloadFailure {
    /// When it was tried (ms since the Unix epoch).
    pub at_ms: i64,
    /// The version that stayed in force.
    pub kept_version: u64,
    pub problems: Vec<FlowProblem>,
}

/// The flows in force; cheap to clone (every clone shares them).
#[derive(Clone)]
pub struct FlowRegistry {
    inner: Arc<Inner>,
}

struct Inner {
    dir: PathBuf,
    prompts_dir: PathBuf,
    current: RwLock<Arc<FlowSet>>,
    last_error: RwLock<Option<ReloadFailure>>,
    /// The IVR routes (number, flow) a new set must still serve.
    routes: RwLock<Vec<RouteConfig>>,
    /// Held for the whole of a reload: one at a time.
    reloading: Mutex<()>,
    /// `hibiki_ivr_reloads_total{result}`, when metrics are on.
    reloads: OnceLock<IntCounterVec>,
    /// Run with each new set, on the reloading thread.
    hooks: RwLock<Vec<ReloadHook>>,
}

/// What [`FlowRegistry::on_reload`] takes.
type ReloadHook = Box<dyn Fn(&FlowSet) + Send + Sync>;

impl fmt::Debug for FlowRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let current = self.current();
        f.debug_struct("FlowRegistry")
            .field("dir", &self.inner.dir)
            .field("version", &current.version)
            .field("flows", &current.names())
            .finish()
    }
}

impl FlowRegistry {
    /// Loads every flow of `dir` (prompts in `<prompts_dir>/<language>/`)
    /// as version 1; every error of every file when any is invalid.
    pub fn load(dir: &Path, prompts_dir: &Path) -> Result<FlowRegistry, Vec<FlowError>> {
        let set = load_set(dir, prompts_dir, 1)?;
        Ok(FlowRegistry::with_set(dir, prompts_dir, set))
    }

    /// A registry with no flow (version 1), for a server whose flows
    /// folder does not exist and that has no IVR route; a reload loads
    /// the folder once it does.
    pub fn empty(dir: &Path, prompts_dir: &Path) -> FlowRegistry {
        let set = FlowSet {
            flows: BTreeMap::new(),
            version: 1,
            loaded_at_ms: crate::store::now_ms(),
            dir: dir.to_owned(),
        };
        FlowRegistry::with_set(dir, prompts_dir, set)
    }

    fn with_set(dir: &Path, prompts_dir: &Path, set: FlowSet) -> FlowRegistry {
        FlowRegistry {
            inner: Arc::new(Inner {
                dir: dir.to_owned(),
                prompts_dir: prompts_dir.to_owned(),
                current: RwLock::new(Arc::new(set)),
                last_error: RwLock::new(None),
                routes: RwLock::new(Vec::new()),
                reloading: Mutex::new(()),
                reloads: OnceLock::new(),
                hooks: RwLock::new(Vec::new()),
            }),
        }
    }

    /// Counts reloads in `counter` (labelled `result` = `ok` | `error`).
    pub fn count_reloads_in(&self, counter: IntCounterVec) {
        let _ = self.inner.reloads.set(counter);
    }

    /// Checks that the current set has every flow `routes` name
    /// ([`routes_ok`]) and remembers them: a reload that would drop one
    /// of those flows is refused.
    pub fn require_routes(&self, routes: &[RouteConfig]) -> Result<(), String> {
        routes_ok(&self.current(), routes)?;
        *self
            .inner
            .routes
            .write()
            .unwrap_or_else(PoisonError::into_inner) = routes.to_vec();
        Ok(())
    }

    /// The set in force. Keep the `Arc` for as long as it is used (a
    /// whole call): it stays valid whatever reloads meanwhile.
    pub fn current(&self) -> Arc<FlowSet> {
        Arc::clone(
            &self
                .inner
                .current
                .read()
                .unwrap_or_else(PoisonError::into_inner),
        )
    }

    /// The folder flows load from.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The folder prompts are checked in.
    pub fn prompts_dir(&self) -> &Path {
        &self.inner.prompts_dir
    }

    /// Why the last reload was refused, unless a later one succeeded.
    pub fn last_error(&self) -> Option<ReloadFailure> {
        self.inner
            .last_error
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Runs `hook` with every new set a reload puts in force (on the
    /// reloading thread, before [`FlowRegistry::reload`] returns): the
    /// prompt cache refreshes itself this way.
    pub fn on_reload(&self, hook: impl Fn(&FlowSet) + Send + Sync + 'static) {
        self.inner
            .hooks
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .push(Box::new(hook));
    }

    /// Loads the folder again. When every flow is valid and every route's
    /// flow is there, the new set (version + 1) replaces the current one;
    /// otherwise the current set stays and the problems are kept
    /// ([`FlowRegistry::last_error`]). Logged either way. Blocking file
    /// I/O: call it from a blocking thread in async code.
    pub fn reload(&self) -> Result<ReloadReport, Vec<FlowError>> {
        let _one_at_a_time = self
            .inner
            .reloading
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let old = self.current();
        let next = old.version + 1;
        let loaded = load_set(&self.inner.dir, &self.inner.prompts_dir, next)
            .and_then(|set| self.check_routes(set));
        match loaded {
            Ok(set) => {
                let report = ReloadReport {
                    version: set.version,
                    loaded_at_ms: set.loaded_at_ms,
                    flows: set.names().into_iter().map(str::to_owned).collect(),
                };
                let set = Arc::new(set);
                for hook in self
                    .inner
                    .hooks
                    .read()
                    .unwrap_or_else(PoisonError::into_inner)
                    .iter()
                {
                    hook(&set);
                }
                *self
                    .inner
                    .current
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = set;
                *self
                    .inner
                    .last_error
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = None;
                self.count("ok");
                info!(
                    version = report.version,
                    flows = %report.flows.join(","),
                    dir = %self.inner.dir.display(),
                    "IVR flows reloaded"
                );
                Ok(report)
            }
            Err(errors) => {
                let problems: Vec<FlowProblem> = errors.iter().map(FlowProblem::from).collect();
                for problem in &problems {
                    warn!(problem = %problem, "IVR flow reload: problem");
                }
                warn!(
                    problems = problems.len(),
                    kept_version = old.version,
                    dir = %self.inner.dir.display(),
                    "IVR flow reload refused; the flows in force stay"
                );
                *self
                    .inner
                    .last_error
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = Some(ReloadFailure {
                    at_ms: crate::store::now_ms(),
                    kept_version: old.version,
                    problems,
                });
                self.count("error");
                Err(errors)
            }
        }
    }

    /// Refuses a set that lacks a flow a remembered route runs; the error
    /// names the file the flow would be in.
    fn check_routes(&self, set: FlowSet) -> Result<FlowSet, Vec<FlowError>> {
        let routes = self
            .inner
            .routes
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let errors: Vec<FlowError> = missing_flows(&set, &routes)
            .into_iter()
            .map(|(i, number, flow)| FlowError::Invalid {
                path: set.dir.join(format!("{flow}.toml")),
                line: None,
                reason: format!(
                    "flow `{flow}` is gone, but routes[{i}] (number `{number}`) runs it"
                ),
            })
            .collect();
        if errors.is_empty() {
            Ok(set)
        } else {
            Err(errors)
        }
    }

    fn count(&self, result: &str) {
        if let Some(counter) = self.inner.reloads.get() {
            counter.with_label_values(&[result]).inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PROMPTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/ivr-flows/prompts");

    /// A flow that plays `prompt` and hangs up; `goto` adds a sub-flow call.
    fn flow_text(prompt: &str, goto: Option<&str>) -> String {
        let mut text = format!(
            "[flow]\nstart = \"hello\"\n\n[steps.hello]\ntype = \"play\"\n\
             prompts = [\"{prompt}\"]\nnext = \"{}\"\n\n",
            if goto.is_some() { "sub" } else { "bye" }
        );
        if let Some(flow) = goto {
            text.push_str(&format!(
                "[steps.sub]\ntype = \"goto\"\nflow = \"{flow}\"\nnext = \"bye\"\n\n"
            ));
        }
        text.push_str("[steps.bye]\ntype = \"hangup\"\n");
        text
    }

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    fn folder(files: &[(&str, String)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            write(dir.path(), name, text);
        }
        dir
    }

    fn load(dir: &tempfile::TempDir) -> FlowRegistry {
        FlowRegistry::load(dir.path(), Path::new(PROMPTS)).unwrap()
    }

    fn ivr_route(number: &str, flow: &str) -> RouteConfig {
        RouteConfig {
            number: number.into(),
            action: RouteAction::Ivr { flow: flow.into() },
        }
    }

    #[test]
    fn a_folder_loads_as_version_1_with_every_flow() {
        let dir = folder(&[
            ("main.toml", flow_text("welcome", Some("billing"))),
            ("billing.toml", flow_text("goodbye", None)),
            ("notes.txt", "not a flow".into()),
        ]);
        let registry = load(&dir);
        let set = registry.current();
        assert_eq!(set.version, 1);
        assert_eq!(set.names(), ["billing", "main"]);
        assert_eq!(set.dir, dir.path());
        let main = set.get("main").unwrap();
        assert_eq!(main.path, dir.path().join("main.toml"));
        assert!(set.get("notes").is_none());
        assert!(registry.last_error().is_none());
    }

    #[test]
    fn a_sub_flow_must_be_in_the_same_folder() {
        let dir = folder(&[("main.toml", flow_text("welcome", Some("elsewhere")))]);
        let errors = FlowRegistry::load(dir.path(), Path::new(PROMPTS)).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(shown[0].ends_with("main.toml:11: step `sub`: unknown flow `elsewhere`"));
    }

    #[test]
    fn every_error_of_every_file_is_reported() {
        let dir = folder(&[
            ("a.toml", flow_text("no-such-prompt", None)),
            (
                "b.toml",
                "[flow]\nstart = \"x\"\n\n[steps.bye]\ntype = \"hangup\"\n".into(),
            ),
            ("c.toml", flow_text("welcome", None)),
        ]);
        let errors = FlowRegistry::load(dir.path(), Path::new(PROMPTS)).unwrap_err();
        let problems: Vec<FlowProblem> = errors.iter().map(FlowProblem::from).collect();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert_eq!(problems[0].file, dir.path().join("a.toml"));
        assert_eq!(problems[0].line, Some(6));
        assert!(problems[0]
            .reason
            .contains("missing prompt `no-such-prompt`"));
        assert_eq!(problems[1].file, dir.path().join("b.toml"));
        assert_eq!(problems[1].line, Some(2));
        assert!(problems[1].reason.contains("start step `x` does not exist"));
    }

    #[test]
    fn a_missing_folder_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let gone = dir.path().join("flows");
        let errors = FlowRegistry::load(&gone, Path::new(PROMPTS)).unwrap_err();
        let problem = FlowProblem::from(&errors[0]);
        assert_eq!(problem.file, gone);
        assert!(problem.reason.starts_with("cannot read"), "{problem}");
    }

    #[test]
    fn a_good_reload_makes_the_next_version() {
        let dir = folder(&[("main.toml", flow_text("welcome", None))]);
        let registry = load(&dir);
        write(dir.path(), "extra.toml", &flow_text("goodbye", None));
        let report = registry.reload().unwrap();
        assert_eq!(report.version, 2);
        assert_eq!(report.flows, ["extra", "main"]);
        let set = registry.current();
        assert_eq!((set.version, set.names()), (2, vec!["extra", "main"]));
        assert_eq!(report.loaded_at_ms, set.loaded_at_ms);
    }

    #[test]
    fn a_broken_file_keeps_the_old_version_and_says_where() {
        let dir = folder(&[("main.toml", flow_text("welcome", None))]);
        let registry = load(&dir);
        let before = registry.current();
        write(
            dir.path(),
            "main.toml",
            &flow_text("welcome", None).replace("next = \"bye\"", "next = \"by\""),
        );
        let errors = registry.reload().unwrap_err();
        // The unknown step, and `bye` no longer reachable.
        assert_eq!(errors.len(), 2);
        // The old set is still the one in force: the very same Arc.
        let after = registry.current();
        assert!(Arc::ptr_eq(&before, &after));
        assert_eq!(after.version, 1);
        let failure = registry.last_error().unwrap();
        assert_eq!(failure.kept_version, 1);
        let main = dir.path().join("main.toml");
        assert_eq!(
            failure.problems,
            [
                FlowProblem {
                    file: main.clone(),
                    line: Some(7),
                    reason: "step `hello`: `next` goes to unknown step `by`".into(),
                },
                FlowProblem {
                    file: main,
                    line: Some(9),
                    reason: "step `bye` is not reachable from start `hello`".into(),
                }
            ]
        );
        // Fixed: the next reload succeeds, skipping no version, and the
        // error is cleared.
        write(dir.path(), "main.toml", &flow_text("goodbye", None));
        assert_eq!(registry.reload().unwrap().version, 2);
        assert!(registry.last_error().is_none());
    }

    #[test]
    fn a_removed_flow_disappears_unless_a_route_runs_it() {
        let dir = folder(&[
            ("main.toml", flow_text("welcome", None)),
            ("old.toml", flow_text("goodbye", None)),
        ]);
        let registry = load(&dir);
        registry
            .require_routes(&[ivr_route("100", "main")])
            .unwrap();
        std::fs::remove_file(dir.path().join("old.toml")).unwrap();
        let report = registry.reload().unwrap();
        assert_eq!(report.flows, ["main"]);
        assert!(registry.current().get("old").is_none());

        // Removing the flow a route runs is refused: the old set stays.
        std::fs::remove_file(dir.path().join("main.toml")).unwrap();
        let errors = registry.reload().unwrap_err();
        let problem = FlowProblem::from(&errors[0]);
        assert_eq!(problem.file, dir.path().join("main.toml"));
        assert_eq!(
            problem.reason,
            "flow `main` is gone, but routes[0] (number `100`) runs it"
        );
        assert_eq!(registry.current().version, 2);
        assert!(registry.current().get("main").is_some());
    }

    #[test]
    fn a_call_in_progress_keeps_its_version() {
        let dir = folder(&[("main.toml", flow_text("welcome", None))]);
        let registry = load(&dir);
        // A call starts: it takes the set (and its flow) once.
        let call_set = registry.current();
        let call_flow = call_set.get("main").unwrap();
        write(dir.path(), "main.toml", &flow_text("goodbye", None));
        registry.reload().unwrap();
        // New calls see version 2 and the new prompt…
        let new_flow = registry.current().get("main").unwrap();
        assert_eq!(registry.current().version, 2);
        assert_eq!(prompt_of(&new_flow), "goodbye");
        // …the call in progress still runs version 1, unchanged.
        assert_eq!(call_set.version, 1);
        assert_eq!(prompt_of(&call_flow), "welcome");
        assert_eq!(prompt_of(&call_set.get("main").unwrap()), "welcome");
    }

    /// The first prompt of the flow's `hello` step.
    fn prompt_of(flow: &Flow) -> &str {
        use crate::ivr::flow::PromptItem;
        match flow.step("hello") {
            Some(crate::ivr::Step::Play(play)) => match play.prompts.first() {
                Some(PromptItem::Name(name)) => name,
                other => panic!("not a prompt name: {other:?}"),
            },
            other => panic!("not a play step: {other:?}"),
        }
    }

    #[test]
    fn a_set_serves_sub_flows_to_the_interpreter() {
        let dir = folder(&[
            ("main.toml", flow_text("welcome", Some("billing"))),
            ("billing.toml", flow_text("goodbye", None)),
        ]);
        let set: Arc<dyn crate::ivr::run::Flows> = load(&dir).current();
        assert_eq!(set.flow("billing").unwrap().name, "billing");
        assert!(set.flow("sales").is_none());
    }

    #[test]
    fn routes_must_name_flows_of_the_set() {
        let dir = folder(&[("main.toml", flow_text("welcome", None))]);
        let registry = load(&dir);
        let routes = [
            ivr_route("100", "main"),
            RouteConfig {
                number: "200".into(),
                action: RouteAction::Demo,
            },
            ivr_route("300", "sales"),
        ];
        let e = routes_ok(&registry.current(), &routes).unwrap_err();
        assert_eq!(
            e,
            format!(
                "routes[2] (number `300`) runs flow `sales`, but {} has no sales.toml (flows there: main)",
                dir.path().display()
            )
        );
        assert!(registry.require_routes(&routes).is_err());
        assert!(registry.require_routes(&routes[..2]).is_ok());
    }

    #[test]
    fn reloads_are_counted_by_result() {
        let dir = folder(&[("main.toml", flow_text("welcome", None))]);
        let registry = load(&dir);
        let metrics = crate::telemetry::Metrics::new();
        registry.count_reloads_in(metrics.ivr_reloads.clone());
        registry.reload().unwrap();
        write(dir.path(), "bad.toml", "[flow\n");
        registry.reload().unwrap_err();
        registry.reload().unwrap_err();
        let text = metrics.render();
        assert!(
            text.contains("hibiki_ivr_reloads_total{result=\"ok\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hibiki_ivr_reloads_total{result=\"error\"} 2"),
            "{text}"
        );
    }
}
