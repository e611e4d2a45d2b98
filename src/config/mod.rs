//! Configuration: the TOML file, `HIBIKI_<SECTION>_<KEY>` overrides, the
//! embedded default, and validation that names the key at fault.
//!
//! This module owns the [`Config`] model and everything between a file on
//! disk (or none) and a validated `Config`:
//!
//! 1. **The file** (optional). Parsed with `toml`; every table refuses
//!    unknown keys; a missing scalar key takes its default. A bad value is
//!    reported with the file, the line, the key path (`sip.listen`,
//!    `trunks[0].inbound.sources[1]`) and the reason. With no file the
//!    [embedded default](Config::embedded_default) applies: defaults plus a
//!    `local` trunk for callers on this machine and the number `100`
//!    running the demo IVR flow.
//!    With a file, only what it says applies (no implicit trunks/routes).
//! 2. **The environment.** Every scalar key of every section can be set by
//!    `HIBIKI_<SECTION>_<KEY>` (section names have no underscore, so the
//!    name splits at the first `_` after `HIBIKI_`: `HIBIKI_SIP_T1_MS` is
//!    `sip.t1_ms`). An empty value clears an optional key. A `HIBIKI_`
//!    variable naming no key is an error (typo protection), except the
//!    names in [`ENV_ALLOW_EXACT`], those starting with one of
//!    [`ENV_ALLOW_PREFIXES`], and any variable a `password_env` names.
//! 3. **Secrets.** Trunk passwords come from `password` or, better,
//!    `password_env` (the name of an environment variable), resolved at
//!    load into a [`Secret`] that never prints.
//! 4. **Validation** ([`Config::validate`]) of what types cannot say:
//!    unique trunk names and route numbers, sane timers, a parseable log
//!    filter, reject statuses in 400..=699, a token lifetime above 0, a
//!    known customers region, the syntax of a route's flow name (whether
//!    the flow exists is checked by the server at start, against
//!    `ivr.flows_dir`).
//!
//! `docs/configuration.md` documents every key; keep it in step.

mod error;
mod load;
#[cfg(test)]
mod tests;
mod validate;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

pub use error::{ConfigError, Location};
pub(crate) use load::line_at;

/// `HIBIKI_` variables that are not configuration keys and are ignored by
/// the override check: the config file path read by the CLI.
pub const ENV_ALLOW_EXACT: &[&str] = &["HIBIKI_CONFIG"];

/// Prefixes of `HIBIKI_` variables that are not configuration keys:
/// test harness knobs (`HIBIKI_TEST_*`) and secrets meant to be named by a
/// `password_env` (`HIBIKI_SECRET_*`).
pub const ENV_ALLOW_PREFIXES: &[&str] = &["HIBIKI_TEST_", "HIBIKI_SECRET_"];

/// The whole configuration. See `docs/configuration.md` for every key.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    #[serde(default)]
    pub node: NodeConfig,
    #[serde(default)]
    pub sip: SipConfig,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub data: DataConfig,
    #[serde(default)]
    pub database: DatabaseConfig,
    #[serde(default)]
    pub media: MediaConfig,
    #[serde(default)]
    pub recording: RecordingConfig,
    #[serde(default)]
    pub ivr: IvrConfig,
    #[serde(default)]
    pub log: LogConfig,
    #[serde(default)]
    pub shutdown: ShutdownConfig,
    #[serde(default)]
    pub auth: AuthConfig,
    #[serde(default)]
    pub customers: CustomersConfig,
    /// `[softphone]`: agents' browser softphones (WebRTC).
    #[serde(default)]
    pub softphone: crate::softphone::SoftphoneConfig,
    #[serde(default)]
    pub agents: AgentsConfig,
    /// `[crm]`: an external CRM asked for the caller's record at pop time.
    #[serde(default)]
    pub crm: CrmConfig,
    #[serde(default)]
    pub queues: Vec<QueueConfig>,
    #[serde(default)]
    pub trunks: Vec<TrunkConfig>,
    #[serde(default)]
    pub routes: Vec<RouteConfig>,
}

/// `[node]`: this instance.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Names this node in logs, metrics and call records. Default: the
    /// machine's hostname, else `hibiki`.
    pub id: String,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            id: default_node_id(),
        }
    }
}

/// The machine's hostname, read from the kernel (Linux) or `/etc/hostname`.
fn default_node_id() -> String {
    ["/proc/sys/kernel/hostname", "/etc/hostname"]
        .iter()
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .find(|s| !s.is_empty())
        .unwrap_or_else(|| "hibiki".to_owned())
}

/// `[sip]`: the SIP listener and protocol timers.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SipConfig {
    /// Address for UDP and TCP alike.
    pub listen: SocketAddr,
    pub udp: bool,
    pub tcp: bool,
    /// `host[:port]` written in Via/Contact when behind NAT.
    pub public_address: Option<String>,
    pub user_agent: String,
    /// The digest realm of our challenges.
    pub realm: String,
    /// RFC 3261 T1 (RTT estimate), T2 (max non-INVITE retransmit
    /// interval) and T4 (max message lifetime), in ms.
    pub t1_ms: u64,
    pub t2_ms: u64,
    pub t4_ms: u64,
    /// Beyond this many live calls, new INVITEs get 503.
    pub max_calls: usize,
    /// Digest algorithms our challenges offer, most preferred first
    /// (RFC 8760: `SHA-256` before `MD5`). Some older clients only read
    /// the first challenge and only know MD5: list `["MD5"]` for them.
    pub digest_algorithms: Vec<String>,
}

impl Default for SipConfig {
    fn default() -> Self {
        SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 5060)),
            udp: true,
            tcp: true,
            public_address: None,
            user_agent: concat!("Hibiki/", env!("CARGO_PKG_VERSION")).to_owned(),
            realm: "hibiki".to_owned(),
            t1_ms: 500,
            t2_ms: 4000,
            t4_ms: 5000,
            max_calls: 10_000,
            digest_algorithms: vec!["SHA-256".to_owned(), "MD5".to_owned()],
        }
    }
}

/// `[http]`: the API, metrics and health endpoints.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
        }
    }
}

/// `[data]`: where Hibiki keeps its files.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DataConfig {
    pub dir: PathBuf,
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig {
            dir: PathBuf::from("./data"),
        }
    }
}

/// `[database]`. `Debug` masks a password in the URL.
#[derive(Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; `None` means SQLite under the data
    /// dir: use [`Config::database_url`], which resolves it.
    pub url: Option<String>,
    pub max_connections: u32,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig {
            url: None,
            max_connections: 8,
        }
    }
}

impl fmt::Debug for DatabaseConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseConfig")
            .field("url", &self.url.as_deref().map(redact_url))
            .field("max_connections", &self.max_connections)
            .finish()
    }
}

/// `scheme://user:password@host/…` → `scheme://user:***@host/…`; other
/// URLs unchanged. For showing database URLs.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

/// `[media]`: RTP.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MediaConfig {
    /// The UDP ports RTP sessions take, one per call leg (inclusive).
    pub port_min: u16,
    pub port_max: u16,
    /// The IP written in our SDP (`c=`) when it differs from the address
    /// RTP is bound on (NAT); default: the SIP listen address.
    pub public_address: Option<std::net::IpAddr>,
    /// A call that receives no RTP for this long ends with cause
    /// `media_timeout`; 0 disables the check.
    pub timeout_seconds: u64,
    /// Where prompts live (`<dir>/en/welcome.wav`…).
    pub prompts_dir: PathBuf,
    /// Media-plane worker threads that relay and record bridged calls in
    /// batches (about one per 1,000 bridged calls); 0 keeps each bridge's
    /// media in its call's task.
    pub workers: usize,
    /// Whether the kernel relays the RTP of bridged calls (an eBPF
    /// program; Linux 6.6+, root or CAP_BPF + CAP_NET_ADMIN; see
    /// docs/media.md): `off`, `on` (refuse to start without it) or `auto`
    /// (use it when it loads, say why not when it does not).
    pub kernel_forwarding: KernelForwarding,
    /// The interfaces it is attached to; default: the one(s) holding the
    /// address RTP is bound on (`lo` for 127.0.0.1, every interface for
    /// 0.0.0.0).
    pub kernel_interfaces: Vec<String>,
}

/// `media.kernel_forwarding`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KernelForwarding {
    #[default]
    Off,
    On,
    Auto,
}

impl std::str::FromStr for KernelForwarding {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "off" => Ok(KernelForwarding::Off),
            "on" => Ok(KernelForwarding::On),
            "auto" => Ok(KernelForwarding::Auto),
            other => Err(format!("`{other}` is not one of off, on, auto")),
        }
    }
}

impl Default for MediaConfig {
    fn default() -> Self {
        MediaConfig {
            port_min: 20_000,
            port_max: 29_999,
            public_address: None,
            timeout_seconds: 30,
            prompts_dir: PathBuf::from("ivr-flows/prompts"),
            workers: 1,
            kernel_forwarding: KernelForwarding::Off,
            kernel_interfaces: Vec::new(),
        }
    }
}

/// `[recording]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct RecordingConfig {
    /// Record every answered call.
    pub enabled: bool,
    /// `None` means `<data.dir>/recordings`: use [`Config::recording_dir`].
    pub dir: Option<PathBuf>,
}

impl Default for RecordingConfig {
    fn default() -> Self {
        RecordingConfig {
            enabled: true,
            dir: None,
        }
    }
}

/// `[ivr]`: where the IVR flows are and how changes are picked up.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct IvrConfig {
    /// The folder of flow files (`<name>.toml`), relative to the working
    /// directory like `media.prompts_dir`. Loaded at start; a route with
    /// `action = "ivr"` names a flow in it.
    pub flows_dir: PathBuf,
    /// Reload the flows when a file in `flows_dir` or `media.prompts_dir`
    /// changes (SIGHUP and the admin API reload in any case).
    pub watch: bool,
}

impl Default for IvrConfig {
    fn default() -> Self {
        IvrConfig {
            flows_dir: PathBuf::from("ivr-flows"),
            watch: true,
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Human,
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "human" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format `{other}`, expected `human` or `json`"
            )),
        }
    }
}

/// `[log]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub format: LogFormat,
    /// A `tracing_subscriber::EnvFilter` directive (`info`,
    /// `hibiki=debug,hibiki_sip=info`). `RUST_LOG`, when set, wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Human,
            level: "info".to_owned(),
        }
    }
}

/// `[shutdown]`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After SIGTERM, how long live calls may go on before they are ended.
    pub grace_seconds: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { grace_seconds: 30 }
    }
}

/// `[auth]`: API logins.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// How long a token issued at login stays valid. Must be > 0.
    pub token_ttl_seconds: u64,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            token_ttl_seconds: 8 * 3600,
        }
    }
}

/// `[customers]`: how callers' numbers are read for the caller-id lookup.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CustomersConfig {
    /// The region (ISO 3166-1 code, one of `crate::customer::REGIONS`)
    /// whose dialling plan reads national numbers (`03-1234-5678` in
    /// `JP` is `+81312345678`).
    pub default_region: String,
}

impl Default for CustomersConfig {
    fn default() -> Self {
        CustomersConfig {
            default_region: "JP".to_owned(),
        }
    }
}

/// `[agents]`: what agents' sessions may do.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentsConfig {
    /// The disposition codes a wrap-up may choose from.
    pub dispositions: Vec<String>,
    /// How long an agent whose screen went away (page reload, network)
    /// stays logged in before being logged out; a call in progress goes
    /// on meanwhile and is never dropped for it.
    pub reconnect_grace_seconds: u64,
    /// The trunk (with an `[trunks.outbound]` side) through which agents
    /// transfer callers to external numbers and queues' callbacks dial
    /// customers; unset, such transfers are refused and no queue may
    /// offer callbacks.
    pub transfer_trunk: Option<String>,
}

impl Default for AgentsConfig {
    fn default() -> Self {
        AgentsConfig {
            dispositions: [
                "resolved",
                "follow_up",
                "escalated",
                "wrong_number",
                "no_action",
            ]
            .map(str::to_owned)
            .to_vec(),
            reconnect_grace_seconds: 60,
            transfer_trunk: None,
        }
    }
}

/// `[crm]`: the optional external CRM lookup of the screen pop.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct CrmConfig {
    /// `http(s)://…` with `{caller}` where the caller's number goes
    /// (E.164, percent-encoded). Unset: no CRM lookup.
    pub url: Option<String>,
    /// How long the pop waits for the CRM (ms); then it goes without.
    pub timeout_ms: u64,
    /// Sent as `Authorization: Bearer …`. Set it with `HIBIKI_CRM_TOKEN`,
    /// never in a file under version control.
    pub token: Option<Secret>,
}

impl Default for CrmConfig {
    fn default() -> Self {
        CrmConfig {
            url: None,
            timeout_ms: 300,
            token: None,
        }
    }
}

/// `[[queues]]`: a queue of the ACD.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueConfig {
    /// The name flows' `queue` steps use.
    pub name: String,
    /// Skills every call of the queue needs (a queue step can add more).
    #[serde(default)]
    pub skills: Vec<QueueSkill>,
    /// Service level threshold: a call answered within it is in service level.
    #[serde(default = "default_sla_seconds")]
    pub sla_seconds: u64,
    /// How long an agent's offer rings before ring-no-answer (the agent
    /// goes not ready, the call back to the front of the queue).
    #[serde(default = "default_ring_seconds")]
    pub ring_seconds: u64,
    /// After-call work before the agent is offered calls again.
    #[serde(default = "default_wrap_up_seconds")]
    pub wrap_up_seconds: u64,
    /// The longest a caller waits; then the flow goes on at the queue
    /// step's `fallback` (voicemail, say). 0: no limit.
    #[serde(default)]
    pub max_wait_seconds: u64,
    /// Move waiting calls to `overflow_queue` after this long. 0: never.
    #[serde(default)]
    pub overflow_after_seconds: u64,
    #[serde(default)]
    pub overflow_queue: Option<String>,
    /// Keep callers waiting when no agent who could take the call is
    /// logged in (default: they leave at once, to the step's fallback).
    #[serde(default)]
    pub wait_without_agents: bool,
    /// What callers hear while waiting: a prompt of the flow's language,
    /// looped.
    #[serde(default = "default_music")]
    pub music: String,
    /// Announce the caller's position and estimated wait this often.
    /// 0: never.
    #[serde(default = "default_announce_seconds")]
    pub announce_seconds: u64,
    /// Offer callers who have waited this long to be called back instead,
    /// keeping their place ("press 1"), and again with each announcement.
    /// The callback dials the caller's number through
    /// `agents.transfer_trunk` once an agent has taken it. 0: never.
    #[serde(default)]
    pub callback_offer_seconds: u64,
    /// How many times a callback dials a customer who is not reached
    /// (busy, no answer, unreachable) before it is left open for agents.
    #[serde(default = "default_callback_attempts")]
    pub callback_attempts: u32,
    /// The wait before a callback that did not reach the customer queues
    /// again (at the back).
    #[serde(default = "default_callback_retry_seconds")]
    pub callback_retry_seconds: u64,
    /// The handle time assumed for the estimated wait until the queue has
    /// handled calls.
    #[serde(default = "default_handle_seconds")]
    pub default_handle_seconds: u64,
}

/// A skill a queue requires.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct QueueSkill {
    pub name: String,
    #[serde(default = "default_min_level")]
    pub min_level: u8,
}

fn default_sla_seconds() -> u64 {
    20
}
fn default_ring_seconds() -> u64 {
    15
}
fn default_wrap_up_seconds() -> u64 {
    30
}
fn default_music() -> String {
    "hold-music".to_owned()
}
fn default_callback_attempts() -> u32 {
    3
}
fn default_callback_retry_seconds() -> u64 {
    300
}
fn default_announce_seconds() -> u64 {
    30
}
fn default_handle_seconds() -> u64 {
    180
}
fn default_min_level() -> u8 {
    1
}

impl QueueConfig {
    /// A queue with every default, needing `skill` (if any) at level 1.
    pub fn named(name: &str, skill: Option<&str>) -> QueueConfig {
        QueueConfig {
            name: name.to_owned(),
            skills: skill
                .map(|s| {
                    vec![QueueSkill {
                        name: s.to_owned(),
                        min_level: 1,
                    }]
                })
                .unwrap_or_default(),
            sla_seconds: default_sla_seconds(),
            ring_seconds: default_ring_seconds(),
            wrap_up_seconds: default_wrap_up_seconds(),
            max_wait_seconds: 0,
            overflow_after_seconds: 0,
            overflow_queue: None,
            wait_without_agents: false,
            music: default_music(),
            announce_seconds: default_announce_seconds(),
            callback_offer_seconds: 0,
            callback_attempts: default_callback_attempts(),
            callback_retry_seconds: default_callback_retry_seconds(),
            default_handle_seconds: default_handle_seconds(),
        }
    }
}

/// A password: `Debug`, `Display` and serialization print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The secret itself, for the one place that needs it (digest auth).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str("***")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret)
    }
}

/// `[[trunks]]`: a carrier or PBX we exchange calls with.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkConfig {
    pub name: String,
    pub inbound: Option<TrunkInbound>,
    pub outbound: Option<TrunkOutbound>,
}

/// `[trunks.inbound]`: who may send us calls as this trunk. A request is
/// accepted when its source address is in `sources`, or (when a username
/// is set) when it authenticates by digest.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkInbound {
    /// CIDRs; a bare IP means a single host.
    #[serde(default, deserialize_with = "load::de_sources")]
    pub sources: Vec<ipnet::IpNet>,
    pub username: Option<String>,
    /// Resolved at load from `password` or `password_env`.
    pub password: Option<Secret>,
    /// The environment variable `password` was read from, if any.
    pub password_env: Option<String>,
}

/// The transport used to reach an outbound trunk.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TransportKind {
    #[default]
    Udp,
    Tcp,
}

/// `[trunks.outbound]`: how we place calls through this trunk.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TrunkOutbound {
    /// `host[:port]` of the carrier's proxy (port 5060 when absent).
    pub address: String,
    #[serde(default)]
    pub transport: TransportKind,
    pub username: Option<String>,
    /// Resolved at load from `password` or `password_env`.
    pub password: Option<Secret>,
    /// The environment variable `password` was read from, if any.
    pub password_env: Option<String>,
    /// The host part of our From URI (default: `sip.public_address`).
    pub from_domain: Option<String>,
    /// The codecs offered to this trunk, most preferred first. Empty (the
    /// default): PCMU and PCMA, the caller's codec first so the audio
    /// passes through unconverted when the trunk takes it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<CodecName>,
}

/// A codec named in the configuration.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CodecName {
    /// G.711 µ-law.
    Pcmu,
    /// G.711 A-law.
    Pcma,
}

/// `[[routes]]`: what a dialled number does.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(try_from = "load::RawRoute", into = "load::RawRoute")]
pub struct RouteConfig {
    /// The Request-URI user part it matches, exactly.
    pub number: String,
    pub action: RouteAction,
}

/// What a route does (`action = "…"` in the route's table).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteAction {
    /// The built-in test number: ring (180) for `ring_ms`, then answer
    /// (200); 0 answers at once. A signalling line test.
    Test { ring_ms: u64 },
    /// Refuse with `status` (400..=699) and an optional reason phrase.
    Reject { status: u16, reason: Option<String> },
    /// The media demo: answer, play a welcome prompt, read each pressed
    /// key back, hang up after `#`. Recorded.
    Demo,
    /// Run the IVR flow `flow` (a file `<ivr.flows_dir>/<flow>.toml`,
    /// checked at start and on every reload).
    Ivr { flow: String },
    /// Bridge the call to `to` (default: the dialled number) through the
    /// outbound side of `trunk`: Hibiki places the second leg, relays the
    /// audio between the two and records both. The destination is fixed
    /// here, never taken from the caller, so a route is no open relay.
    Trunk {
        trunk: String,
        to: Option<String>,
        /// Cancel the outbound leg (the caller gets 480) when it rings
        /// longer than this.
        ring_timeout_seconds: u64,
    },
}

impl Config {
    /// Loads `path` (or the embedded default when `None`), applies the
    /// process environment's `HIBIKI_*` overrides, resolves secrets and
    /// validates.
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let env = std::env::vars_os().map(|(k, v)| {
            (
                k.to_string_lossy().into_owned(),
                v.to_string_lossy().into_owned(),
            )
        });
        Config::load_with_env(path, env)
    }

    /// [`Config::load`] with an explicit environment (for tests).
    pub fn load_with_env(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        load::load(path, env.into_iter().collect())
    }

    /// Parses TOML text as if read from `path` (used in messages), with
    /// the given environment. The same as [`Config::load_with_env`]
    /// without the file read.
    pub fn from_toml_str(
        text: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        load::load_text(Some((path, text)), env.into_iter().collect())
    }

    /// The configuration used when no file is given: every default, a
    /// trunk `local` accepting calls from 127.0.0.1 and ::1, and the test
    /// number `100` running the IVR flow `demo` (`ivr-flows/demo.toml`).
    pub fn embedded_default() -> Config {
        let sources = [
            ipnet::IpNet::from(std::net::IpAddr::from([127, 0, 0, 1])),
            ipnet::IpNet::from(std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST)),
        ];
        Config {
            node: NodeConfig::default(),
            sip: SipConfig::default(),
            http: HttpConfig::default(),
            data: DataConfig::default(),
            database: DatabaseConfig::default(),
            media: MediaConfig::default(),
            recording: RecordingConfig::default(),
            ivr: IvrConfig::default(),
            log: LogConfig::default(),
            shutdown: ShutdownConfig::default(),
            auth: AuthConfig::default(),
            customers: CustomersConfig::default(),
            agents: AgentsConfig::default(),
            crm: CrmConfig::default(),
            queues: vec![
                QueueConfig {
                    max_wait_seconds: 600,
                    ..QueueConfig::named("support", Some("support"))
                },
                QueueConfig {
                    overflow_after_seconds: 60,
                    overflow_queue: Some("support".to_owned()),
                    ..QueueConfig::named("billing", Some("billing"))
                },
                QueueConfig::named("operator", Some("operator")),
            ],
            softphone: crate::softphone::SoftphoneConfig::default(),
            trunks: vec![TrunkConfig {
                name: "local".to_owned(),
                inbound: Some(TrunkInbound {
                    sources: sources.to_vec(),
                    username: None,
                    password: None,
                    password_env: None,
                }),
                outbound: None,
            }],
            routes: vec![RouteConfig {
                number: "100".to_owned(),
                action: RouteAction::Ivr {
                    flow: "demo".to_owned(),
                },
            }],
        }
    }

    /// The database URL: `database.url`, else
    /// `sqlite://<data.dir>/hibiki.db`.
    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(url) => url.clone(),
            None => format!(
                "sqlite://{}",
                self.data.dir.join("hibiki.db").to_string_lossy()
            ),
        }
    }

    /// The recordings directory: `recording.dir`, else
    /// `<data.dir>/recordings`.
    pub fn recording_dir(&self) -> PathBuf {
        match &self.recording.dir {
            Some(dir) => dir.clone(),
            None => self.data.dir.join("recordings"),
        }
    }

    /// Checks what the types cannot (see `docs/configuration.md`). Errors
    /// name the key but no location; [`Config::load`] adds the location.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate::check(self).map_err(|(key, reason)| ConfigError::Invalid {
            key: Some(key),
            at: Location::Unknown,
            reason,
        })
    }

    /// The configuration in force as TOML, with derived paths filled in
    /// and secrets masked (trunk passwords, a password in the database
    /// URL): for `hibiki config check --print`.
    pub fn effective_toml(&self) -> String {
        let mut shown = self.clone();
        shown.database.url = Some(redact_url(&self.database_url()));
        shown.recording.dir = Some(self.recording_dir());
        match toml::to_string_pretty(&shown) {
            Ok(text) => format!(
                "# Hibiki: the configuration in force (defaults filled in, secrets shown as ***)\n\n{text}"
            ),
            Err(e) => format!("# the configuration cannot be shown as TOML: {e}\n"),
        }
    }
}
