//! The figures of a run, derived from the raw counters and snapshots,
//! written as a text table (for people) and as flat JSON, one key per
//! line (for `bench/media_load.sh`, which reads it with awk).
//!
//! Definitions:
//! - **end-to-end loss** (per direction): packets the tool sent on one
//!   leg type against distinct packets received on the other, over the
//!   whole run. Every stream stops at once before any BYE, so there is no
//!   edge effect. Only meaningful when the server bridges (or `--loop`).
//! - **sequence loss**: gaps in the sequence numbers of what arrived (the
//!   server renumbers what it relays, so this is the server → tool hop).
//! - **per second** figures and CPU per packet: the steady window only.
//! - **server CPU per packet**: server CPU seconds in the window divided
//!   by the packets it relayed in the window (= packets the tool received
//!   from it) when it bridges; by the packets it received (= the tool
//!   sent) when it only answers (the demo route).
//! - **machine CPU**: busy time of every CPU from `/proc/stat` (user,
//!   nice, system, irq, softirq and steal; guest time is already inside
//!   user) over the same steady window, as cores kept busy and as a
//!   percent of one core (up to 100 × the CPUs). Busy is the CPUs'
//!   elapsed time minus idle and iowait, which the kernel measures
//!   exactly, not the sum of the busy fields, which it samples at the
//!   tick and which misses short wake-ups (the sum is shown too; see
//!   [`crate::procfs::MachineCpu::busy_cores_since`]). Per packet it uses the
//!   server's divisor, or under `--loop` the tool's (packets it sent or
//!   received). It counts what a process's own CPU misses: kernel work
//!   done in another process's system calls (on loopback the sender's
//!   `sendto` carries the packet through the receiving stack, and any
//!   in-kernel forwarding), interrupts, and every other process.
//! - **memory per call**: server RSS at the end of the steady window
//!   minus its RSS before the first call, over the established calls.
//! - **IVR mode** (`--ivr`): prompt gaps are inter-arrival times inside
//!   the server's talk spurts on the caller side (see [`crate::ivr`]),
//!   over the whole run; the server's CPU per *prompt packet* is its CPU
//!   in the window over the packets it sent the callers in the window.

use std::fmt::Write as _;

use crate::engine::{RunResult, Side, Snapshot};
use crate::procfs::MachineCpu;
use crate::stream::{loss_percent, StreamTotals};

/// One value of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(u64),
    Float(f64, usize),
    Text(String),
    Bool(bool),
    Missing,
}

impl Value {
    fn table(&self) -> String {
        match self {
            Value::Int(v) => v.to_string(),
            Value::Float(v, d) => format!("{v:.d$}"),
            Value::Text(t) => t.clone(),
            Value::Bool(b) => if *b { "yes" } else { "NO" }.to_owned(),
            Value::Missing => "-".to_owned(),
        }
    }

    fn json(&self) -> String {
        match self {
            Value::Int(v) => v.to_string(),
            Value::Float(v, d) if v.is_finite() => format!("{v:.d$}"),
            Value::Float(..) | Value::Missing => "null".to_owned(),
            Value::Text(t) => {
                let mut s = String::from("\"");
                for c in t.chars() {
                    match c {
                        '"' => s.push_str("\\\""),
                        '\\' => s.push_str("\\\\"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(s, "\\u{:04x}", c as u32);
                        }
                        c => s.push(c),
                    }
                }
                s.push('"');
                s
            }
            Value::Bool(b) => b.to_string(),
        }
    }
}

fn opt_f(v: Option<f64>, decimals: usize) -> Value {
    v.map_or(Value::Missing, |v| Value::Float(v, decimals))
}

fn opt_i(v: Option<u64>) -> Value {
    v.map_or(Value::Missing, Value::Int)
}

#[derive(Debug, Clone)]
enum Row {
    Heading(&'static str),
    Figure {
        key: &'static str,
        label: &'static str,
        value: Value,
    },
}

/// The ordered figures of a run.
#[derive(Debug, Clone, Default)]
pub struct Report {
    rows: Vec<Row>,
}

impl Report {
    pub(crate) fn heading(&mut self, h: &'static str) {
        self.rows.push(Row::Heading(h));
    }

    pub(crate) fn add(&mut self, key: &'static str, label: &'static str, value: Value) {
        self.rows.push(Row::Figure { key, label, value });
    }

    /// A figure by key.
    #[cfg(test)]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.rows.iter().find_map(|r| match r {
            Row::Figure { key: k, value, .. } if *k == key => Some(value),
            _ => None,
        })
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        for row in &self.rows {
            match row {
                Row::Heading(h) => {
                    let _ = writeln!(out, "\n== {h}");
                }
                Row::Figure { label, value, .. } => {
                    let _ = writeln!(out, "  {label:<44} {}", value.table());
                }
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        let mut out = String::from("{\n");
        let figures: Vec<(&str, &Value)> = self
            .rows
            .iter()
            .filter_map(|r| match r {
                Row::Figure { key, value, .. } => Some((*key, value)),
                Row::Heading(_) => None,
            })
            .collect();
        for (i, (key, value)) in figures.iter().enumerate() {
            let comma = if i + 1 < figures.len() { "," } else { "" };
            let _ = writeln!(out, "  \"{key}\": {}{comma}", value.json());
        }
        out.push_str("}\n");
        out
    }
}

fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

fn delta(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    Some(b?.saturating_sub(a?))
}

fn window_secs(start: &Snapshot, end: &Snapshot) -> f64 {
    (end.at_us.saturating_sub(start.at_us)) as f64 / 1e6
}

fn direction(
    r: &mut Report,
    keys: [&'static str; 10],
    sent: u64,
    arrived: &StreamTotals,
    bridged: bool,
) -> Option<f64> {
    let e2e = if bridged {
        loss_percent(sent, arrived.unique)
    } else {
        None
    };
    r.add(keys[0], "packets sent by the tool", Value::Int(sent));
    r.add(
        keys[1],
        "packets received (distinct)",
        Value::Int(arrived.unique),
    );
    r.add(keys[2], "end-to-end loss %", opt_f(e2e, 4));
    r.add(
        keys[3],
        "sequence-gap loss (packets)",
        Value::Int(arrived.lost),
    );
    r.add(keys[4], "duplicates", Value::Int(arrived.duplicates));
    r.add(keys[5], "out of order", Value::Int(arrived.out_of_order));
    r.add(keys[6], "streams received", Value::Int(arrived.streams));
    r.add(
        keys[7],
        "max inter-arrival gap ms",
        Value::Float(arrived.max_gap_us as f64 / 1000.0, 1),
    );
    r.add(
        keys[8],
        "arrivals > 40 ms after the previous",
        Value::Int(arrived.gaps_over_40ms),
    );
    r.add(
        keys[9],
        "  the largest gap ended at (s into the run)",
        Value::Float(arrived.max_gap_at_us as f64 / 1e6, 2),
    );
    e2e
}

/// Builds the report of a run.
pub fn build(run: &RunResult) -> Report {
    let s = &run.stats;
    let mut r = Report::default();
    let established = s.established;
    let bridged = s.uas_confirmed > 0;

    r.heading("run");
    let c = &run.cfg;
    r.add(
        "cfg_calls",
        "calls requested",
        Value::Int(u64::from(c.calls)),
    );
    r.add("cfg_rate", "ramp calls/s", Value::Float(c.rate, 1));
    r.add(
        "cfg_duration_s",
        "steady seconds",
        Value::Float(c.duration.as_secs_f64(), 1),
    );
    r.add(
        "cfg_codecs",
        "caller offers first / callee answers",
        Value::Text(format!("{} / {}", c.uac_codec.name(), c.uas_codec.name())),
    );
    r.add(
        "cfg_hangup",
        "hangs up",
        Value::Text(format!("{:?}", c.hangup).to_lowercase()),
    );

    r.heading("calls");
    r.add("calls_attempted", "attempted", Value::Int(run.attempted));
    r.add(
        "calls_established",
        "established (2xx + ACK)",
        Value::Int(established),
    );
    r.add(
        "calls_failed",
        "failed",
        Value::Int(run.attempted.saturating_sub(established)),
    );
    let by_status: Vec<String> = s
        .failed_by_status
        .iter()
        .map(|(k, v)| format!("{k}×{v}"))
        .collect();
    r.add(
        "failed_by_status",
        "failures by status",
        Value::Text(by_status.join(" ")),
    );
    r.add(
        "setup_timeouts",
        "setup timeouts",
        Value::Int(s.setup_timeouts),
    );
    r.add(
        "bad_answers",
        "2xx without usable SDP",
        Value::Int(s.bad_answers),
    );
    let mut setup = s.setup_us.clone();
    setup.sort_unstable();
    let ms = |v: Option<u64>| opt_f(v.map(|u| u as f64 / 1000.0), 1);
    r.add(
        "setup_ms_p50",
        "INVITE→200 p50 ms",
        ms(percentile(&setup, 50.0)),
    );
    r.add(
        "setup_ms_p99",
        "INVITE→200 p99 ms",
        ms(percentile(&setup, 99.0)),
    );
    r.add(
        "setup_ms_max",
        "INVITE→200 max ms",
        ms(setup.last().copied()),
    );
    r.add(
        "invite_retransmits",
        "INVITE retransmissions",
        Value::Int(s.invite_retransmits),
    );
    r.add(
        "ended_by_server",
        "calls the server hung up early",
        Value::Int(s.ended_by_server),
    );
    r.add(
        "calls_closed",
        "calls closed at teardown",
        Value::Int(s.closed),
    );
    r.add(
        "calls_unclosed",
        "calls still open at the end",
        Value::Int(run.unclosed_calls),
    );
    r.add(
        "uas_invites",
        "INVITEs to the answering side",
        Value::Int(s.uas_invites),
    );
    r.add(
        "uas_confirmed",
        "answered legs ACKed",
        Value::Int(s.uas_confirmed),
    );
    r.add(
        "uas_refused",
        "answering side refused (488)",
        Value::Int(s.uas_refused),
    );
    r.add(
        "uas_ack_timeouts",
        "answered legs never ACKed",
        Value::Int(s.uas_ack_timeouts),
    );
    r.add(
        "uas_ended_early",
        "answered legs ended early",
        Value::Int(s.uas_ended_early),
    );
    r.add(
        "uas_closed",
        "answered legs closed at teardown",
        Value::Int(s.uas_closed),
    );
    r.add(
        "uas_unclosed",
        "answered legs still open at the end",
        Value::Int(run.unclosed_uas),
    );
    r.add(
        "ok_retransmits",
        "200 retransmissions (no ACK yet)",
        Value::Int(s.ok_retransmits),
    );
    r.add(
        "bye_retransmits",
        "BYE retransmissions",
        Value::Int(s.bye_retransmits),
    );
    r.add(
        "bye_failed",
        "BYEs failed or unanswered",
        Value::Int(s.bye_failed),
    );
    r.add(
        "unknown_dialog",
        "SIP for unknown calls",
        Value::Int(s.unknown_dialog),
    );
    r.add(
        "sip_unparsed",
        "unparseable SIP datagrams",
        Value::Int(s.sip_unparsed),
    );

    let (start, end) = (run.steady_start.as_ref(), run.steady_end.as_ref());
    let window = match (start, end) {
        (Some(a), Some(b)) => Some((a, b, window_secs(a, b))),
        _ => None,
    };

    r.heading("media: caller → server → callee");
    let a2b = direction(
        &mut r,
        [
            "a2b_sent",
            "a2b_received",
            "a2b_loss_pct",
            "a2b_seq_lost",
            "a2b_duplicates",
            "a2b_out_of_order",
            "a2b_streams",
            "a2b_max_gap_ms",
            "a2b_gaps_over_40ms",
            "a2b_max_gap_at_s",
        ],
        s.rtp_sent[Side::Uac as usize],
        &run.received[Side::Uas as usize],
        bridged,
    );
    r.heading("media: callee → server → caller (the server's own audio when it answers)");
    let b2a = direction(
        &mut r,
        [
            "b2a_sent",
            "b2a_received",
            "b2a_loss_pct",
            "b2a_seq_lost",
            "b2a_duplicates",
            "b2a_out_of_order",
            "b2a_streams",
            "b2a_max_gap_ms",
            "b2a_gaps_over_40ms",
            "b2a_max_gap_at_s",
        ],
        s.rtp_sent[Side::Uas as usize],
        &run.received[Side::Uac as usize],
        bridged,
    );

    if let Some(p) = &run.prompts {
        r.heading("IVR: the server's prompts, caller side (gaps inside talk spurts)");
        r.add(
            "ivr_streams",
            "prompt streams (calls)",
            Value::Int(p.streams),
        );
        r.add(
            "ivr_packets",
            "prompt packets received",
            Value::Int(p.packets),
        );
        r.add("ivr_spurts", "talk spurts", Value::Int(p.spurts));
        r.add("ivr_gaps", "gaps measured", Value::Int(p.gaps.count));
        let gap_ms = |v: Option<u64>| opt_f(v.map(|u| u as f64 / 1000.0), 1);
        r.add(
            "ivr_max_gap_ms",
            "max gap ms",
            gap_ms((p.gaps.count > 0).then_some(p.gaps.max_us)),
        );
        r.add(
            "ivr_p99_gap_ms",
            "p99 gap ms (0.1 ms bins)",
            gap_ms(p.gaps.percentile(99.0)),
        );
        r.add(
            "ivr_p999_gap_ms",
            "p99.9 gap ms (0.1 ms bins)",
            gap_ms(p.gaps.percentile(99.9)),
        );
        r.add(
            "ivr_gaps_over_40ms",
            "gaps > 40 ms",
            Value::Int(p.gaps.over_limit),
        );
        r.add(
            "ivr_calls_with_gap",
            "calls with a gap > 40 ms",
            Value::Int(p.streams_with_gap),
        );
        // When they happened: before, in or after the steady window (the
        // calls' first and last such gap each).
        let (from, to) = (
            run.steady_start.as_ref().map_or(0, |s| s.at_us),
            run.steady_end.as_ref().map_or(u64::MAX, |s| s.at_us),
        );
        let count = |f: &dyn Fn(u64) -> bool| {
            Value::Int(p.over_limit_at_us.iter().filter(|&&t| f(t)).count() as u64)
        };
        r.add(
            "ivr_over_40ms_before_window",
            "  of which (first/last per call) before the steady window",
            count(&|t| t < from),
        );
        r.add(
            "ivr_over_40ms_in_window",
            "  in the steady window",
            count(&|t| (from..=to).contains(&t)),
        );
        r.add(
            "ivr_over_40ms_after_window",
            "  after it (teardown)",
            count(&|t| t > to),
        );
        r.add(
            "ivr_keys_sent",
            "DTMF keys sent (RFC 4733)",
            Value::Int(s.keys_sent),
        );
        r.add(
            "ivr_event_packets",
            "telephone-event packets sent",
            Value::Int(s.event_packets),
        );
        r.add(
            "ivr_answers_without_events",
            "answers without telephone-event",
            Value::Int(s.answers_without_events),
        );
    }

    r.heading("steady window");
    r.add("window_s", "length s", opt_f(window.map(|w| w.2), 2));
    r.add(
        "window_start_s",
        "started at (s into the run)",
        opt_f(start.map(|s| s.at_us as f64 / 1e6), 2),
    );
    let per_s = |f: &dyn Fn(&Snapshot) -> u64| {
        window.map(|(a, b, secs)| f(b).saturating_sub(f(a)) as f64 / secs)
    };
    let sent_pps = per_s(&|x: &Snapshot| x.rtp_sent[0] + x.rtp_sent[1]);
    let rx_pps = per_s(&|x: &Snapshot| x.rtp_received[0] + x.rtp_received[1]);
    r.add("tx_pps", "packets/s sent by the tool", opt_f(sent_pps, 0));
    r.add("rx_pps", "packets/s received by the tool", opt_f(rx_pps, 0));
    r.add(
        "rx_pps_caller",
        "  of which on the caller side",
        opt_f(per_s(&|x: &Snapshot| x.rtp_received[0]), 0),
    );
    r.add(
        "rx_pps_callee",
        "  of which on the callee side",
        opt_f(per_s(&|x: &Snapshot| x.rtp_received[1]), 0),
    );

    r.heading("server");
    let server_cpu = window.and_then(|(a, b, _)| Some(b.server_cpu_s? - a.server_cpu_s?));
    r.add("server_cpu_s", "CPU s in the window", opt_f(server_cpu, 2));
    r.add(
        "server_cpu_pct",
        "CPU % of one core in the window",
        opt_f(server_cpu.zip(window).map(|(c, w)| c * 100.0 / w.2), 1),
    );
    let (basis, packets) = match window {
        Some((a, b, _)) if bridged => (
            "relayed (received by the tool)",
            Some(
                (b.rtp_received[0] + b.rtp_received[1])
                    .saturating_sub(a.rtp_received[0] + a.rtp_received[1]),
            ),
        ),
        Some((a, b, _)) => (
            "received by the server (sent by the tool)",
            Some((b.rtp_sent[0] + b.rtp_sent[1]).saturating_sub(a.rtp_sent[0] + a.rtp_sent[1])),
        ),
        None => ("-", None),
    };
    r.add("server_packets", "packets in the window", opt_i(packets));
    r.add(
        "server_packet_basis",
        "  counted as",
        Value::Text(basis.to_owned()),
    );
    let us_per_packet = server_cpu
        .zip(packets)
        .and_then(|(c, p)| (p > 0).then(|| c * 1e6 / p as f64));
    r.add(
        "server_us_per_packet",
        "CPU µs per packet",
        opt_f(us_per_packet, 2),
    );
    if run.prompts.is_some() {
        let prompt_packets =
            window.map(|(a, b, _)| b.rtp_received[0].saturating_sub(a.rtp_received[0]));
        r.add(
            "server_prompt_packets",
            "prompt packets sent to callers in the window",
            opt_i(prompt_packets),
        );
        r.add(
            "server_us_per_prompt_packet",
            "CPU µs per prompt packet sent",
            opt_f(
                server_cpu
                    .zip(prompt_packets)
                    .and_then(|(c, p)| (p > 0).then(|| c * 1e6 / p as f64)),
                2,
            ),
        );
    }
    let rss_before = run.before.server_rss_kb;
    let rss_steady = end.and_then(|e| e.server_rss_kb);
    r.add(
        "server_rss_before_kb",
        "RSS before the first call kB",
        opt_i(rss_before),
    );
    r.add(
        "server_rss_steady_kb",
        "RSS at the end of the window kB",
        opt_i(rss_steady),
    );
    r.add(
        "server_rss_after_kb",
        "RSS after teardown kB",
        opt_i(run.after.server_rss_kb),
    );
    let mb_per_call = delta(rss_before, rss_steady)
        .filter(|_| established > 0)
        .map(|kb| kb as f64 / 1024.0 / established as f64);
    r.add(
        "server_mb_per_call",
        "RSS MB per established call",
        opt_f(mb_per_call, 3),
    );
    r.add(
        "server_sockets",
        "UDP sockets at the end of the window",
        opt_i(end.and_then(|e| e.server_sockets.map(|s| s.0))),
    );
    // Calls' sockets live from the ramp to the teardown: counted from the
    // first call to the end of the window, while they all exist.
    let server_drops = delta(
        run.before.server_sockets.map(|s| s.1),
        end.and_then(|e| e.server_sockets.map(|s| s.1)),
    );
    let tool_drops = delta(run.before.tool_socket_drops, run.after.tool_socket_drops);
    r.add(
        "server_socket_drops",
        "receive-buffer drops on its sockets",
        opt_i(server_drops),
    );

    r.heading("kernel (whole machine, other processes included)");
    let udp = |f: fn(&crate::procfs::UdpCounters) -> u64, a: &Snapshot, b: &Snapshot| {
        delta(a.udp.as_ref().map(f), b.udp.as_ref().map(f))
    };
    r.add(
        "rcvbuf_errors",
        "UdpRcvbufErrors, whole run",
        opt_i(udp(|u| u.rcvbuf_errors, &run.before, &run.after)),
    );
    r.add(
        "rcvbuf_errors_window",
        "UdpRcvbufErrors, steady window",
        opt_i(window.and_then(|(a, b, _)| udp(|u| u.rcvbuf_errors, a, b))),
    );
    r.add(
        "udp_in_errors",
        "Udp InErrors, whole run",
        opt_i(udp(|u| u.in_errors, &run.before, &run.after)),
    );
    r.add(
        "softnet_dropped",
        "backlog drops (softnet_stat), whole run",
        opt_i(delta(run.before.softnet_dropped, run.after.softnet_dropped)),
    );
    r.add(
        "load_before",
        "load average before",
        opt_f(run.before.load, 2),
    );
    r.add("load_after", "load average after", opt_f(run.after.load, 2));

    r.heading("the tool itself");
    let tool_cpu = window.map(|(a, b, _)| b.tool_cpu_s - a.tool_cpu_s);
    r.add(
        "tool_cpu_s_total",
        "CPU s, whole run",
        Value::Float(run.after.tool_cpu_s - run.before.tool_cpu_s, 2),
    );
    r.add(
        "tool_cpu_s_window",
        "CPU s in the window",
        opt_f(tool_cpu, 2),
    );
    r.add(
        "tool_cpu_pct",
        "CPU % of one core in the window",
        opt_f(tool_cpu.zip(window).map(|(c, w)| c * 100.0 / w.2), 1),
    );
    let tool_packets = sent_pps
        .zip(rx_pps)
        .zip(window)
        .map(|((t, x), w)| (t + x) * w.2);
    let tool_us_per_packet = tool_cpu
        .zip(tool_packets)
        .and_then(|(c, p)| (p > 0.0).then(|| c * 1e6 / p));
    r.add(
        "tool_us_per_packet",
        "CPU µs per packet sent or received",
        opt_f(tool_us_per_packet, 2),
    );
    r.add(
        "max_send_late_ms",
        "latest send behind schedule ms",
        Value::Float(run.max_send_late_us as f64 / 1000.0, 1),
    );
    r.add(
        "send_failed",
        "datagrams it failed to send",
        Value::Int(s.send_failed),
    );
    r.add(
        "send_waits",
        "waits for a full send buffer",
        Value::Int(s.send_waits),
    );
    r.add(
        "tool_socket_drops",
        "receive-buffer drops on its sockets",
        opt_i(tool_drops),
    );
    r.add(
        "rcvbuf_granted",
        "receive buffer per socket bytes",
        Value::Int(run.rcvbuf_granted as u64),
    );
    r.add(
        "rtp_ignored",
        "non-RTP datagrams on RTP ports",
        Value::Int(s.rtp_ignored[0] + s.rtp_ignored[1]),
    );

    r.heading("the whole machine (every process, and kernel work done for them)");
    let machine = |f: fn(&MachineCpu, &MachineCpu, u64, f64) -> Option<f64>| {
        window.and_then(|(a, b, secs)| {
            f(
                b.machine_cpu.as_ref()?,
                a.machine_cpu.as_ref()?,
                crate::sys::clock_ticks(),
                secs,
            )
        })
    };
    let machine_cores = machine(MachineCpu::busy_cores_since);
    r.add(
        "machine_cpus",
        "CPUs",
        opt_i(end.and_then(|e| e.machine_cpu.map(|m| u64::from(m.cpus)))),
    );
    r.add(
        "machine_busy_cores",
        "busy cores in the window (CPU-s per s)",
        opt_f(machine_cores, 3),
    );
    r.add(
        "machine_cpu_pct",
        "CPU % of one core in the window, all CPUs",
        opt_f(machine_cores.map(|c| c * 100.0), 1),
    );
    r.add(
        "machine_tick_busy_cores",
        "  the busy fields' sum (tick-sampled), cores",
        opt_f(machine(MachineCpu::tick_busy_cores_since), 3),
    );
    // The same divisor as the server's figure (relayed, or received on
    // the demo route); with no server (`--loop`), the tool's.
    let (machine_basis, machine_packets) = if c.loop_mode {
        ("sent or received by the tool (--loop)", tool_packets)
    } else {
        (basis, packets.map(|p| p as f64))
    };
    r.add(
        "machine_packet_basis",
        "  per packet counted as",
        Value::Text(machine_basis.to_owned()),
    );
    r.add(
        "machine_us_per_packet",
        "busy µs per packet",
        opt_f(
            machine_cores
                .zip(window)
                .zip(machine_packets)
                .and_then(|((c, w), p)| (p > 0.0).then(|| c * w.2 * 1e6 / p)),
            2,
        ),
    );

    r.heading("verdict");
    let worst = [a2b, b2a]
        .into_iter()
        .flatten()
        .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
    r.add("worst_loss_pct", "worst end-to-end loss %", opt_f(worst, 4));
    r.add(
        "loss_ok",
        "loss under 0.1 % (both directions)",
        Value::Bool(worst.is_none_or_lt(0.1)),
    );
    // The kernel counts a receive-buffer drop twice: UdpRcvbufErrors for
    // the machine and `drops` on the socket. The machine's counter also
    // moves for other processes, so the verdict is on the sockets of the
    // server and of the tool.
    let attributed = match (run.cfg.server_pid, server_drops, tool_drops) {
        (None, _, Some(t)) => Some(t),
        (Some(_), Some(s), Some(t)) => Some(s + t),
        _ => None,
    };
    r.add(
        "socket_drops",
        "receive-buffer drops, server + tool sockets",
        opt_i(attributed),
    );
    r.add(
        "no_rcvbuf_drops",
        "no receive-buffer drops (server and tool)",
        Value::Bool(attributed == Some(0)),
    );
    r.add(
        "all_established",
        "every call established",
        Value::Bool(run.attempted > 0 && established == run.attempted),
    );
    if let Some(p) = &run.prompts {
        r.add(
            "ivr_no_gap",
            "no prompt gap > 40 ms",
            Value::Bool(p.gaps.over_limit == 0 && p.gaps.count > 0),
        );
        r.add(
            "ivr_keys_ok",
            "every caller could send keys",
            Value::Bool(s.answers_without_events == 0 && s.keys_sent > 0),
        );
    }
    r.add(
        "aborted",
        "aborted",
        Value::Text(run.aborted.clone().unwrap_or_default()),
    );
    r
}

trait LossCheck {
    fn is_none_or_lt(&self, limit: f64) -> bool;
}

impl LossCheck for Option<f64> {
    /// No measurement (nothing bridged) passes; a measurement must be
    /// below the limit.
    fn is_none_or_lt(&self, limit: f64) -> bool {
        match self {
            Some(v) => *v < limit,
            None => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_flat_and_escaped() {
        let mut r = Report::default();
        r.heading("h");
        r.add("a", "A", Value::Int(3));
        r.add("b", "B", Value::Float(1.23456, 2));
        r.add("c", "C", Value::Text("x\"y\\z".into()));
        r.add("d", "D", Value::Missing);
        r.add("e", "E", Value::Bool(true));
        assert_eq!(
            r.to_json(),
            "{\n  \"a\": 3,\n  \"b\": 1.23,\n  \"c\": \"x\\\"y\\\\z\",\n  \"d\": null,\n  \"e\": true\n}\n"
        );
        assert!(r.to_table().contains("== h"));
        assert_eq!(r.get("a"), Some(&Value::Int(3)));
    }

    /// A bridged run (or `--loop`) of 10 calls with a 10 s steady window
    /// on 2 CPUs in which the tool sent `sent` and received `received`
    /// packets, the server used 1 CPU-second, the tool 0.5, and the CPUs
    /// were idle 7.7 s (busy 12.3 CPU-s) while the tick-sampled busy
    /// fields caught 0.4 s, plus 0.1 s of steal.
    fn run_with_window(loop_mode: bool, sent: u64, received: u64) -> RunResult {
        let hz = crate::sys::clock_ticks();
        let snapshot = |at_s: u64,
                        cpu_s: f64,
                        busy: u64,
                        steal: u64,
                        idle_hundredths: u64,
                        sent: u64,
                        received: u64| Snapshot {
            at_us: at_s * 1_000_000,
            tool_cpu_s: cpu_s / 2.0,
            server_cpu_s: (!loop_mode).then_some(cpu_s),
            machine_cpu: Some(MachineCpu {
                busy,
                idle: idle_hundredths * hz / 100,
                steal,
                cpus: 2,
            }),
            rtp_sent: [sent / 2, sent - sent / 2],
            rtp_received: [received / 2, received - received / 2],
            ..Snapshot::default()
        };
        let addr = "127.0.0.1:5090".parse().expect("addr");
        RunResult {
            cfg: crate::engine::Config {
                target: addr,
                number: "200".into(),
                calls: 10,
                rate: 50.0,
                duration: std::time::Duration::from_secs(10),
                uas_listen: addr,
                uas_codec: crate::rtp::Law::Ulaw,
                uac_codec: crate::rtp::Law::Ulaw,
                hangup: Side::Uac,
                server_pid: (!loop_mode).then_some(1),
                loop_mode,
                setup_timeout: std::time::Duration::from_secs(1),
                drain: std::time::Duration::from_millis(1),
                teardown_timeout: std::time::Duration::from_secs(1),
                bye_rate: 500.0,
                slots: 20,
                socket_buffer: 1 << 20,
                ivr: None,
            },
            stats: crate::engine::Stats {
                established: 10,
                uas_confirmed: 10,
                ..Default::default()
            },
            attempted: 10,
            before: Snapshot::default(),
            steady_start: Some(snapshot(5, 2.0, 100 * hz, 0, 100_000, 1000, 900)),
            steady_end: Some(snapshot(
                15,
                3.0,
                100 * hz + hz * 4 / 10,
                hz / 10,
                100_770,
                1000 + sent,
                900 + received,
            )),
            after: Snapshot::default(),
            received: Default::default(),
            max_send_late_us: 0,
            rcvbuf_granted: 0,
            unclosed_calls: 0,
            unclosed_uas: 0,
            aborted: None,
            prompts: None,
        }
    }

    fn float(r: &Report, key: &str) -> f64 {
        match r.get(key) {
            Some(Value::Float(v, _)) => *v,
            other => panic!("{key}: {other:?}"),
        }
    }

    #[test]
    fn machine_cpu_over_the_steady_window() {
        // 20 CPU-s in 10 s on 2 CPUs, 7.7 idle: 1.23 cores busy.
        let r = build(&run_with_window(false, 10_000, 8_000));
        assert_eq!(r.get("machine_cpus"), Some(&Value::Int(2)));
        assert!((float(&r, "machine_busy_cores") - 1.23).abs() < 1e-9);
        assert!((float(&r, "machine_cpu_pct") - 123.0).abs() < 1e-6);
        assert!((float(&r, "machine_tick_busy_cores") - 0.05).abs() < 1e-9);
        // Per relayed packet (what the tool received), like the server's.
        assert!((float(&r, "server_us_per_packet") - 1e6 / 8_000.0).abs() < 1e-6);
        assert!((float(&r, "machine_us_per_packet") - 12.3e6 / 8_000.0).abs() < 1e-6);
        // The tool alone: per packet the tool sent or received, like its
        // own figure.
        let r = build(&run_with_window(true, 10_000, 10_000));
        assert_eq!(r.get("server_us_per_packet"), Some(&Value::Missing));
        assert!((float(&r, "tool_us_per_packet") - 0.5e6 / 20_000.0).abs() < 1e-6);
        assert!((float(&r, "machine_us_per_packet") - 12.3e6 / 20_000.0).abs() < 1e-6);
        assert!(r.to_json().contains("\"machine_busy_cores\": 1.230,"));
    }

    #[test]
    fn percentiles_by_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&[7], 99.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
    }
}
