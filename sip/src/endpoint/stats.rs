//! Counters the endpoint keeps for `/metrics`: bounded maps (method labels
//! are a fixed set, status codes are three digits), no allocation per
//! increment.

use std::collections::BTreeMap;

use crate::message::Method;

/// Everything the endpoint counts. Read it with
/// [`Endpoint::stats`](super::Endpoint::stats).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stats {
    /// Requests received (retransmissions included), by method; unknown
    /// methods are counted as `"other"`.
    pub requests_received: BTreeMap<&'static str, u64>,
    /// Requests we sent (first transmissions only), by method.
    pub requests_sent: BTreeMap<&'static str, u64>,
    /// Responses we sent (first transmissions only), by status.
    pub responses_sent: BTreeMap<u16, u64>,
    /// Responses received (retransmissions included), by status.
    pub responses_received: BTreeMap<u16, u64>,
    /// Messages that failed to parse.
    pub parse_errors: u64,
    /// Client transactions that timed out (B, F, CANCEL guard) and server
    /// INVITE transactions whose non-2xx was never ACKed (H).
    pub transaction_timeouts: u64,
    /// 2xx responses to INVITE never ACKed (Timer L).
    pub ack_timeouts: u64,
    /// Retransmissions we sent (requests, responses, ACKs).
    pub retransmissions_sent: u64,
    /// Retransmitted requests we absorbed or answered from a transaction.
    pub retransmissions_received: u64,
    /// Responses dropped: top Via not ours, or no transaction matched.
    pub responses_dropped: u64,
    /// ACKs that matched neither a transaction nor a 2xx awaiting its ACK.
    pub stray_acks: u64,
    /// Transactions alive right now (client and server).
    pub live_transactions: usize,
}

/// The metric label of a method: a fixed set, so hostile input cannot grow
/// the map.
pub fn method_label(method: &Method) -> &'static str {
    method.standard_token().unwrap_or("other")
}

pub(super) fn bump<K: Ord>(map: &mut BTreeMap<K, u64>, key: K) {
    *map.entry(key).or_insert(0) += 1;
}
