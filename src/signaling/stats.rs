//! Folds the endpoint's own counters into Prometheus.
//!
//! The sans-IO endpoint counts everything it sees and sends (including
//! what never reaches Hibiki's code: retransmissions, stateless answers to
//! malformed messages). Twice a second the engine hands its [`Stats`] here
//! and the difference since the last export is added to the counters, so
//! the hot path pays nothing for metrics.

use hibiki_sip::endpoint::Stats;

use crate::telemetry::Metrics;

/// Remembers what was exported last.
#[derive(Default)]
pub struct StatsExporter {
    last: Stats,
}

impl StatsExporter {
    /// Adds what `now` counted since the last call to `metrics`.
    pub fn export(&mut self, now: &Stats, metrics: &Metrics) {
        for (method, n) in &now.requests_received {
            let before = self
                .last
                .requests_received
                .get(method)
                .copied()
                .unwrap_or(0);
            add(
                &metrics.sip_requests.with_label_values(&["in", method]),
                *n,
                before,
            );
        }
        for (method, n) in &now.requests_sent {
            let before = self.last.requests_sent.get(method).copied().unwrap_or(0);
            add(
                &metrics.sip_requests.with_label_values(&["out", method]),
                *n,
                before,
            );
        }
        for (code, n) in &now.responses_received {
            let before = self.last.responses_received.get(code).copied().unwrap_or(0);
            let code = code.to_string();
            add(
                &metrics.sip_responses.with_label_values(&["in", &code]),
                *n,
                before,
            );
        }
        for (code, n) in &now.responses_sent {
            let before = self.last.responses_sent.get(code).copied().unwrap_or(0);
            let code = code.to_string();
            add(
                &metrics.sip_responses.with_label_values(&["out", &code]),
                *n,
                before,
            );
        }
        add(
            &metrics.sip_parse_errors,
            now.parse_errors,
            self.last.parse_errors,
        );
        add(
            &metrics.sip_transaction_timeouts,
            now.transaction_timeouts,
            self.last.transaction_timeouts,
        );
        add(
            &metrics.sip_retransmissions,
            now.retransmissions_sent,
            self.last.retransmissions_sent,
        );
        self.last = now.clone();
    }
}

fn add(counter: &prometheus::IntCounter, now: u64, before: u64) {
    counter.inc_by(now.saturating_sub(before));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_only_the_difference() {
        let metrics = Metrics::new();
        let mut exporter = StatsExporter::default();
        let mut stats = Stats::default();
        stats.requests_received.insert("INVITE", 3);
        stats.responses_sent.insert(200, 2);
        stats.parse_errors = 1;
        exporter.export(&stats, &metrics);
        stats.requests_received.insert("INVITE", 5);
        exporter.export(&stats, &metrics);
        exporter.export(&stats, &metrics);
        let text = metrics.render();
        assert!(
            text.contains("hibiki_sip_requests_total{direction=\"in\",method=\"INVITE\"} 5"),
            "{text}"
        );
        assert!(
            text.contains("hibiki_sip_responses_total{code=\"200\",direction=\"out\"} 2"),
            "{text}"
        );
        assert!(text.contains("hibiki_sip_parse_errors_total 1"), "{text}");
    }
}
