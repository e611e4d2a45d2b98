//! # hibiki-agentload — simulated agents for the screen-pop benchmark
//!
//! N agents, each a websocket client of `GET /api/v1/agent/ws` (no media,
//! no browser), all sharing one SIP phone: one UDP socket the tool
//! answers every agent's INVITE on (each agent's device is
//! `sip:agentK@127.0.0.1:PORT`). Calls come from elsewhere (SIPp in
//! `bench/agent_load.sh`) into an IVR queue step; the tool measures, for
//! every `call.offered`, the time from the server's routing decision
//! (`offered_at_us`, its wall clock) to the frame's arrival at the
//! agent's socket (this machine's wall clock: the same one), and the
//! routing decisions per second over the steady window.
//!
//! A run: log in as an admin; create the agents (or reuse them), set
//! their skill and phone; log each in and open its websocket; make it
//! available; write `--ready-file` (the script starts the callers then);
//! from the first offer, run `--duration` seconds (as long as the callers
//! call), then wind down (every agent finishes its call and goes
//! not ready, at most `--drain` seconds), and report (a table, and flat
//! JSON with `--json`). Each agent answers its calls on the phone, hangs
//! up from its screen after `--hold` seconds and wraps up (`resolved`).
//!
//! ## Layout
//! - [`api`]: the REST setup; [`agent`]: one agent's script (IO-free) and
//!   its socket; [`phone`]: the SIP phone (IO-free) and its socket.
//! - [`stats`]: percentiles and the steady window; [`report`]: output.
//!
//! Loopback only: the server and the phone must be on 127.0.0.1.

mod agent;
mod api;
mod cancel;
mod phone;
mod report;
mod stats;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use clap::Parser;
use tokio::net::UdpSocket;
use tokio::task::JoinSet;

use agent::Shared;
use api::{AgentSpec, Api};
use phone::Phone;
use report::{Inputs, Report};

#[derive(Parser, Debug)]
#[command(
    name = "hibiki-agentload",
    version,
    about = "Simulated agents (websocket + one SIP phone) for Hibiki's screen-pop benchmark"
)]
struct Args {
    /// The server's HTTP listener (127.0.0.1 only).
    #[arg(long)]
    http: SocketAddrV4,
    /// An admin's username.
    #[arg(long, env = "AGENTLOAD_ADMIN_USER", default_value = "admin")]
    admin_user: String,
    /// The admin's password.
    #[arg(long, env = "AGENTLOAD_ADMIN_PASSWORD", hide_env_values = true)]
    admin_password: String,
    /// How many agents.
    #[arg(long, default_value_t = 200)]
    agents: usize,
    /// Agents are PREFIX1..PREFIXn.
    #[arg(long, default_value = "agent")]
    prefix: String,
    /// The agents' password (set when they are created; reused agents
    /// must have it).
    #[arg(
        long,
        env = "AGENTLOAD_AGENT_PASSWORD",
        hide_env_values = true,
        default_value = "agentload-bench"
    )]
    agent_password: String,
    /// The skill every agent gets, and its level.
    #[arg(long, default_value = "support")]
    skill: String,
    #[arg(long, default_value_t = 5)]
    level: u8,
    /// The phone's SIP socket (every agent's device); port 0: any.
    #[arg(long, default_value = "127.0.0.1:0")]
    phone: SocketAddrV4,
    /// Seconds an agent stays on a call before hanging up.
    #[arg(long, default_value_t = 3.0)]
    hold: f64,
    /// Seconds the callers call, counted from the first offer.
    #[arg(long, default_value_t = 60.0)]
    duration: f64,
    /// Seconds trimmed at both ends of the calling time for the steady
    /// window.
    #[arg(long, default_value_t = 3.0)]
    warmup: f64,
    /// Seconds allowed for setting up and logging in every agent.
    #[arg(long, default_value_t = 180.0)]
    setup_timeout: f64,
    /// Seconds to wait for the first offer once every agent is ready.
    #[arg(long, default_value_t = 30.0)]
    first_offer_timeout: f64,
    /// Seconds allowed for the agents to finish their calls at the end.
    #[arg(long, default_value_t = 30.0)]
    drain: f64,
    /// Written (empty) once every agent is available.
    #[arg(long)]
    ready_file: Option<PathBuf>,
    /// Where to write the JSON report.
    #[arg(long)]
    json: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("hibiki-agentload: no runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok(report) if report.errors == 0 && report.agents_ready == report.agents => {
            ExitCode::SUCCESS
        }
        Ok(_) => ExitCode::from(1),
        Err(e) => {
            eprintln!("hibiki-agentload: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// Refuses anything but loopback: this is a benchmark tool.
fn check_loopback(what: &str, addr: SocketAddrV4) -> Result<()> {
    if *addr.ip() != Ipv4Addr::LOCALHOST {
        bail!("--{what} must be on 127.0.0.1 (got {addr}): this tool only talks to a local server");
    }
    Ok(())
}

fn seconds(what: &str, s: f64) -> Result<Duration> {
    Duration::try_from_secs_f64(s)
        .with_context(|| format!("--{what} must be a number of seconds ≥ 0"))
}

async fn run(args: Args) -> Result<Report> {
    check_loopback("http", args.http)?;
    check_loopback("phone", args.phone)?;
    if args.agents == 0 {
        bail!("--agents must be at least 1");
    }
    let hold = seconds("hold", args.hold)?;
    let calling = seconds("duration", args.duration)?;
    let setup_timeout = seconds("setup-timeout", args.setup_timeout)?;
    let first_offer_timeout = seconds("first-offer-timeout", args.first_offer_timeout)?;
    let drain = seconds("drain", args.drain)?;
    seconds("warmup", args.warmup)?;

    // The phone and the sink its SDP points at.
    let sip = UdpSocket::bind(args.phone)
        .await
        .context("binding the phone's SIP socket")?;
    let sip_addr = match sip.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        other => bail!("the phone bound {other}"),
    };
    let media = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .context("binding the media sink")?;
    let media_addr = match media.local_addr()? {
        std::net::SocketAddr::V4(a) => a,
        other => bail!("the media sink bound {other}"),
    };
    let (stop_phone, phone_stop) = cancel::pair();
    let phone = Arc::new(Mutex::new(Phone::new(sip_addr, media_addr)));
    let phone_task = tokio::spawn(phone::run(sip, phone.clone(), phone_stop.clone()));
    let sink_task = tokio::spawn(phone::sink(media, phone_stop));

    // Setup over REST: at most 4 requests at once (each user creation and
    // login hashes a password).
    let started = Instant::now();
    let api = Api::new(args.http)?;
    let admin = api.login(&args.admin_user, &args.admin_password).await?;
    let specs: Vec<AgentSpec> = (1..=args.agents)
        .map(|k| AgentSpec {
            username: format!("{}{k}", args.prefix),
            password: args.agent_password.clone(),
            skill: args.skill.clone(),
            level: args.level,
            phone: sip_addr,
        })
        .collect();
    let tokens = tokio::time::timeout(setup_timeout, set_up(&api, &admin, &specs))
        .await
        .context("setting up the agents took longer than --setup-timeout")??;
    println!(
        "{} agents set up and logged in over REST in {:.1} s; phone at {sip_addr}",
        tokens.len(),
        started.elapsed().as_secs_f64()
    );

    // The websockets.
    let shared = Arc::new(Shared::default());
    let (wind_down_all, wind_down) = cancel::pair();
    let (abort_all, abort) = cancel::pair();
    let mut agents = JoinSet::new();
    for token in &tokens {
        agents.spawn(agent::run(
            api::websocket_url(args.http, token),
            hold,
            shared.clone(),
            wind_down.clone(),
            abort.clone(),
        ));
    }
    let deadline = started + setup_timeout;
    while shared.ready.load(Ordering::SeqCst) < args.agents && Instant::now() < deadline {
        if shared.exited.load(Ordering::SeqCst) > 0 {
            break; // an agent failed to connect or lost its socket
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let agents_ready = shared.ready.load(Ordering::SeqCst);
    println!(
        "{agents_ready} of {} agents available {:.1} s after the start",
        args.agents,
        started.elapsed().as_secs_f64()
    );
    if agents_ready == args.agents {
        if let Some(path) = &args.ready_file {
            std::fs::write(path, b"").with_context(|| format!("writing {}", path.display()))?;
        }
        // From the first offer, as long as the callers call.
        let wait_first = Instant::now();
        let first = loop {
            let n = shared.offers.lock().map(|o| o.len()).unwrap_or(0);
            if n > 0 {
                break Some(Instant::now());
            }
            if wait_first.elapsed() >= first_offer_timeout {
                break None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        match first {
            Some(t) => {
                println!("first offer; calling for {:.0} s", calling.as_secs_f64());
                tokio::time::sleep_until((t + calling).into()).await;
            }
            None => eprintln!("no call was offered within --first-offer-timeout"),
        }
    } else {
        eprintln!("not every agent became available: ending the run");
    }

    // Wind down: every agent finishes its call and leaves.
    wind_down_all.fire();
    let mut counters = Vec::with_capacity(args.agents);
    let drained = tokio::time::timeout(drain, async {
        while let Some(joined) = agents.join_next().await {
            if let Ok(c) = joined {
                counters.push(c);
            }
        }
    })
    .await;
    if drained.is_err() {
        eprintln!(
            "{} agents still busy after --drain: closing their sockets",
            agents.len()
        );
        abort_all.fire();
        while let Some(joined) = agents.join_next().await {
            if let Ok(c) = joined {
                counters.push(c);
            }
        }
    }
    // Give the server's last BYEs a moment to reach the phone.
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop_phone.fire();
    let _ = phone_task.await;
    let agent_media_packets = sink_task.await.unwrap_or(0);

    let offers = shared.offers.lock().map(|o| o.clone()).unwrap_or_default();
    let (phone_stats, open) = phone
        .lock()
        .map(|p| (p.stats, p.open_calls()))
        .unwrap_or_default();
    let report = Report::build(&Inputs {
        agents: args.agents,
        agents_ready,
        hold_seconds: hold.as_secs_f64(),
        calling_seconds: calling.as_secs_f64(),
        warmup_seconds: args.warmup,
        offers: &offers,
        counters: &counters,
        phone: phone_stats,
        busy_agents_peak: shared.busy_peak.load(Ordering::SeqCst),
        phone_calls_open_at_end: open as u64,
        agent_media_packets,
    });
    print!("{}", report.table());
    if let Some(path) = &args.json {
        let text = serde_json::to_string_pretty(&report)?;
        std::fs::write(path, text + "\n").with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(report)
}

/// Creates (or reuses) every agent, sets skill and phone, and logs each
/// in; their tokens, in order.
async fn set_up(api: &Api, admin: &str, specs: &[AgentSpec]) -> Result<Vec<String>> {
    let limit = Arc::new(tokio::sync::Semaphore::new(4));
    let mut tasks = JoinSet::new();
    for (i, spec) in specs.iter().cloned().enumerate() {
        let (api, admin, limit) = (api.clone(), admin.to_owned(), limit.clone());
        tasks.spawn(async move {
            let _permit = limit.acquire_owned().await?;
            api.set_up_agent(&admin, &spec).await?;
            let token = api.login(&spec.username, &spec.password).await?;
            anyhow::Ok((i, token))
        });
    }
    let mut tokens = vec![String::new(); specs.len()];
    while let Some(joined) = tasks.join_next().await {
        let (i, token) = joined.context("a setup task failed")??;
        if let Some(slot) = tokens.get_mut(i) {
            *slot = token;
        }
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_loopback_is_accepted() {
        assert!(check_loopback("http", "127.0.0.1:8080".parse().expect("addr")).is_ok());
        assert!(check_loopback("http", "10.0.0.1:8080".parse().expect("addr")).is_err());
        assert!(check_loopback("phone", "0.0.0.0:0".parse().expect("addr")).is_err());
        assert!(check_loopback("phone", "127.0.0.2:0".parse().expect("addr")).is_err());
    }

    #[test]
    fn the_command_line_parses() {
        let a = Args::try_parse_from([
            "hibiki-agentload",
            "--http",
            "127.0.0.1:8080",
            "--admin-password",
            "pw",
            "--agents",
            "3",
            "--hold",
            "0.5",
        ])
        .expect("parses");
        assert_eq!((a.agents, a.hold, a.prefix.as_str()), (3, 0.5, "agent"));
        assert!(seconds("hold", -1.0).is_err());
    }
}
