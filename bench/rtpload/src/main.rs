//! # hibiki-rtpload — SIP + RTP load for Hibiki's media benchmark
//!
//! Places N calls to a SIP server, answers the calls the server places to
//! its trunk (so one process is both ends of a bridged call), sends and
//! receives G.711 RTP at 20 ms on every leg, and reports loss, packet
//! rates, its own CPU and, given the server's PID, the server's CPU per
//! packet, memory per call and the kernel's receive-buffer drops.
//! `check-recordings` then checks the WAVs the server wrote.
//!
//! `floor` needs no server: it measures the floor under the server's CPU
//! per relayed packet, i.e. what the media plane's system-call pattern
//! alone costs on this machine (see [`floor`]). One thread relays
//! like the plane does (1 ms passes on a fixed grid, a level-triggered
//! `epoll_wait` with timeout 0, one `recvfrom` per ready leg socket, a
//! header rewrite, one `sendto` from the other leg's socket), another
//! stands in for the load tool; it reports the relay thread's own CPU
//! (user and system, `getrusage(RUSAGE_THREAD)`) per relayed packet over
//! the steady window, the peer's, and the loss:
//!
//! ```text
//! hibiki-rtpload floor --calls 1000 --duration 20 [--warmup 2]
//!     [--peer-wait socket|timer] [--connected] [--recv-batch] [--json F]
//! ```
//!
//! `--peer-wait socket` (default): the peer sleeps in `ppoll` on its
//! sockets like `run`, so each relayed packet may wake it; `timer`: it
//! sleeps to its next send deadline only. `--connected`: the relay
//! `connect()`s each leg socket once latched and uses `recv`/`send`.
//! `--recv-batch`: `recvmmsg` per ready socket. Everything stops by
//! itself (warm-up + duration + 0.4 s).
//!
//! Why not SIPp: every call of one SIPp instance shares its media port,
//! and its RTP runs in a thread per call; here four sockets serve every
//! call (SIP and RTP for each side), packets go out in `sendmmsg` batches
//! on a 20 ms schedule spread over 1 ms phases, and arrivals are told
//! apart by source port and SSRC. One thread does it all.
//!
//! ## Layout
//! - [`engine`]: sockets, the event loop and the phases of a run;
//!   [`uac`] and [`uas`]: the calling and answering sides' SIP.
//! - [`pacer`]: the 20 ms schedule; [`rtp`]: tones and packets;
//!   [`stream`]: loss/duplicate/reorder/gap accounting per stream.
//! - [`sip`], [`sdp`]: the messages; [`sys`]: the batched system calls
//!   (the crate's only `unsafe`); [`procfs`]: CPU, memory and drop
//!   counters from `/proc`.
//! - [`report`]: figures, table and JSON; [`wavcheck`]: recordings.
//! - [`floor`]: the `floor` subcommand (relay pattern alone).
//! - [`ivr`]: IVR mode (`--ivr`): scripted RFC 4733 keys and the gaps
//!   inside the server's prompts.
//!
//! Loopback only: every address must be 127.0.0.1 (this is a benchmark
//! tool, not a traffic generator for other people's servers).

mod engine;
mod floor;
mod ivr;
mod pacer;
mod procfs;
mod report;
mod rtp;
mod sdp;
mod sip;
mod stream;
mod sys;
mod uac;
mod uas;
mod wavcheck;

use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};

use engine::{Config, Engine, Side};
use rtp::Law;

#[derive(Parser, Debug)]
#[command(
    name = "hibiki-rtpload",
    version,
    about = "SIP + RTP load generator for Hibiki's media benchmark"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Place calls, answer the server's outbound legs, send RTP, report.
    Run(RunArgs),
    /// Check the WAV recordings under a directory.
    CheckRecordings(CheckArgs),
    /// Measure the relay's system-call pattern alone (no server): CPU per
    /// relayed packet of a thread that does only what the media plane
    /// does with the sockets.
    Floor(FloorArgs),
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum PeerWaitArg {
    /// The peer sleeps in ppoll on its sockets (the relay's sends wake it).
    Socket,
    /// The peer sleeps to its next send deadline only.
    Timer,
}

#[derive(clap::Args, Debug)]
struct FloorArgs {
    /// How many bridged calls (two relay sockets each).
    #[arg(long, default_value_t = 1000)]
    calls: u32,
    /// Seconds of the measured steady window.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Seconds of traffic before the window.
    #[arg(long, default_value_t = 2.0)]
    warmup: f64,
    /// How the peer (the load tool's stand-in) waits between sends.
    #[arg(long, value_enum, default_value = "socket")]
    peer_wait: PeerWaitArg,
    /// connect() each leg socket to its peer once latched; recv/send.
    #[arg(long)]
    connected: bool,
    /// One recvmmsg per ready socket instead of one recvfrom.
    #[arg(long)]
    recv_batch: bool,
    /// Receive and send buffer of the peer's two sockets, bytes (the
    /// relay's sockets keep the kernel default, as the server's do).
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    socket_buffer: usize,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum CodecArg {
    Pcmu,
    Pcma,
}

impl From<CodecArg> for Law {
    fn from(c: CodecArg) -> Law {
        match c {
            CodecArg::Pcmu => Law::Ulaw,
            CodecArg::Pcma => Law::Alaw,
        }
    }
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum SideArg {
    Uac,
    Uas,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The server's SIP address (127.0.0.1 only).
    #[arg(long, default_value = "127.0.0.1:5060")]
    target: SocketAddrV4,
    /// The number to call (the Request-URI user).
    #[arg(long, default_value = "200")]
    number: String,
    /// How many concurrent calls.
    #[arg(long, default_value_t = 10)]
    calls: u32,
    /// Calls placed per second during the ramp.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Seconds of steady media once every call is up.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Where the answering side listens (the trunk's address).
    #[arg(long, default_value = "127.0.0.1:5090")]
    uas_listen: SocketAddrV4,
    /// The codec the answering side answers with (pcma forces the server
    /// to transcode when the caller sends pcmu).
    #[arg(long, value_enum, default_value = "pcmu")]
    uas_codec: CodecArg,
    /// The codec the caller offers first.
    #[arg(long, value_enum, default_value = "pcmu")]
    uac_codec: CodecArg,
    /// Which side sends BYE at the end.
    #[arg(long, value_enum, default_value = "uac")]
    hangup: SideArg,
    /// Call the tool's own answering side instead of a server (measures
    /// the tool alone at the same packet rate).
    #[arg(long = "loop")]
    loop_mode: bool,
    /// The server's PID: report its CPU, memory and socket drops.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds a call may take to be answered.
    #[arg(long, default_value_t = 32.0)]
    setup_timeout: f64,
    /// Milliseconds between stopping RTP and the first BYE.
    #[arg(long, default_value_t = 500)]
    drain_ms: u64,
    /// Seconds the teardown may take.
    #[arg(long, default_value_t = 20.0)]
    teardown_timeout: f64,
    /// BYEs per second at teardown.
    #[arg(long, default_value_t = 500.0)]
    bye_rate: f64,
    /// Phases per 20 ms (calls are spread over them): 1, 2, 4, 5, 10 or 20.
    #[arg(long, default_value_t = 20)]
    slots: u32,
    /// Receive and send buffer per socket, bytes.
    #[arg(long, default_value_t = 16 * 1024 * 1024)]
    socket_buffer: usize,
    /// Also write the figures as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// IVR mode: the server answers with prompts (an `ivr` route); measure
    /// the gaps inside its prompts on the caller side.
    #[arg(long)]
    ivr: bool,
    /// IVR mode: keys every caller sends as RFC 4733 events,
    /// `SECONDS:KEYS[,SECONDS:KEYS…]`, seconds from the call's first RTP
    /// packet (keys of one entry 200 ms apart).
    #[arg(long, requires = "ivr")]
    dtmf: Option<String>,
    /// IVR mode: repeat the `--dtmf` script every this many seconds.
    #[arg(long, requires = "dtmf")]
    dtmf_every: Option<f64>,
}

#[derive(clap::Args, Debug)]
struct CheckArgs {
    /// The recordings directory (searched recursively for *.wav).
    dir: PathBuf,
    /// How many recordings there must be.
    #[arg(long)]
    expect_count: Option<usize>,
    /// Shortest acceptable duration, seconds.
    #[arg(long, default_value_t = 0.0)]
    min_seconds: f64,
    /// Longest acceptable duration, seconds.
    #[arg(long, default_value_t = 86400.0)]
    max_seconds: f64,
    /// Check the tone on both channels (bridged calls) or the left only
    /// (the server's own audio on the right).
    #[arg(long, value_enum, default_value = "both")]
    channels: ChannelsArg,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum ChannelsArg {
    Both,
    Left,
}

fn loopback_only(what: &str, addr: SocketAddrV4) -> Result<()> {
    if *addr.ip() != Ipv4Addr::LOCALHOST {
        bail!("{what} must be on 127.0.0.1 (got {addr}): this tool only loads a local server");
    }
    Ok(())
}

fn seconds(what: &str, s: f64) -> Result<Duration> {
    if !s.is_finite() || s < 0.0 {
        bail!("{what} must be a non-negative number of seconds (got {s})");
    }
    Ok(Duration::from_secs_f64(s))
}

fn config(a: &RunArgs) -> Result<Config> {
    loopback_only("--target", a.target)?;
    loopback_only("--uas-listen", a.uas_listen)?;
    if a.uas_listen.port() == 0 {
        bail!("--uas-listen needs a port (the server's trunk points at it)");
    }
    if a.calls == 0 {
        bail!("--calls must be at least 1");
    }
    if !(a.rate > 0.0 && a.rate.is_finite() && a.bye_rate > 0.0 && a.bye_rate.is_finite()) {
        bail!("--rate and --bye-rate must be positive");
    }
    if ![1, 2, 4, 5, 10, 20].contains(&a.slots) {
        bail!("--slots must divide 20 ms evenly: 1, 2, 4, 5, 10 or 20");
    }
    if a.number.is_empty()
        || !a
            .number
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+*#-._".contains(c))
    {
        bail!("--number must be a plain SIP user part (digits, letters, + * # - . _)");
    }
    let ivr = if a.ivr {
        let every = a
            .dtmf_every
            .map(|s| seconds("--dtmf-every", s))
            .transpose()?;
        let script = ivr::Script::parse(a.dtmf.as_deref().unwrap_or(""), every)
            .map_err(|e| anyhow::anyhow!("--dtmf: {e}"))?;
        // Keys up to the run's hard deadline (see `Engine::run`).
        let run_s = f64::from(a.calls) / a.rate
            + a.setup_timeout
            + a.duration
            + a.drain_ms as f64 / 1000.0
            + a.teardown_timeout
            + 5.0;
        let horizon = (run_s.max(0.0) * 50.0).ceil() as u64;
        Some(
            script
                .schedule(horizon)
                .map_err(|e| anyhow::anyhow!("--dtmf: {e}"))?,
        )
    } else {
        None
    };
    Ok(Config {
        ivr,
        target: if a.loop_mode { a.uas_listen } else { a.target },
        number: a.number.clone(),
        calls: a.calls,
        rate: a.rate,
        duration: seconds("--duration", a.duration)?,
        uas_listen: a.uas_listen,
        uas_codec: a.uas_codec.into(),
        uac_codec: a.uac_codec.into(),
        hangup: match a.hangup {
            SideArg::Uac => Side::Uac,
            SideArg::Uas => Side::Uas,
        },
        server_pid: if a.loop_mode { None } else { a.server_pid },
        loop_mode: a.loop_mode,
        setup_timeout: seconds("--setup-timeout", a.setup_timeout)?,
        drain: Duration::from_millis(a.drain_ms),
        teardown_timeout: seconds("--teardown-timeout", a.teardown_timeout)?,
        bye_rate: a.bye_rate,
        slots: a.slots,
        socket_buffer: a.socket_buffer,
    })
}

fn run(a: &RunArgs) -> Result<ExitCode> {
    let cfg = config(a)?;
    if let Some(pid) = cfg.server_pid {
        procfs::status_kb(pid, "VmRSS")
            .with_context(|| format!("reading /proc/{pid}/status (--server-pid)"))?;
    }
    let result = Engine::new(cfg)?.run()?;
    let report = report::build(&result);
    print!("{}", report.to_table());
    if let Some(path) = &a.json {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(if result.aborted.is_some() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

fn floor_run(a: &FloorArgs) -> Result<ExitCode> {
    if a.calls == 0 || a.calls > 20_000 {
        bail!("--calls must be between 1 and 20000 (two sockets each)");
    }
    let duration = seconds("--duration", a.duration)?;
    if duration.is_zero() {
        bail!("--duration must be positive");
    }
    if duration > Duration::from_secs(3600) {
        bail!("--duration must be at most an hour");
    }
    let warmup = seconds("--warmup", a.warmup)?;
    if warmup > Duration::from_secs(600) {
        bail!("--warmup must be at most 600 s");
    }
    let result = floor::run(floor::Config {
        calls: a.calls,
        warmup,
        duration,
        peer_wait: match a.peer_wait {
            PeerWaitArg::Socket => floor::PeerWait::Socket,
            PeerWaitArg::Timer => floor::PeerWait::Timer,
        },
        connected: a.connected,
        recv_batch: a.recv_batch,
        peer_buffer: a.socket_buffer,
    })?;
    let report = floor::report(&result);
    print!("{}", report.to_table());
    if let Some(path) = &a.json {
        std::fs::write(path, report.to_json())
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(ExitCode::SUCCESS)
}

fn check(a: &CheckArgs) -> Result<ExitCode> {
    let channels = match a.channels {
        ChannelsArg::Both => wavcheck::Channels::Both,
        ChannelsArg::Left => wavcheck::Channels::Left,
    };
    let files =
        wavcheck::find_wavs(&a.dir).with_context(|| format!("listing {}", a.dir.display()))?;
    let mut bad = 0usize;
    let (mut min_s, mut max_s) = (f64::INFINITY, 0.0f64);
    let (mut lead, mut trail) = (0usize, 0usize);
    let mut gaps = [0usize; 2];
    for path in &files {
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let fc = wavcheck::check_file(&bytes, channels, a.min_seconds, a.max_seconds);
        min_s = min_s.min(fc.seconds);
        max_s = max_s.max(fc.seconds);
        lead = lead.max(fc.left.leading);
        trail = trail.max(fc.left.trailing);
        if matches!(channels, wavcheck::Channels::Both) {
            lead = lead.max(fc.right.leading);
            trail = trail.max(fc.right.trailing);
        }
        gaps[0] += fc.left.gaps;
        gaps[1] += fc.right.gaps;
        if !fc.problems.is_empty() {
            bad += 1;
            if bad <= 10 {
                println!("BAD {}: {}", path.display(), fc.problems.join("; "));
            }
        }
    }
    let count_ok = a.expect_count.is_none_or_eq(files.len());
    println!(
        "recordings={} bad={} expected={} min_s={:.2} max_s={:.2} max_leading_ms={:.0} max_trailing_ms={:.0} gaps_left={} gaps_right={}",
        files.len(),
        bad,
        a.expect_count.map_or("-".to_owned(), |n| n.to_string()),
        if files.is_empty() { 0.0 } else { min_s },
        max_s,
        lead as f64 / 8.0,
        trail as f64 / 8.0,
        gaps[0],
        gaps[1],
    );
    Ok(if bad == 0 && count_ok && !files.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

trait CountCheck {
    fn is_none_or_eq(&self, n: usize) -> bool;
}

impl CountCheck for Option<usize> {
    fn is_none_or_eq(&self, n: usize) -> bool {
        self.is_none() || *self == Some(n)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Run(a) => run(a),
        Command::CheckRecordings(a) => check(a),
        Command::Floor(a) => floor_run(a),
    };
    match outcome {
        Ok(code) => code,
        Err(e) => {
            eprintln!("hibiki-rtpload: {e:#}");
            ExitCode::FAILURE
        }
    }
}
