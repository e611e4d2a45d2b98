//! Wiring: start every part in order, and stop them in the reverse order.
//!
//! Start: IVR flows (every flow of `ivr.flows_dir` valid, every `ivr`
//! route's flow there, else no start; then the reload triggers: SIGHUP
//! and, with `ivr.watch`, file changes) → database (migrate, close the
//! calls a crash left open, and with the embedded default create the demo
//! users and customers when there are none) → call record writer → SIP
//! sockets → signaling engine → HTTP. Ready (`/readyz`) once all of that
//! stands.
//!
//! Shutdown (SIGTERM or SIGINT): stop accepting calls (new INVITEs get
//! 503 and `/readyz` says so), let live calls finish for up to
//! `shutdown.grace_seconds`, then hang up whatever is left, stop the
//! engine, and flush every queued call record before exiting.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use hibiki_sip::endpoint::{Endpoint, EndpointConfig};
use hibiki_sip::{Host, SipUri, Uri};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{info, warn};

use crate::api::{self, ApiState};
use crate::auth::{accounts, Authenticator, Hasher};
use crate::call::actor::{now_ms, CallContext};
use crate::call::media::MediaContext;
use crate::call::outcome::HangupCause;
use crate::config::{Config, RouteAction};
use crate::ivr::registry::FlowRegistry;
use crate::media::plane::MediaPlane;
use crate::media::ports::PortPool;
use crate::media::recording::repair;
use crate::signaling::door::Door;
use crate::signaling::transport::{self, TcpConnections};
use crate::signaling::{self, EngineParts};
use crate::store::{RecordWriter, RecordingRecord, RecordingStatus, Store};
use crate::telemetry::Metrics;

/// How long, after the grace period, hung-up calls get to finish their BYE.
const HANGUP_BOUND: Duration = Duration::from_secs(8);

/// Opens the database named by the config and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    let url = config.database_url();
    let store = Store::connect(&url, config.database.max_connections)
        .await
        .with_context(|| format!("opening the database {}", redact_url(&url)))?;
    store.migrate().await.context("applying migrations")?;
    Ok(store)
}

/// What the command line decides beyond the config.
#[derive(Clone, Copy, Debug, Default)]
pub struct ServeOptions {
    /// Create the demo users (and print their passwords once) when the
    /// users table is empty: set when running the embedded default (no
    /// config file), the "try it on my laptop" case.
    pub demo_users: bool,
}

/// Runs the server until SIGTERM/SIGINT, then shuts down gracefully.
pub async fn serve(config: Config, options: ServeOptions) -> anyhow::Result<()> {
    let shutdown = CancellationToken::new();
    let signal_token = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal_token.cancel();
    });
    run(config, options, shutdown).await
}

/// Runs the server until `shutdown` is cancelled.
pub async fn run(
    config: Config,
    options: ServeOptions,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let metrics = Metrics::new();
    let flows = load_flows(&config, &metrics)?;
    start_flow_reloads(&config, &flows, &shutdown)?;
    let store = open_store(&config).await?;
    let hasher = Hasher::per_core();
    if options.demo_users {
        create_demo_users(&store, &hasher).await?;
        let seeded = crate::customer::seed_demo_customers(&store, now_ms())
            .await
            .context("creating the demo customers")?;
        if seeded > 0 {
            info!(
                customers = seeded,
                "created the demo customers of the embedded default"
            );
        }
    }
    let auth = Authenticator::new(
        store.clone(),
        hasher,
        Duration::from_secs(config.auth.token_ttl_seconds),
    );
    let closed = store
        .close_orphaned_calls(
            &config.node.id,
            now_ms(),
            HangupCause::ServerRestart.as_str(),
        )
        .await
        .context("closing calls left open by a previous run")?;
    if closed > 0 {
        warn!(
            calls = closed,
            "closed call records left open by a previous run (crash or kill)"
        );
    }
    repair_open_recordings(&config, &store).await?;
    let (records, writer) = RecordWriter::spawn(store.clone());

    // SIP sockets.
    let listen = config.sip.listen;
    let udp = if config.sip.udp {
        Some(Arc::new(UdpSocket::bind(listen).await.with_context(
            || format!("binding SIP UDP on {listen} (sip.listen)"),
        )?))
    } else {
        None
    };
    let tcp_listener = if config.sip.tcp {
        Some(
            TcpListener::bind(listen)
                .await
                .with_context(|| format!("binding SIP TCP on {listen} (sip.listen)"))?,
        )
    } else {
        None
    };
    let http_listener = TcpListener::bind(config.http.listen)
        .await
        .with_context(|| format!("binding HTTP on {} (http.listen)", config.http.listen))?;

    let advertised = advertised_host(&config, listen);
    let endpoint = Endpoint::new(EndpointConfig {
        via_host: advertised.0.clone(),
        via_port: Some(advertised.1),
        timers: hibiki_sip::transaction::Timers {
            t1: Duration::from_millis(config.sip.t1_ms),
            t2: Duration::from_millis(config.sip.t2_ms),
            t4: Duration::from_millis(config.sip.t4_ms),
            // 100 Trying at once: it stops the caller's INVITE retransmissions
            // before any route logic runs, whatever the route does next.
            trying_delay: Duration::ZERO,
            ..Default::default()
        },
        seed: rand::random(),
        ..EndpointConfig::default()
    });

    let (commands_tx, commands_rx) = mpsc::channel(16_384);
    let (stream_tx, stream_rx) = mpsc::channel(16_384);
    let tracker = TaskTracker::new();
    let draining = CancellationToken::new();
    let hard_stop = CancellationToken::new();
    let stop_engine = CancellationToken::new();
    let stop_io = CancellationToken::new();

    let media_ip = match config.media.public_address {
        Some(ip) => ip,
        None => listen.ip(),
    };
    let media = MediaContext::new(
        PortPool::new(config.media.port_min, config.media.port_max),
        listen.ip(),
        media_ip,
        (config.media.timeout_seconds > 0)
            .then(|| Duration::from_secs(config.media.timeout_seconds)),
        config.recording.enabled.then(|| config.recording_dir()),
        config.recording_dir().join("voicemail"),
        config.node.id.clone(),
        &config.media.prompts_dir,
        config.routes.iter().any(|r| r.action == RouteAction::Demo),
    )
    .with_context(|| {
        format!(
            "loading the prompts from {} (media.prompts_dir)",
            config.media.prompts_dir.display()
        )
    })?;
    // Calls find their flows' prompts converted and cached, after every
    // reload too.
    let unloaded = media.preload(flows.current().flows().map(AsRef::as_ref));
    if unloaded > 0 {
        warn!(unloaded, "some prompts of the flows could not be loaded");
    }
    let plane = match config.media.workers {
        0 => None,
        n => Some(start_plane(
            n,
            &config.media,
            listen.ip(),
            media.timeout,
            &metrics,
        )?),
    };
    let media = Arc::new(media.with_plane(plane));
    let refreshed = Arc::clone(&media);
    flows.on_reload(move |set| refreshed.refresh(set));
    let call_commands = commands_tx.clone();
    let acd = crate::acd::service::spawn(
        crate::acd::Acd::new(config.queues.iter().map(queue_settings)),
        config
            .queues
            .iter()
            .map(|q| {
                (
                    q.name.clone(),
                    crate::acd::service::QueueExtras {
                        ring_seconds: q.ring_seconds,
                    },
                )
            })
            .collect(),
        Some(records.clone()),
        config.node.id.clone(),
        Duration::from_secs(config.agents.reconnect_grace_seconds),
        Arc::new(config.softphone.clone()),
    );
    let ctx = CallContext {
        acd: acd.clone(),
        transfer_trunk: config.agents.transfer_trunk.clone(),
        queues: Arc::new(
            config
                .queues
                .iter()
                .map(|q| (q.name.clone(), q.clone()))
                .collect(),
        ),
        sip: commands_tx,
        records: records.clone(),
        metrics: metrics.clone(),
        contact: Uri::Sip(SipUri {
            secure: false,
            user: None,
            password: None,
            host: advertised.0.clone(),
            port: Some(advertised.1),
            params: Vec::new(),
            headers: Vec::new(),
        }),
        hard_stop: hard_stop.clone(),
        media_ip: advertised.0.to_string(),
        media,
        trunks: Arc::new(
            config
                .trunks
                .iter()
                .filter_map(|t| Some((t.name.clone(), t.outbound.clone()?)))
                .collect(),
        ),
        dipper: crate::ivr::dip::Dipper::new(),
        crm: crate::customer::crm::Crm::new(&config.crm, crate::ivr::dip::Dipper::new()),
        customers: crate::call::directory::Directory::new(
            store.clone(),
            records.clone(),
            config.customers.default_region.clone(),
            config.node.id.clone(),
        ),
        flows: flows.clone(),
    };
    let door = Door::new(
        config.trunks.clone(),
        config
            .routes
            .iter()
            .map(|r| (r.number.clone(), r.action.clone())),
        config.sip.realm.clone(),
        hibiki_sip::auth::NonceIssuer::new(
            rand::random::<[u8; 32]>(),
            hibiki_sip::auth::DEFAULT_NONCE_LIFETIME_MS,
        ),
        config
            .sip
            .digest_algorithms
            .iter()
            .filter_map(|a| hibiki_sip::auth::Algorithm::from_token(a))
            .collect(),
    );
    let engine = tokio::spawn(signaling::run(EngineParts {
        endpoint,
        udp,
        local_addr: listen,
        tcp: TcpConnections::default(),
        stream_rx,
        commands_rx,
        door,
        ctx,
        node_id: config.node.id.clone(),
        max_calls: config.sip.max_calls,
        tracker: tracker.clone(),
        draining: draining.clone(),
        stop: stop_engine.clone(),
    }));
    if let Some(listener) = tcp_listener {
        tokio::spawn(transport::accept_loop(listener, stream_tx, stop_io.clone()));
    } else {
        drop(stream_tx);
    }

    let (accepting_tx, accepting) = watch::channel(false);
    let api_state = ApiState {
        metrics: metrics.clone(),
        store: store.clone(),
        accepting,
        auth,
        calls: crate::call::CallControl::new(call_commands),
        recordings_dir: config.recording_dir(),
        flows,
        acd: Some(acd),
        dispositions: config.agents.dispositions.clone().into(),
        default_region: config.customers.default_region.clone(),
        ice_servers: config.softphone.browser_ice_servers().into(),
        number_transfers: config.agents.transfer_trunk.is_some(),
    };
    let http_stop = stop_io.clone();
    let http = tokio::spawn(async move {
        axum::serve(http_listener, api::router(api_state))
            .with_graceful_shutdown(async move { http_stop.cancelled().await })
            .await
    });
    let _ = accepting_tx.send(true);
    info!(
        sip = %listen,
        http = %config.http.listen,
        database = %redact_url(&config.database_url()),
        "hibiki is ready"
    );

    shutdown.cancelled().await;
    let grace = Duration::from_secs(config.shutdown.grace_seconds);
    info!(
        live_calls = tracker.len(),
        ?grace,
        "shutting down: refusing new calls, letting live calls finish"
    );
    let _ = accepting_tx.send(false);
    draining.cancel();
    tracker.close();
    if tokio::time::timeout(grace, tracker.wait()).await.is_err() {
        warn!(
            live_calls = tracker.len(),
            "grace period over: hanging up the remaining calls"
        );
        hard_stop.cancel();
        if tokio::time::timeout(HANGUP_BOUND, tracker.wait())
            .await
            .is_err()
        {
            warn!(live_calls = tracker.len(), "some calls did not end in time");
        }
    }
    stop_engine.cancel();
    let _ = engine.await;
    stop_io.cancel();
    let _ = http.await;
    drop(records);
    writer.finish().await;
    store.close().await;
    info!("stopped");
    Ok(())
}

/// Starts the media plane's `workers`, with kernel forwarding as
/// `media.kernel_forwarding` says: `on` fails the start when the forwarder
/// cannot run; `auto` says why and goes on without it.
fn start_plane(
    workers: usize,
    media: &crate::config::MediaConfig,
    bind_ip: std::net::IpAddr,
    timeout: Option<Duration>,
    metrics: &Metrics,
) -> anyhow::Result<MediaPlane> {
    use crate::config::KernelForwarding;
    let plain = || {
        MediaPlane::start(workers, timeout, &metrics.media_plane)
            .context("starting the media plane's workers")
    };
    if media.kernel_forwarding == KernelForwarding::Off {
        return plain();
    }
    let interfaces = if media.kernel_interfaces.is_empty() {
        crate::media::kernel::interfaces_for(bind_ip).map_err(std::io::Error::other)
    } else {
        Ok(media.kernel_interfaces.clone())
    };
    let started = interfaces.and_then(|interfaces| {
        MediaPlane::start_forwarding(workers, timeout, Some(&interfaces), &metrics.media_plane)
            .map(|plane| (plane, interfaces))
    });
    match (started, media.kernel_forwarding) {
        (Ok((plane, interfaces)), _) => {
            info!(?interfaces, "media: the kernel relays bridged calls' RTP");
            Ok(plane)
        }
        (Err(e), KernelForwarding::Auto) => {
            warn!(error = %e, "media: kernel forwarding unavailable; the media workers relay everything");
            plain()
        }
        (Err(e), _) => {
            Err(e).context("starting kernel forwarding (media.kernel_forwarding = \"on\")")
        }
    }
}

/// A queue of the config as the ACD's core sees it.
fn queue_settings(q: &crate::config::QueueConfig) -> crate::acd::QueueSettings {
    let ms = |s: u64| s.saturating_mul(1000);
    crate::acd::QueueSettings {
        name: q.name.clone(),
        skills: q
            .skills
            .iter()
            .map(|s| crate::acd::SkillNeed {
                skill: s.name.clone(),
                min_level: s.min_level,
            })
            .collect(),
        sla_ms: ms(q.sla_seconds),
        ring_ms: ms(q.ring_seconds),
        wrap_up_ms: ms(q.wrap_up_seconds),
        max_wait_ms: (q.max_wait_seconds > 0).then(|| ms(q.max_wait_seconds)),
        overflow: q
            .overflow_queue
            .as_ref()
            .map(|to| crate::acd::core::Overflow {
                after_ms: ms(q.overflow_after_seconds),
                queue: to.clone(),
            }),
        wait_without_agents: q.wait_without_agents,
        default_handle_ms: ms(q.default_handle_seconds),
    }
}

/// Loads the IVR flows of `ivr.flows_dir`, refusing to start when one is
/// invalid (every problem listed as `file:line: reason`) or when an `ivr`
/// route names a flow that is not there. A server with no IVR route and
/// no flows folder starts with no flows.
fn load_flows(config: &Config, metrics: &Metrics) -> anyhow::Result<FlowRegistry> {
    let dir = &config.ivr.flows_dir;
    let prompts = &config.media.prompts_dir;
    let needed = config
        .routes
        .iter()
        .any(|r| matches!(r.action, RouteAction::Ivr { .. }));
    let registry = if !needed && !dir.exists() {
        info!(dir = %dir.display(), "no IVR flows folder (ivr.flows_dir) and no IVR route: no flows loaded");
        FlowRegistry::empty(dir, prompts)
    } else {
        FlowRegistry::load(dir, prompts).map_err(|errors| {
            let problems: Vec<String> = errors.iter().map(|e| format!("  {e}")).collect();
            anyhow::anyhow!(
                "the IVR flows in {} (ivr.flows_dir) are not valid; not starting:\n{}",
                dir.display(),
                problems.join("\n")
            )
        })?
    };
    registry.require_routes(&config.routes).map_err(|missing| {
        anyhow::anyhow!("a route runs an IVR flow that does not exist; not starting:\n{missing}")
    })?;
    registry.count_reloads_in(metrics.ivr_reloads.clone());
    let set = registry.current();
    info!(
        version = set.version,
        flows = %set.names().join(","),
        dir = %dir.display(),
        "IVR flows loaded"
    );
    Ok(registry)
}

/// Reloads the flows on SIGHUP and, with `ivr.watch`, on file changes,
/// until `stop`. A watch that cannot be set up (inotify limits) is logged,
/// not fatal: SIGHUP and the API still reload.
fn start_flow_reloads(
    config: &Config,
    flows: &FlowRegistry,
    stop: &CancellationToken,
) -> anyhow::Result<()> {
    #[cfg(unix)]
    crate::ivr::reload::on_sighup(flows.clone(), stop.clone())
        .context("installing the SIGHUP handler (IVR flow reload)")?;
    if config.ivr.watch {
        if let Err(e) = crate::ivr::reload::watch_files(flows.clone(), stop.clone()) {
            warn!(error = %e, "cannot watch the IVR files (ivr.watch): reload with SIGHUP or the API");
        }
    }
    Ok(())
}

/// The embedded default's first start: when no user exists, creates the
/// demo users and prints their passwords once, on standard output (not
/// the log, which may be shipped elsewhere and kept).
async fn create_demo_users(store: &Store, hasher: &Hasher) -> anyhow::Result<()> {
    let created = accounts::seed_demo_users(store, hasher)
        .await
        .context("creating the demo users")?;
    if created.is_empty() {
        return Ok(());
    }
    print!("{}", accounts::demo_users_banner(&created));
    info!(
        users = %created.iter().map(|u| u.username.as_str()).collect::<Vec<_>>().join(","),
        "created the demo users of the embedded default; their passwords were printed \
         once on standard output (reset one with `hibiki user passwd USERNAME`)"
    );
    Ok(())
}

/// Recordings a crash left open: repair each file's header (the audio up
/// to the last flush, about a second before the crash, is kept) and close
/// its row, `repaired`, or `failed` when the file is unusable, so no row
/// stays open forever. Files are read back whole for their sha256, so the
/// work runs off the async threads.
async fn repair_open_recordings(config: &Config, store: &Store) -> anyhow::Result<()> {
    let open = store
        .open_recordings(&config.node.id)
        .await
        .context("listing recordings left open")?;
    let root = config.recording_dir();
    for row in open {
        let path = root.join(&row.path);
        let repaired = tokio::task::spawn_blocking(move || repair(&path))
            .await
            .context("recording repair task")?;
        let closed = match repaired {
            Ok(r) => {
                warn!(recording = %row.id, call = %row.call_id, duration_ms = r.duration_ms, "repaired a recording left open by a previous run");
                RecordingRecord {
                    ended_at_ms: Some(now_ms()),
                    duration_ms: r.duration_ms,
                    bytes: r.bytes,
                    sha256: Some(r.sha256),
                    status: RecordingStatus::Repaired,
                    ..row
                }
            }
            Err(e) => {
                warn!(recording = %row.id, call = %row.call_id, error = %e, "a recording left open by a previous run cannot be repaired");
                RecordingRecord {
                    ended_at_ms: Some(now_ms()),
                    status: RecordingStatus::Failed,
                    ..row
                }
            }
        };
        store
            .recording_closed(&closed)
            .await
            .context("closing a repaired recording's row")?;
    }
    Ok(())
}

/// The host and port written in our Via and Contact headers.
fn advertised_host(config: &Config, listen: SocketAddr) -> (Host, u16) {
    if let Some(public) = &config.sip.public_address {
        let (host, port) = match public.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || public.starts_with('[') => {
                (h.to_owned(), p.parse().unwrap_or(listen.port()))
            }
            _ => (public.clone(), listen.port()),
        };
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let host = match host.parse::<std::net::IpAddr>() {
            Ok(std::net::IpAddr::V4(a)) => Host::Ipv4(a),
            Ok(std::net::IpAddr::V6(a)) => Host::Ipv6(a),
            Err(_) => Host::Domain(host),
        };
        return (host, port);
    }
    let host = match listen.ip() {
        std::net::IpAddr::V4(a) => Host::Ipv4(a),
        std::net::IpAddr::V6(a) => Host::Ipv6(a),
    };
    (host, listen.port())
}

/// A database URL without its password, for logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let creds = &url[scheme_end + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{}:***{}", &url[..scheme_end + 3], user, &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => info!("SIGTERM received"),
                    _ = int.recv() => info!("SIGINT received"),
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn database_passwords_never_reach_logs() {
        assert_eq!(
            redact_url("postgres://hibiki:s3cret@db:5432/hibiki"),
            "postgres://hibiki:***@db:5432/hibiki"
        );
        assert_eq!(
            redact_url("sqlite://./data/hibiki.db"),
            "sqlite://./data/hibiki.db"
        );
    }
}
