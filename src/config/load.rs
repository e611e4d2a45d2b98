//! From text and environment to a [`Config`]: parsing with key-precise
//! errors, `HIBIKI_*` overrides, secret resolution, and locating the line
//! a validation error refers to.
//!
//! File errors come from `toml` (which knows the byte span) wrapped by
//! `serde_path_to_error` (which knows the key path); when `toml` has no
//! span, or the error is found later by validation, the key path is looked
//! up in the spanned document (`toml::de::DeTable`) to find its line.

use std::collections::HashMap;
use std::path::Path;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

use super::{validate, Config, ConfigError, Location, RouteAction, RouteConfig, Secret};
use super::{ENV_ALLOW_EXACT, ENV_ALLOW_PREFIXES};

/// Reads `path` (when given) and builds the validated config.
pub(super) fn load(path: Option<&Path>, env: Vec<(String, String)>) -> Result<Config, ConfigError> {
    match path {
        None => load_text(None, env),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_owned(),
                source,
            })?;
            load_text(Some((path, &text)), env)
        }
    }
}

/// Builds the validated config from the file's text (or the embedded
/// default when `None`) and the environment.
pub(super) fn load_text(
    file: Option<(&Path, &str)>,
    env: Vec<(String, String)>,
) -> Result<Config, ConfigError> {
    let mut config = match file {
        None => Config::embedded_default(),
        Some((path, text)) => parse_file(path, text)?,
    };
    let mut locator = Locator {
        file,
        overridden: HashMap::new(),
    };
    // Later duplicates win, as in a shell.
    let env_map: HashMap<&str, &str> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let secret_vars = resolve_secrets(&mut config, &env_map, &locator)?;
    apply_env(&mut config, &env, &secret_vars, &mut locator)?;
    validate::check(&config).map_err(|(key, reason)| locator.error(key, reason))?;
    Ok(config)
}

fn parse_file(path: &Path, text: &str) -> Result<Config, ConfigError> {
    let deserializer = toml::de::Deserializer::parse(text).map_err(|e| ConfigError::Invalid {
        key: None,
        at: Location::File {
            path: path.to_owned(),
            line: e.span().map(|s| line_at(text, s.start)),
        },
        reason: e.message().trim().to_owned(),
    })?;
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        let key = e.path().to_string();
        let key = (key != ".").then_some(key);
        // The key's own line when the file has it (toml's span can be the
        // enclosing array's), else toml's span, else the nearest parent.
        let line = key
            .as_deref()
            .and_then(|k| exact_line_of_key(text, k))
            .or_else(|| e.inner().span().map(|s| line_at(text, s.start)))
            .or_else(|| key.as_deref().and_then(|k| line_of_key(text, k)));
        ConfigError::Invalid {
            key,
            at: Location::File {
                path: path.to_owned(),
                line,
            },
            reason: e.inner().message().trim().to_owned(),
        }
    })
}

/// The 1-based line holding byte `offset` (also used by the IVR flow
/// loader, whose files are TOML too).
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    text.as_bytes()
        .iter()
        .take(offset)
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// The line of `key` (`trunks[1].inbound.sources[0]`) in `text`: of the
/// deepest part of the path the file contains, or `None` when even its
/// first part is absent (the value is a default).
fn line_of_key(text: &str, key: &str) -> Option<usize> {
    find_key(text, key).map(|(line, _)| line)
}

/// The line of `key` only when the file holds the whole path.
fn exact_line_of_key(text: &str, key: &str) -> Option<usize> {
    find_key(text, key).and_then(|(line, exact)| exact.then_some(line))
}

/// The line of the deepest part of `key` present in `text`, and whether
/// that is the whole path.
fn find_key(text: &str, key: &str) -> Option<(usize, bool)> {
    let root = toml::de::DeTable::parse(text).ok()?;
    let mut node = toml::de::DeValue::Table(root.into_inner());
    let mut span = None;
    for part in key.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(at) => (part.get(..at)?, part.get(at..)?),
            None => (part, ""),
        };
        let mut steps: Vec<Result<usize, &str>> = vec![Err(name)];
        for index in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            steps.push(Ok(index.parse().ok()?));
        }
        for step in steps {
            let next = match step {
                Err(name) => node.get(name),
                Ok(index) => node.get(index),
            };
            match next {
                Some(found) => {
                    span = Some(found.span());
                    node = found.get_ref().clone();
                }
                None => return span.map(|s| (line_at(text, s.start), false)),
            }
        }
    }
    span.map(|s| (line_at(text, s.start), true))
}

/// Turns a key and reason into an error at the right location.
struct Locator<'a> {
    file: Option<(&'a Path, &'a str)>,
    /// Key → the environment variable that set it.
    overridden: HashMap<String, String>,
}

impl Locator<'_> {
    fn error(&self, key: String, reason: String) -> ConfigError {
        let at = if let Some(var) = self.overridden.get(&key) {
            Location::Env { var: var.clone() }
        } else if let Some((path, text)) = self.file {
            Location::File {
                path: path.to_owned(),
                line: line_of_key(text, &key),
            }
        } else {
            Location::Unknown
        };
        ConfigError::Invalid {
            key: Some(key),
            at,
            reason,
        }
    }
}

/// Fills trunk passwords from `password_env`; returns the variables named.
fn resolve_secrets(
    config: &mut Config,
    env: &HashMap<&str, &str>,
    locator: &Locator<'_>,
) -> Result<Vec<String>, ConfigError> {
    let mut named = Vec::new();
    for (i, trunk) in config.trunks.iter_mut().enumerate() {
        let slots = [
            trunk
                .inbound
                .as_mut()
                .map(|t| ("inbound", &mut t.password, &t.password_env)),
            trunk
                .outbound
                .as_mut()
                .map(|t| ("outbound", &mut t.password, &t.password_env)),
        ];
        for (side, password, password_env) in slots.into_iter().flatten() {
            let Some(var) = password_env else { continue };
            let key = format!("trunks[{i}].{side}.password_env");
            if password.is_some() {
                return Err(locator.error(key, "set `password` or `password_env`, not both".into()));
            }
            match env.get(var.as_str()).copied() {
                None => {
                    return Err(locator.error(key, format!("environment variable {var} is not set")))
                }
                Some("") => {
                    return Err(locator.error(key, format!("environment variable {var} is empty")))
                }
                Some(value) => *password = Some(Secret::new(value)),
            }
            named.push(var.clone());
        }
    }
    Ok(named)
}

/// The sections whose scalar keys the environment can set.
const SECTIONS: &[&str] = &[
    "node",
    "sip",
    "http",
    "data",
    "database",
    "media",
    "recording",
    "ivr",
    "log",
    "shutdown",
    "auth",
    "customers",
    "agents",
    "softphone",
    "crm",
];

/// Applies every `HIBIKI_<SECTION>_<KEY>` variable, in name order.
fn apply_env(
    config: &mut Config,
    env: &[(String, String)],
    secret_vars: &[String],
    locator: &mut Locator<'_>,
) -> Result<(), ConfigError> {
    let mut vars: Vec<&(String, String)> = env
        .iter()
        .filter(|(name, _)| name.starts_with("HIBIKI_"))
        .filter(|(name, _)| !ENV_ALLOW_EXACT.contains(&name.as_str()))
        .filter(|(name, _)| !ENV_ALLOW_PREFIXES.iter().any(|p| name.starts_with(p)))
        .filter(|(name, _)| !secret_vars.contains(name))
        .collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    for (var, value) in vars {
        let env_error = |key: Option<String>, reason: String| ConfigError::Invalid {
            key,
            at: Location::Env { var: var.clone() },
            reason,
        };
        let rest = var
            .get("HIBIKI_".len()..)
            .unwrap_or("")
            .to_ascii_lowercase();
        let Some((section, name)) = rest.split_once('_') else {
            return Err(env_error(
                None,
                "not a configuration key: expected HIBIKI_<SECTION>_<KEY>".into(),
            ));
        };
        let key = format!("{section}.{name}");
        if section == "trunks" || section == "routes" {
            return Err(env_error(
                None,
                format!("`{section}` can only be set in the config file"),
            ));
        }
        if !SECTIONS.contains(&section) {
            return Err(env_error(
                None,
                format!(
                    "unknown section `{section}` (sections: {}); variables that are not \
                     configuration must start with HIBIKI_TEST_ or HIBIKI_SECRET_",
                    SECTIONS.join(", ")
                ),
            ));
        }
        match set(config, section, name, value) {
            Ok(()) => {
                locator.overridden.insert(key, var.clone());
            }
            Err(None) => return Err(env_error(Some(key.clone()), format!("unknown key `{key}`"))),
            Err(Some(reason)) => return Err(env_error(Some(key), reason)),
        }
    }
    Ok(())
}

/// A list in one environment value: comma-separated, blanks dropped.
fn comma_list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Parses an environment value into a key's type.
fn parse<T: FromStr>(value: &str) -> Result<T, Option<String>>
where
    T::Err: std::fmt::Display,
{
    value
        .trim()
        .parse()
        .map_err(|e| Some(format!("invalid value `{value}`: {e}")))
}

/// An optional string: empty clears it.
fn optional(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

/// Sets one scalar key from its environment value. `Err(None)`: no such key.
fn set(c: &mut Config, section: &str, key: &str, v: &str) -> Result<(), Option<String>> {
    match (section, key) {
        ("node", "id") => c.node.id = v.to_owned(),
        ("sip", "listen") => c.sip.listen = parse(v)?,
        ("sip", "udp") => c.sip.udp = parse(v)?,
        ("sip", "tcp") => c.sip.tcp = parse(v)?,
        ("sip", "public_address") => c.sip.public_address = optional(v),
        ("sip", "user_agent") => c.sip.user_agent = v.to_owned(),
        ("sip", "realm") => c.sip.realm = v.to_owned(),
        ("sip", "t1_ms") => c.sip.t1_ms = parse(v)?,
        ("sip", "t2_ms") => c.sip.t2_ms = parse(v)?,
        ("sip", "t4_ms") => c.sip.t4_ms = parse(v)?,
        ("sip", "max_calls") => c.sip.max_calls = parse(v)?,
        ("sip", "digest_algorithms") => c.sip.digest_algorithms = comma_list(v),
        ("http", "listen") => c.http.listen = parse(v)?,
        ("data", "dir") => c.data.dir = v.into(),
        ("database", "url") => c.database.url = optional(v),
        ("database", "max_connections") => c.database.max_connections = parse(v)?,
        ("media", "port_min") => c.media.port_min = parse(v)?,
        ("media", "port_max") => c.media.port_max = parse(v)?,
        ("media", "public_address") => {
            c.media.public_address = match optional(v) {
                Some(a) => Some(parse(&a)?),
                None => None,
            }
        }
        ("media", "timeout_seconds") => c.media.timeout_seconds = parse(v)?,
        ("media", "prompts_dir") => c.media.prompts_dir = v.into(),
        ("media", "workers") => c.media.workers = parse(v)?,
        ("media", "kernel_forwarding") => c.media.kernel_forwarding = parse(v)?,
        ("media", "kernel_interfaces") => c.media.kernel_interfaces = comma_list(v),
        ("recording", "enabled") => c.recording.enabled = parse(v)?,
        ("recording", "dir") => c.recording.dir = optional(v).map(Into::into),
        ("ivr", "flows_dir") => c.ivr.flows_dir = v.into(),
        ("ivr", "watch") => c.ivr.watch = parse(v)?,
        ("log", "format") => c.log.format = parse(v)?,
        ("log", "level") => c.log.level = v.to_owned(),
        ("shutdown", "grace_seconds") => c.shutdown.grace_seconds = parse(v)?,
        ("auth", "token_ttl_seconds") => c.auth.token_ttl_seconds = parse(v)?,
        ("customers", "default_region") => c.customers.default_region = v.to_owned(),
        ("agents", "dispositions") => c.agents.dispositions = comma_list(v),
        ("agents", "reconnect_grace_seconds") => c.agents.reconnect_grace_seconds = parse(v)?,
        ("agents", "transfer_trunk") => c.agents.transfer_trunk = optional(v),
        ("crm", "url") => c.crm.url = optional(v),
        ("crm", "timeout_ms") => c.crm.timeout_ms = parse(v)?,
        ("crm", "token") => c.crm.token = optional(v).map(Secret::new),
        ("softphone", "bind_ip") => c.softphone.bind_ip = parse(v)?,
        ("softphone", "public_ip") => {
            c.softphone.public_ip = match optional(v) {
                Some(a) => Some(parse(&a)?),
                None => None,
            }
        }
        ("softphone", "port_min") => c.softphone.port_min = parse(v)?,
        ("softphone", "port_max") => c.softphone.port_max = parse(v)?,
        ("softphone", "stun") => c.softphone.stun = comma_list(v),
        ("softphone", "connect_timeout_ms") => c.softphone.connect_timeout_ms = parse(v)?,
        ("softphone", "gather_timeout_ms") => c.softphone.gather_timeout_ms = parse(v)?,
        _ => return Err(None),
    }
    Ok(())
}

/// Parses `sources`: CIDRs, or bare addresses meaning one host. Element
/// by element, so an error names its index (`sources[1]`).
pub(super) fn de_sources<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<ipnet::IpNet>, D::Error> {
    Ok(Vec::<Source>::deserialize(d)?
        .into_iter()
        .map(|s| s.0)
        .collect())
}

/// One entry of `sources`.
struct Source(ipnet::IpNet);

impl<'de> Deserialize<'de> for Source {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<ipnet::IpNet>()
            .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(Source)
            .map_err(|_| {
                serde::de::Error::custom(format!(
                    "`{s}` is neither an IP address nor a CIDR (like 10.0.0.0/8)"
                ))
            })
    }
}

/// A route as written in the file: `action` picks which other keys apply.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    number: String,
    action: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ring_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    trunk: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ring_timeout_seconds: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    flow: Option<String>,
}

impl RawRoute {
    /// The keys that were given, for "only applies to" messages.
    fn given(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        if self.ring_ms.is_some() {
            keys.push("ring_ms");
        }
        if self.status.is_some() {
            keys.push("status");
        }
        if self.reason.is_some() {
            keys.push("reason");
        }
        if self.trunk.is_some() {
            keys.push("trunk");
        }
        if self.to.is_some() {
            keys.push("to");
        }
        if self.ring_timeout_seconds.is_some() {
            keys.push("ring_timeout_seconds");
        }
        if self.flow.is_some() {
            keys.push("flow");
        }
        keys
    }

    /// Refuses keys that `action` does not take.
    fn only(&self, action: &str, allowed: &[&str]) -> Result<(), String> {
        match self.given().into_iter().find(|k| !allowed.contains(k)) {
            Some(key) => Err(format!("`{key}` does not apply to action = \"{action}\"")),
            None => Ok(()),
        }
    }
}

/// How long an outbound leg may ring before it is cancelled, by default.
pub(super) const DEFAULT_RING_TIMEOUT_SECONDS: u64 = 60;

impl TryFrom<RawRoute> for RouteConfig {
    type Error = String;

    fn try_from(raw: RawRoute) -> Result<RouteConfig, String> {
        let action = match raw.action.as_str() {
            "test" => {
                raw.only("test", &["ring_ms"])?;
                RouteAction::Test {
                    ring_ms: raw.ring_ms.unwrap_or(0),
                }
            }
            "reject" => {
                raw.only("reject", &["status", "reason"])?;
                RouteAction::Reject {
                    status: raw
                        .status
                        .ok_or("action = \"reject\" needs a `status` (like 486)")?,
                    reason: raw.reason,
                }
            }
            "demo" => {
                raw.only("demo", &[])?;
                RouteAction::Demo
            }
            "ivr" => {
                raw.only("ivr", &["flow"])?;
                RouteAction::Ivr {
                    flow: raw.flow.ok_or(
                        "action = \"ivr\" needs a `flow` (the name of a flow file in ivr.flows_dir, without .toml)",
                    )?,
                }
            }
            "trunk" => {
                raw.only("trunk", &["trunk", "to", "ring_timeout_seconds"])?;
                RouteAction::Trunk {
                    trunk: raw
                        .trunk
                        .ok_or("action = \"trunk\" needs a `trunk` (the name of a trunk with an [trunks.outbound] table)")?,
                    to: raw.to,
                    ring_timeout_seconds: raw
                        .ring_timeout_seconds
                        .unwrap_or(DEFAULT_RING_TIMEOUT_SECONDS),
                }
            }
            other => {
                return Err(format!(
                    "unknown action `{other}`, expected `ivr`, `demo`, `test`, `reject` or `trunk`"
                ))
            }
        };
        Ok(RouteConfig {
            number: raw.number,
            action,
        })
    }
}

impl From<RouteConfig> for RawRoute {
    fn from(route: RouteConfig) -> RawRoute {
        let mut raw = RawRoute {
            number: route.number,
            action: String::new(),
            ring_ms: None,
            status: None,
            reason: None,
            trunk: None,
            to: None,
            ring_timeout_seconds: None,
            flow: None,
        };
        match route.action {
            RouteAction::Test { ring_ms } => {
                raw.action = "test".into();
                raw.ring_ms = Some(ring_ms);
            }
            RouteAction::Reject { status, reason } => {
                raw.action = "reject".into();
                raw.status = Some(status);
                raw.reason = reason;
            }
            RouteAction::Demo => raw.action = "demo".into(),
            RouteAction::Ivr { flow } => {
                raw.action = "ivr".into();
                raw.flow = Some(flow);
            }
            RouteAction::Trunk {
                trunk,
                to,
                ring_timeout_seconds,
            } => {
                raw.action = "trunk".into();
                raw.trunk = Some(trunk);
                raw.to = to;
                raw.ring_timeout_seconds = Some(ring_timeout_seconds);
            }
        }
        raw
    }
}
