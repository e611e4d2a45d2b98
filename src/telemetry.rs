//! Logging and metrics.
//!
//! Logging is `tracing` with a human or JSON formatter chosen by config;
//! every call runs inside a `call` span carrying our call id and the SIP
//! Call-ID, so one grep follows a call. Metrics are a Prometheus registry
//! owned by [`Metrics`]; the signaling task folds the SIP endpoint's own
//! counters into it (see `signaling::stats`), call actors count outcomes.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry, TextEncoder};

/// How log lines are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogStyle {
    Human,
    Json,
}

/// Installs the global tracing subscriber. `level` is an `EnvFilter`
/// directive (`info`, `hibiki=debug,hibiki_sip=info`…); `RUST_LOG`, when
/// set, wins so an operator can raise verbosity without editing config.
pub fn init_logging(style: LogStyle, level: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    // A second init (tests running several servers in one process) is harmless.
    let _ = match style {
        LogStyle::Human => builder.try_init(),
        LogStyle::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// Every metric Hibiki exports, registered in one registry.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// Calls whose actor is running.
    pub calls_active: IntGauge,
    /// Ended calls by outcome (`answered`, `busy`, `cancelled`…).
    pub calls_total: IntCounterVec,
    /// SIP requests by direction (`in`/`out`) and method.
    pub sip_requests: IntCounterVec,
    /// SIP responses by direction (`in`/`out`) and status code.
    pub sip_responses: IntCounterVec,
    /// Messages refused by the parser.
    pub sip_parse_errors: IntCounter,
    /// Client and server transactions that timed out (Timer B/F/H).
    pub sip_transaction_timeouts: IntCounter,
    /// Retransmissions sent by our transactions.
    pub sip_retransmissions: IntCounter,
    /// Call-record events dropped because the writer's queue was full.
    pub records_dropped: IntCounter,
    /// IVR flow reloads by result (`ok`: the new flows took effect,
    /// `error`: refused, the old ones stay).
    pub ivr_reloads: IntCounterVec,
    /// The media plane's calls, datagrams and late passes.
    pub media_plane: crate::media::plane::PlaneMetrics,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry =
            Registry::new_custom(Some("hibiki".into()), None).unwrap_or_else(|_| Registry::new());
        let calls_active = IntGauge::new("calls_active", "Calls in progress")
            .unwrap_or_else(|_| unreachable_metric());
        let calls_total = counter_vec("calls_total", "Ended calls by outcome", &["outcome"]);
        let sip_requests = counter_vec(
            "sip_requests_total",
            "SIP requests by direction and method",
            &["direction", "method"],
        );
        let sip_responses = counter_vec(
            "sip_responses_total",
            "SIP responses by direction and status code",
            &["direction", "code"],
        );
        let sip_parse_errors = counter(
            "sip_parse_errors_total",
            "SIP messages refused by the parser",
        );
        let sip_transaction_timeouts = counter(
            "sip_transaction_timeouts_total",
            "SIP transactions that timed out",
        );
        let sip_retransmissions = counter("sip_retransmissions_total", "SIP retransmissions sent");
        let records_dropped = counter(
            "call_records_dropped_total",
            "Call-record events dropped because the writer queue was full",
        );
        let ivr_reloads = counter_vec(
            "ivr_reloads_total",
            "IVR flow reloads by result (ok, error)",
            &["result"],
        );
        // Both results are shown from the start, at 0.
        for result in ["ok", "error"] {
            ivr_reloads.with_label_values(&[result]);
        }
        let media_plane = crate::media::plane::PlaneMetrics {
            calls: IntGauge::new(
                "media_plane_calls",
                "Calls whose media is on the media plane",
            )
            .unwrap_or_else(|_| unreachable_metric()),
            datagrams: counter(
                "media_plane_datagrams_total",
                "Datagrams read by the media plane",
            ),
            late_passes: counter(
                "media_plane_late_passes_total",
                "Media-plane passes that began more than 5 ms late",
            ),
            kernel_forwarded: counter(
                "media_kernel_forwarded_total",
                "RTP packets of bridged calls relayed by the kernel (media.kernel_forwarding)",
            ),
            kernel_flows: IntGauge::new(
                "media_kernel_flows",
                "Directions of bridged calls the kernel relays now",
            )
            .unwrap_or_else(|_| unreachable_metric()),
            kernel_ring_full: counter(
                "media_kernel_ring_full_total",
                "Packets of kernel-relayed calls left to the media workers because their ring was full (counted when the call's flows are withdrawn)",
            ),
        };
        for c in [
            Box::new(media_plane.calls.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(media_plane.datagrams.clone()),
            Box::new(media_plane.late_passes.clone()),
            Box::new(media_plane.kernel_forwarded.clone()),
            Box::new(media_plane.kernel_flows.clone()),
            Box::new(media_plane.kernel_ring_full.clone()),
            Box::new(calls_active.clone()),
            Box::new(calls_total.clone()),
            Box::new(sip_requests.clone()),
            Box::new(sip_responses.clone()),
            Box::new(sip_parse_errors.clone()),
            Box::new(sip_transaction_timeouts.clone()),
            Box::new(sip_retransmissions.clone()),
            Box::new(records_dropped.clone()),
            Box::new(ivr_reloads.clone()),
        ] {
            // Names are fixed and distinct: registration cannot collide.
            let _ = registry.register(c);
        }
        Metrics {
            registry,
            calls_active,
            calls_total,
            sip_requests,
            sip_responses,
            sip_parse_errors,
            sip_transaction_timeouts,
            sip_retransmissions,
            records_dropped,
            ivr_reloads,
            media_plane,
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> String {
        TextEncoder::new()
            .encode_to_string(&self.registry.gather())
            .unwrap_or_default()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn counter(name: &str, help: &str) -> IntCounter {
    IntCounter::new(name, help).unwrap_or_else(|_| unreachable_metric())
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).unwrap_or_else(|_| unreachable_metric())
}

/// Metric names and help texts above are compile-time constants that the
/// prometheus crate accepts; failing here is a programming error caught by
/// the first test that renders metrics.
#[allow(clippy::panic)]
fn unreachable_metric() -> ! {
    panic!("invalid metric definition")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_registered_metrics() {
        let m = Metrics::new();
        m.calls_total.with_label_values(&["answered"]).inc();
        m.sip_requests
            .with_label_values(&["in", "INVITE"])
            .inc_by(3);
        let text = m.render();
        assert!(
            text.contains("hibiki_calls_total{outcome=\"answered\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("hibiki_sip_requests_total{direction=\"in\",method=\"INVITE\"} 3"),
            "{text}"
        );
        m.media_plane.calls.set(2);
        let text = m.render();
        assert!(text.contains("hibiki_media_plane_calls 2"), "{text}");
        assert!(
            text.contains("hibiki_media_plane_late_passes_total 0"),
            "{text}"
        );
        assert!(text.contains("hibiki_calls_active 0"), "{text}");
    }
}
