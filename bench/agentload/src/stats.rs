//! The figures of a run: screen-pop latency percentiles and routing
//! decisions per second over the steady window. Pure functions over the
//! samples the agents recorded, so they are tested on their own.

/// One `call.offered` as an agent's socket received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Offer {
    /// The server's routing decision (`offered_at_us`), µs since the epoch.
    pub offered_at_us: u64,
    /// When the frame came off the agent's socket, µs since the epoch
    /// (same machine, same clock).
    pub arrived_at_us: u64,
    /// `waited_seconds`: how long the call had been queued.
    pub waited_seconds: u64,
}

impl Offer {
    /// Arrival minus decision; negative only if the wall clock stepped
    /// back in between (counted apart, see [`Latency::negative`]).
    pub fn latency_us(&self) -> i64 {
        // Both are µs since 1970: far below i64::MAX.
        let arrived = i64::try_from(self.arrived_at_us).unwrap_or(i64::MAX);
        let offered = i64::try_from(self.offered_at_us).unwrap_or(i64::MAX);
        arrived.saturating_sub(offered)
    }
}

/// Pop latency percentiles (µs), nearest rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Latency {
    pub count: usize,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
    pub min_us: u64,
    /// Samples with arrival before decision (a clock step): left out of
    /// the percentiles.
    pub negative: usize,
}

/// The `p`th percentile (0–100] of sorted values, nearest rank.
pub fn percentile(sorted: &[u64], p: f64) -> Option<u64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// Latency percentiles of `offers`.
pub fn latency(offers: &[Offer]) -> Latency {
    let mut values: Vec<u64> = Vec::with_capacity(offers.len());
    let mut negative = 0;
    for o in offers {
        match u64::try_from(o.latency_us()) {
            Ok(v) => values.push(v),
            Err(_) => negative += 1,
        }
    }
    values.sort_unstable();
    Latency {
        count: values.len(),
        p50_us: percentile(&values, 50.0).unwrap_or(0),
        p90_us: percentile(&values, 90.0).unwrap_or(0),
        p99_us: percentile(&values, 99.0).unwrap_or(0),
        max_us: values.last().copied().unwrap_or(0),
        min_us: values.first().copied().unwrap_or(0),
        negative,
    }
}

/// The steady window: from `warmup_s` after the first decision to
/// `calling_s` after it (when the callers stop), trimmed by `warmup_s` at
/// the end too (the last calls' arrivals are spread by the caller's
/// start-up). `None` without offers or when nothing is left of it.
pub fn steady_window(offers: &[Offer], calling_s: f64, warmup_s: f64) -> Option<(u64, u64)> {
    let first = offers.iter().map(|o| o.offered_at_us).min()?;
    let start = first.saturating_add(secs_to_us(warmup_s));
    let end = first.saturating_add(secs_to_us((calling_s - warmup_s).max(0.0)));
    (end > start).then_some((start, end))
}

/// Routing decisions per second inside `[start, end)`.
pub fn decisions_per_second(offers: &[Offer], window: (u64, u64)) -> f64 {
    let (start, end) = window;
    if end <= start {
        return 0.0;
    }
    let n = offers
        .iter()
        .filter(|o| (start..end).contains(&o.offered_at_us))
        .count();
    n as f64 / ((end - start) as f64 / 1e6)
}

fn secs_to_us(s: f64) -> u64 {
    if s.is_finite() && s > 0.0 {
        (s * 1e6) as u64
    } else {
        0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offer(offered: u64, latency: u64) -> Offer {
        Offer {
            offered_at_us: offered,
            arrived_at_us: offered + latency,
            waited_seconds: 0,
        }
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let v: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile(&v, 50.0), Some(50));
        assert_eq!(percentile(&v, 99.0), Some(99));
        assert_eq!(percentile(&v, 100.0), Some(100));
        assert_eq!(percentile(&[7], 1.0), Some(7));
        assert_eq!(percentile(&[], 50.0), None);
        // 10 values: p90 is the 9th, p99 the 10th.
        let v: Vec<u64> = (1..=10).map(|x| x * 10).collect();
        assert_eq!(percentile(&v, 90.0), Some(90));
        assert_eq!(percentile(&v, 99.0), Some(100));
    }

    #[test]
    fn latency_sorts_and_sets_clock_steps_apart() {
        let t = 1_795_000_000_000_000;
        let mut offers: Vec<Offer> = [900, 100, 300, 200, 50_000]
            .iter()
            .map(|&l| offer(t, l))
            .collect();
        offers.push(Offer {
            offered_at_us: t,
            arrived_at_us: t - 5,
            waited_seconds: 0,
        });
        let l = latency(&offers);
        assert_eq!(l.count, 5);
        assert_eq!(l.negative, 1);
        assert_eq!((l.min_us, l.p50_us, l.max_us), (100, 300, 50_000));
        assert_eq!(l.p99_us, 50_000);
        assert_eq!(latency(&[]), Latency::default());
    }

    #[test]
    fn decisions_are_counted_inside_the_trimmed_window() {
        let t0 = 1_000_000_000;
        // 10 decisions a second for 20 s.
        let offers: Vec<Offer> = (0..200).map(|i| offer(t0 + i * 100_000, 500)).collect();
        let w = steady_window(&offers, 20.0, 2.0).expect("a window");
        assert_eq!(w, (t0 + 2_000_000, t0 + 18_000_000));
        let rate = decisions_per_second(&offers, w);
        assert!((rate - 10.0).abs() < 1e-9, "{rate}");
        // Too short to trim: no window.
        assert_eq!(steady_window(&offers, 3.0, 2.0), None);
        assert_eq!(steady_window(&[], 20.0, 2.0), None);
        assert_eq!(decisions_per_second(&offers, (5, 5)), 0.0);
    }
}
