//! The run's report: flat JSON (one key a line, what bench/agent_load.sh
//! reads) and a table for people.

use std::fmt::Write as _;

use serde::Serialize;

use crate::agent::Counters;
use crate::phone::PhoneStats;
use crate::stats::{self, Latency, Offer};

/// The screen-pop target of the issue: p99 under 20 ms.
pub const TARGET_P99_US: u64 = 20_000;

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub agents: usize,
    pub agents_ready: usize,
    pub hold_seconds: f64,
    pub calling_seconds: f64,
    pub calls_offered: u64,
    pub calls_connected: u64,
    pub calls_ended: u64,
    pub hangups_sent: u64,
    pub wrapups_ok: u64,
    pub pop_samples: usize,
    pub pop_min_us: u64,
    pub pop_p50_us: u64,
    pub pop_p90_us: u64,
    pub pop_p99_us: u64,
    pub pop_max_us: u64,
    pub pop_p99_under_20ms: bool,
    /// Routing decisions per second over the steady window.
    pub decisions_per_second: f64,
    pub steady_seconds: f64,
    /// Offers of calls that had waited ≥ 1 s for an agent (0 when the
    /// agents were never all busy).
    pub offers_after_waiting: u64,
    pub max_waited_seconds: u64,
    /// Most agents offered or on a call at once.
    pub busy_agents_peak: usize,
    pub phone_invites: u64,
    pub phone_acks: u64,
    pub phone_byes: u64,
    pub phone_ok_retransmits: u64,
    /// Calls the phone answered that got no BYE by the end.
    pub phone_calls_open_at_end: u64,
    pub agent_media_packets: u64,
    pub withdrawn: u64,
    pub forced_not_ready: u64,
    pub error_replies: u64,
    pub socket_errors: u64,
    pub unknown_frames: u64,
    pub phone_errors: u64,
    pub clock_steps: usize,
    /// Every error above, added up.
    pub errors: u64,
    pub first_errors: Vec<String>,
}

/// What the run hands to [`Report::build`].
pub struct Inputs<'a> {
    pub agents: usize,
    pub agents_ready: usize,
    pub hold_seconds: f64,
    pub calling_seconds: f64,
    pub warmup_seconds: f64,
    pub offers: &'a [Offer],
    pub counters: &'a [Counters],
    pub phone: PhoneStats,
    pub busy_agents_peak: usize,
    pub phone_calls_open_at_end: u64,
    pub agent_media_packets: u64,
}

impl Report {
    pub fn build(i: &Inputs<'_>) -> Report {
        let sum = |f: fn(&Counters) -> u64| i.counters.iter().map(f).sum::<u64>();
        let l: Latency = stats::latency(i.offers);
        let window = stats::steady_window(i.offers, i.calling_seconds, i.warmup_seconds);
        let (rate, steady) = window.map_or((0.0, 0.0), |w| {
            (
                stats::decisions_per_second(i.offers, w),
                (w.1 - w.0) as f64 / 1e6,
            )
        });
        let p = i.phone;
        let phone_errors =
            p.refused + p.ack_timeouts + p.unknown_byes + p.unparsable + i.phone_calls_open_at_end;
        let withdrawn = sum(|c| c.withdrawn);
        let forced_not_ready = sum(|c| c.forced_not_ready);
        let error_replies = sum(|c| c.error_replies);
        let socket_errors = sum(|c| c.socket_errors);
        let unknown_frames = sum(|c| c.unknown_frames);
        let errors = withdrawn
            + forced_not_ready
            + error_replies
            + socket_errors
            + unknown_frames
            + phone_errors
            + l.negative as u64;
        let mut first_errors: Vec<String> = Vec::new();
        for e in i.counters.iter().flat_map(|c| c.first_errors.iter()) {
            if first_errors.len() < 10 && !first_errors.contains(e) {
                first_errors.push(e.clone());
            }
        }
        Report {
            agents: i.agents,
            agents_ready: i.agents_ready,
            hold_seconds: i.hold_seconds,
            calling_seconds: i.calling_seconds,
            calls_offered: sum(|c| c.offered),
            calls_connected: sum(|c| c.connected),
            calls_ended: sum(|c| c.ended),
            hangups_sent: sum(|c| c.hangups),
            wrapups_ok: sum(|c| c.wrapups_ok),
            pop_samples: l.count,
            pop_min_us: l.min_us,
            pop_p50_us: l.p50_us,
            pop_p90_us: l.p90_us,
            pop_p99_us: l.p99_us,
            pop_max_us: l.max_us,
            pop_p99_under_20ms: l.count > 0 && l.p99_us < TARGET_P99_US,
            decisions_per_second: (rate * 100.0).round() / 100.0,
            steady_seconds: steady,
            offers_after_waiting: i.offers.iter().filter(|o| o.waited_seconds >= 1).count() as u64,
            max_waited_seconds: i.offers.iter().map(|o| o.waited_seconds).max().unwrap_or(0),
            busy_agents_peak: i.busy_agents_peak,
            phone_invites: p.invites,
            phone_acks: p.acks,
            phone_byes: p.byes,
            phone_ok_retransmits: p.ok_retransmits,
            phone_calls_open_at_end: i.phone_calls_open_at_end,
            agent_media_packets: i.agent_media_packets,
            withdrawn,
            forced_not_ready,
            error_replies,
            socket_errors,
            unknown_frames,
            phone_errors,
            clock_steps: l.negative,
            errors,
            first_errors,
        }
    }

    /// The table printed at the end of a run.
    pub fn table(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "agents ready         {} / {}",
            self.agents_ready, self.agents
        );
        let _ = writeln!(
            s,
            "calls                offered {}, connected {}, ended {}, wrapped up {}",
            self.calls_offered, self.calls_connected, self.calls_ended, self.wrapups_ok
        );
        let _ = writeln!(
            s,
            "pop latency (µs)     p50 {}  p90 {}  p99 {}  max {}  (n = {}; p99 < 20 ms: {})",
            self.pop_p50_us,
            self.pop_p90_us,
            self.pop_p99_us,
            self.pop_max_us,
            self.pop_samples,
            if self.pop_p99_under_20ms { "yes" } else { "no" }
        );
        let _ = writeln!(
            s,
            "routing decisions/s  {:.2} over {:.1} s steady",
            self.decisions_per_second, self.steady_seconds
        );
        let _ = writeln!(
            s,
            "agents busy at peak  {} (offers after waiting ≥ 1 s: {}, longest wait {} s)",
            self.busy_agents_peak, self.offers_after_waiting, self.max_waited_seconds
        );
        let _ = writeln!(
            s,
            "phone                INVITE {}, ACK {}, BYE {}, 200 retransmitted {}, open at the end {}",
            self.phone_invites,
            self.phone_acks,
            self.phone_byes,
            self.phone_ok_retransmits,
            self.phone_calls_open_at_end
        );
        let _ = writeln!(
            s,
            "errors               {} (withdrawn {}, forced not_ready {}, error replies {}, socket {}, unknown frames {}, phone {}, clock steps {})",
            self.errors,
            self.withdrawn,
            self.forced_not_ready,
            self.error_replies,
            self.socket_errors,
            self.unknown_frames,
            self.phone_errors,
            self.clock_steps
        );
        for e in &self.first_errors {
            let _ = writeln!(s, "  e.g. {e}");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_add_up_and_json_is_flat() {
        let offers: Vec<Offer> = (0..100u64)
            .map(|i| Offer {
                offered_at_us: 1_000_000 + i * 100_000,
                arrived_at_us: 1_000_000 + i * 100_000 + 1_000 + i,
                waited_seconds: u64::from(i == 50) * 2,
            })
            .collect();
        let mut c = Counters {
            offered: 100,
            withdrawn: 1,
            error_replies: 2,
            ..Counters::default()
        };
        c.first_errors.push("call.withdrawn: ring_no_answer".into());
        let r = Report::build(&Inputs {
            agents: 2,
            agents_ready: 2,
            hold_seconds: 1.0,
            calling_seconds: 10.0,
            warmup_seconds: 1.0,
            offers: &offers,
            counters: &[c.clone(), c],
            phone: PhoneStats {
                ack_timeouts: 1,
                ..PhoneStats::default()
            },
            busy_agents_peak: 2,
            phone_calls_open_at_end: 1,
            agent_media_packets: 0,
        });
        assert_eq!(r.calls_offered, 200);
        assert_eq!(r.errors, 2 * (1 + 2) + 1 + 1);
        assert_eq!(r.first_errors.len(), 1, "the same text once");
        assert_eq!((r.pop_p50_us, r.pop_max_us), (1_049, 1_099));
        assert!(r.pop_p99_under_20ms);
        // 10 decisions a second, window [2 s, 10 s) of the first offer.
        assert_eq!(r.decisions_per_second, 10.0);
        assert_eq!((r.offers_after_waiting, r.max_waited_seconds), (1, 2));
        let json = serde_json::to_string_pretty(&r).expect("JSON");
        assert!(json.contains("\n  \"pop_p99_us\": 1098,\n"), "{json}");
        assert!(r.table().contains("p99 1098"));
    }
}
