//! `hibiki ivr simulate`: the command-line side of
//! [`hibiki::ivr::simulate`] — finds and loads the flows, parses the
//! script from the arguments, answers unscripted lookups for real (the
//! configured database for customers, the network for HTTP dips), and
//! prints the report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context};
use chrono::{DateTime, Utc};
use hibiki::ivr::run::{Ending, LookupRequest, LookupResult};
use hibiki::ivr::simulate::{self, Script, Scripted};
use hibiki::ivr::Flow;

/// The arguments of `hibiki ivr simulate`.
pub struct SimulateRequest {
    pub flow: String,
    pub from: String,
    pub to: String,
    pub digits: Vec<String>,
    pub at: Option<String>,
    pub results: Vec<String>,
    pub flows_dir: Option<PathBuf>,
    pub prompts_dir: Option<PathBuf>,
    pub json: bool,
}

/// Runs the simulation; `Ok` carries the exit code (1 when the flow
/// failed), `Err` a usage or loading problem (exit 2).
pub fn simulate(request: SimulateRequest, config: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let as_file = Path::new(&request.flow);
    let is_file = request.flow.ends_with(".toml") || request.flow.contains('/');
    // A flow name is looked up where the server would find it: the
    // config's `ivr.flows_dir`, with its `media.prompts_dir`.
    let (flows_dir, configured_prompts) = match (&request.flows_dir, is_file) {
        (Some(dir), _) => (dir.clone(), None),
        (None, true) => (
            as_file
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."))
                .to_owned(),
            None,
        ),
        (None, false) => {
            let c = hibiki::config::Config::load(config.as_deref()).map_err(|e| anyhow!("{e}"))?;
            (c.ivr.flows_dir, Some(c.media.prompts_dir))
        }
    };
    let flow_name = if is_file {
        hibiki::ivr::load::flow_name(as_file)
    } else {
        request.flow.clone()
    };
    let prompts_dir = request
        .prompts_dir
        .clone()
        .or(configured_prompts)
        .unwrap_or_else(|| flows_dir.join("prompts"));
    let flows = load_flows(&flows_dir, &prompts_dir)?;
    let flow = flows
        .get(&flow_name)
        .cloned()
        .ok_or_else(|| anyhow!("no flow `{flow_name}` in {}", flows_dir.display()))?;
    let at = match &request.at {
        Some(text) => parse_instant(text)?,
        None => Utc::now(),
    };
    let mut results = BTreeMap::new();
    for item in &request.results {
        let (step, outcome) = item
            .split_once('=')
            .ok_or_else(|| anyhow!("--result `{item}`: expected STEP=OUTCOME"))?;
        let outcome: Scripted = outcome
            .parse()
            .map_err(|e| anyhow!("--result `{item}`: {e}"))?;
        results.insert(step.to_owned(), outcome);
    }
    let script = Script {
        caller: request.from.clone(),
        dialled: request.to.clone(),
        at,
        keys: request.digits.clone(),
        results,
    };

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start a runtime")?;
    let dipper = hibiki::ivr::dip::Dipper::new();
    let mut customers = CustomerSource::new(config);
    let mut lookup = |request: &LookupRequest| -> LookupResult {
        match request {
            LookupRequest::Http { .. } => runtime.block_on(dipper.dip(request)),
            LookupRequest::Customer { caller } => runtime.block_on(customers.find(caller)),
        }
    };
    let mut prompt_ms = |p: &hibiki::ivr::run::PromptRef| simulate::wav_length_ms(&prompts_dir, p);
    let report = simulate::simulate(
        Arc::new(flows.clone()),
        flow,
        &script,
        &mut prompt_ms,
        &mut lookup,
    );
    if request.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.text());
    }
    Ok(match report.ending {
        Ending::Failed { .. } => ExitCode::FAILURE,
        _ => ExitCode::SUCCESS,
    })
}

/// Every flow of `dir`, validated together (sub-flows resolve among them).
fn load_flows(dir: &Path, prompts_dir: &Path) -> anyhow::Result<BTreeMap<String, Arc<Flow>>> {
    let files = hibiki::ivr::load::flow_files(dir)
        .with_context(|| format!("cannot list {}", dir.display()))?;
    if files.is_empty() {
        bail!("no flow files in {}", dir.display());
    }
    let mut flows = BTreeMap::new();
    let mut problems = Vec::new();
    for (_, result) in hibiki::ivr::load_files(&files, Some(prompts_dir)) {
        match result {
            Ok(flow) => {
                flows.insert(flow.name.clone(), Arc::new(flow));
            }
            Err(errors) => problems.extend(errors.iter().map(ToString::to_string)),
        }
    }
    if !problems.is_empty() {
        bail!("invalid flows:\n  {}", problems.join("\n  "));
    }
    Ok(flows)
}

/// RFC 3339, with the seconds optional (`2026-11-23T09:00+09:00`).
fn parse_instant(text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M%:z"))
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M%#z"))
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| {
            anyhow!("--at `{text}`: expected a date and time with an offset, like 2026-11-23T09:00+09:00")
        })
}

/// Customer lookups for the simulator: the configured database (the
/// embedded default's `./data/hibiki.db` without `--config`), opened on
/// first use, never created or migrated.
struct CustomerSource {
    config: Option<PathBuf>,
    opened: Option<Result<(hibiki::store::Store, String), String>>,
}

impl CustomerSource {
    fn new(config: Option<PathBuf>) -> CustomerSource {
        CustomerSource {
            config,
            opened: None,
        }
    }

    async fn open(config: Option<&Path>) -> Result<(hibiki::store::Store, String), String> {
        let config = hibiki::config::Config::load(config).map_err(|e| e.to_string())?;
        let url = config.database_url();
        if let Some(file) = url.strip_prefix("sqlite://") {
            if !Path::new(file).exists() {
                return Err(format!(
                    "no database at {file} (start the server once, or script the lookup with --result)"
                ));
            }
        }
        let store = hibiki::store::Store::connect(&url, 1)
            .await
            .map_err(|e| e.to_string())?;
        Ok((store, config.customers.default_region))
    }

    async fn find(&mut self, caller: &str) -> LookupResult {
        if self.opened.is_none() {
            self.opened = Some(Self::open(self.config.as_deref()).await);
        }
        let (store, region) = match self.opened.as_ref() {
            Some(Ok(opened)) => opened,
            Some(Err(e)) => return LookupResult::Failed(e.clone()),
            None => return LookupResult::Failed("no database".into()),
        };
        hibiki::customer::lookup(store, caller, region).await
    }
}
