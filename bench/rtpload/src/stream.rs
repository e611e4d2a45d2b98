//! Receive-side accounting for one RTP stream: extended sequence numbers,
//! loss by sequence gaps, duplicates, reordering and the largest gap
//! between arrivals. Sans-IO: the caller passes the arrival time.
//!
//! A stream is what one source (port) sends with one SSRC. The server
//! renumbers what it relays (its own SSRC and sequence per leg), so a
//! sequence gap here is loss between the server and the tool only; loss
//! on the way in shows in the end-to-end count (sent by the tool on one
//! leg vs received on the other), which `report` compares.

/// How far back duplicates are recognised (packets).
const WINDOW: u64 = 128;

/// Counters of one received stream.
#[derive(Debug, Clone, Default)]
pub struct RecvStream {
    started: bool,
    first_ext: u64,
    max_ext: u64,
    /// Bit `i` set: `max_ext - i` was received.
    window: u128,
    last_arrival_us: u64,
    /// Datagrams received (including duplicates).
    pub received: u64,
    /// Datagrams whose sequence number was already seen.
    pub duplicates: u64,
    /// Datagrams older than the newest one seen (not duplicates).
    pub out_of_order: u64,
    /// The largest time between two arrivals (µs), and when it ended.
    pub max_gap_us: u64,
    pub max_gap_at_us: u64,
    /// Arrivals more than 40 ms (two packet times) after the previous one.
    pub gaps_over_40ms: u64,
}

impl RecvStream {
    /// Accounts one packet with sequence number `seq` arriving at `now_us`.
    pub fn on_packet(&mut self, seq: u16, now_us: u64) {
        self.received += 1;
        if !self.started {
            // Start high enough that earlier (reordered) packets still
            // have a positive extended number.
            self.started = true;
            self.first_ext = (1 << 32) + u64::from(seq);
            self.max_ext = self.first_ext;
            self.window = 1;
            self.last_arrival_us = now_us;
            return;
        }
        let gap = now_us.saturating_sub(self.last_arrival_us);
        if gap > self.max_gap_us {
            self.max_gap_us = gap;
            self.max_gap_at_us = now_us;
        }
        if gap > 40_000 {
            self.gaps_over_40ms += 1;
        }
        self.last_arrival_us = self.last_arrival_us.max(now_us);

        let delta = i64::from(seq.wrapping_sub(self.max_ext as u16) as i16);
        let ext = self.max_ext.saturating_add_signed(delta);
        if delta > 0 {
            let shift = delta as u64;
            self.window = if shift >= WINDOW {
                1
            } else {
                (self.window << shift) | 1
            };
            self.max_ext = ext;
        } else if delta == 0 {
            self.duplicates += 1;
        } else {
            let back = (-delta) as u64;
            if back < WINDOW {
                let bit = 1u128 << back;
                if self.window & bit != 0 {
                    self.duplicates += 1;
                    return;
                }
                self.window |= bit;
            }
            self.out_of_order += 1;
            self.first_ext = self.first_ext.min(ext);
        }
    }

    /// Distinct packets received.
    pub fn unique(&self) -> u64 {
        self.received - self.duplicates
    }

    /// Packets the sequence numbers say were sent, first to last seen.
    pub fn expected(&self) -> u64 {
        if self.started {
            self.max_ext - self.first_ext + 1
        } else {
            0
        }
    }

    /// Packets missing from the sequence (never negative).
    pub fn lost(&self) -> u64 {
        self.expected().saturating_sub(self.unique())
    }
}

/// Sums of many streams.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StreamTotals {
    pub streams: u64,
    pub received: u64,
    pub unique: u64,
    pub expected: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub max_gap_us: u64,
    pub max_gap_at_us: u64,
    pub gaps_over_40ms: u64,
}

impl StreamTotals {
    pub fn add(&mut self, s: &RecvStream) {
        self.streams += 1;
        self.received += s.received;
        self.unique += s.unique();
        self.expected += s.expected();
        self.lost += s.lost();
        self.duplicates += s.duplicates;
        self.out_of_order += s.out_of_order;
        if s.max_gap_us > self.max_gap_us {
            self.max_gap_us = s.max_gap_us;
            self.max_gap_at_us = s.max_gap_at_us;
        }
        self.gaps_over_40ms += s.gaps_over_40ms;
    }
}

/// End-to-end loss in percent: what was sent on one side against the
/// distinct packets that arrived on the other. `None` when nothing was
/// sent. Negative means more arrived than was sent (someone duplicated
/// or invented packets).
pub fn loss_percent(sent: u64, arrived: u64) -> Option<f64> {
    (sent > 0).then(|| (sent as f64 - arrived as f64) * 100.0 / sent as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed(seqs: &[u16]) -> RecvStream {
        let mut s = RecvStream::default();
        for (i, &q) in seqs.iter().enumerate() {
            s.on_packet(q, i as u64 * 20_000);
        }
        s
    }

    #[test]
    fn in_order_stream_has_no_loss() {
        let seqs: Vec<u16> = (100..1100).collect();
        let s = feed(&seqs);
        assert_eq!((s.received, s.expected(), s.lost()), (1000, 1000, 0));
        assert_eq!((s.duplicates, s.out_of_order), (0, 0));
        assert_eq!(s.max_gap_us, 20_000);
        assert_eq!(s.gaps_over_40ms, 0);
    }

    #[test]
    fn wraparound_is_continuous() {
        let seqs: Vec<u16> = (0..200u32).map(|i| (65_500 + i) as u16).collect();
        let s = feed(&seqs);
        assert_eq!((s.expected(), s.lost()), (200, 0));
    }

    #[test]
    fn gaps_count_as_loss() {
        let s = feed(&[1, 2, 3, 6, 7, 10]);
        assert_eq!((s.unique(), s.expected(), s.lost()), (6, 10, 4));
    }

    #[test]
    fn duplicates_are_not_arrivals() {
        let s = feed(&[1, 2, 2, 3, 1, 4]);
        assert_eq!(s.duplicates, 2);
        assert_eq!((s.unique(), s.expected(), s.lost()), (4, 4, 0));
    }

    #[test]
    fn reordering_fills_the_gap() {
        let s = feed(&[1, 2, 4, 3, 5]);
        assert_eq!(s.out_of_order, 1);
        assert_eq!((s.lost(), s.duplicates), (0, 0));
        // A packet older than the first one seen widens the range.
        let s = feed(&[10, 11, 9, 12]);
        assert_eq!((s.expected(), s.lost(), s.out_of_order), (4, 0, 1));
    }

    #[test]
    fn a_long_jump_forgets_the_window() {
        let s = feed(&[1, 2, 1000, 1001]);
        assert_eq!(s.expected(), 1001);
        assert_eq!(s.lost(), 997);
    }

    #[test]
    fn arrival_gaps_are_measured() {
        let mut s = RecvStream::default();
        s.on_packet(1, 0);
        s.on_packet(2, 20_000);
        s.on_packet(3, 85_000);
        s.on_packet(4, 100_000);
        assert_eq!((s.max_gap_us, s.max_gap_at_us), (65_000, 85_000));
        assert_eq!(s.gaps_over_40ms, 1);
    }

    #[test]
    fn totals_and_end_to_end_loss() {
        let mut t = StreamTotals::default();
        t.add(&feed(&[1, 2, 3]));
        t.add(&feed(&[5, 7]));
        assert_eq!((t.streams, t.unique, t.expected, t.lost), (2, 5, 6, 1));
        assert_eq!(loss_percent(1000, 999), Some(0.1));
        assert_eq!(loss_percent(0, 0), None);
        assert_eq!(loss_percent(100, 101), Some(-1.0));
    }
}
