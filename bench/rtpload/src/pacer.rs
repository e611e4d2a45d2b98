//! The 20 ms send schedule of every media leg, sans-IO.
//!
//! Real calls are not in phase, and sending every call's packet in one
//! burst per 20 ms would measure bursts (and fill socket buffers) rather
//! than throughput. So the 20 ms period is cut into `slots` phases (1 ms
//! each by default) and each leg belongs to one slot: leg `id` sends at
//! `epoch + k × 20 ms + (id mod slots) × slot_us` for every period `k`
//! from the one after it started until the stop time.
//!
//! Deadlines are computed from the period index, never by adding 20 ms to
//! the last wake-up, so a late loop does not drift: after a stall the
//! periods that fell due are emitted one after the other (each with its
//! own `k`, so sequence numbers and timestamps stay on the grid), and the
//! caller learns how late it was.

/// One packet time.
pub const PTIME_US: u64 = 20_000;

/// A leg's place in the schedule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Member {
    leg: u32,
    /// The first period the leg sends in.
    first_k: u64,
}

/// The schedule.
#[derive(Debug, Clone)]
pub struct Pacer {
    slot_us: u64,
    /// Per slot: the next period index not yet emitted.
    next_k: Vec<u64>,
    members: Vec<Vec<Member>>,
    /// No deadline at or after this time is emitted.
    stop_us: Option<u64>,
    /// The largest lateness seen when emitting (µs).
    pub max_late_us: u64,
}

/// One packet that fell due.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub leg: u32,
    /// Packets this leg sent before this one (0 for its first packet).
    pub index: u64,
    pub deadline_us: u64,
}

impl Pacer {
    /// A schedule with `slots` phases (1..=20 divides 20 ms evenly for
    /// 1, 2, 4, 5, 10, 20).
    pub fn new(slots: u32) -> Pacer {
        let slots = slots.clamp(1, 20);
        Pacer {
            slot_us: PTIME_US / u64::from(slots),
            next_k: vec![0; slots as usize],
            members: vec![Vec::new(); slots as usize],
            stop_us: None,
            max_late_us: 0,
        }
    }

    fn slot_of(&self, leg: u32) -> usize {
        leg as usize % self.members.len()
    }

    fn deadline(&self, slot: usize, k: u64) -> u64 {
        k * PTIME_US + slot as u64 * self.slot_us
    }

    /// Starts `leg` at `now_us`: it first sends at its slot's next
    /// deadline at or after now.
    pub fn add(&mut self, leg: u32, now_us: u64) {
        let slot = self.slot_of(leg);
        let offset = slot as u64 * self.slot_us;
        let first_k = now_us.saturating_sub(offset).div_ceil(PTIME_US);
        let first_k = first_k.max(self.next_k[slot]);
        self.members[slot].push(Member { leg, first_k });
    }

    /// Stops `leg` (it emits nothing more).
    pub fn remove(&mut self, leg: u32) {
        let slot = self.slot_of(leg);
        self.members[slot].retain(|m| m.leg != leg);
    }

    /// From now on nothing due at or after `stop_us` is emitted (the
    /// earliest stop time given wins).
    pub fn stop_at(&mut self, stop_us: u64) {
        self.stop_us = Some(self.stop_us.map_or(stop_us, |s| s.min(stop_us)));
    }

    /// Hands every packet due at `now_us` to `emit`, in deadline order
    /// within each slot.
    pub fn poll(&mut self, now_us: u64, mut emit: impl FnMut(Due)) {
        for slot in 0..self.members.len() {
            loop {
                let k = self.next_k[slot];
                let deadline = self.deadline(slot, k);
                if deadline > now_us || self.stop_us.is_some_and(|s| deadline >= s) {
                    break;
                }
                self.max_late_us = self.max_late_us.max(now_us - deadline);
                for m in &self.members[slot] {
                    if k >= m.first_k {
                        emit(Due {
                            leg: m.leg,
                            index: k - m.first_k,
                            deadline_us: deadline,
                        });
                    }
                }
                self.next_k[slot] = k + 1;
            }
        }
    }

    /// When the next packet falls due (`None` after the stop time).
    pub fn next_deadline(&self) -> Option<u64> {
        (0..self.members.len())
            .map(|slot| self.deadline(slot, self.next_k[slot]))
            .filter(|&d| !matches!(self.stop_us, Some(s) if d >= s))
            .min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p: &mut Pacer, from_us: u64, to_us: u64, step_us: u64) -> Vec<Due> {
        let mut out = Vec::new();
        let mut t = from_us;
        while t <= to_us {
            p.poll(t, |d| out.push(d));
            t += step_us;
        }
        out
    }

    #[test]
    fn every_leg_sends_every_20ms_in_its_own_phase() {
        let mut p = Pacer::new(20);
        p.add(0, 0);
        p.add(3, 0);
        p.add(23, 0); // same slot as 3
        let out = run(&mut p, 0, 99_999, 500);
        let times = |leg| -> Vec<u64> {
            out.iter()
                .filter(|d| d.leg == leg)
                .map(|d| d.deadline_us)
                .collect()
        };
        assert_eq!(times(0), vec![0, 20_000, 40_000, 60_000, 80_000]);
        assert_eq!(times(3), vec![3_000, 23_000, 43_000, 63_000, 83_000]);
        assert_eq!(times(23), times(3));
        let idx: Vec<u64> = out.iter().filter(|d| d.leg == 3).map(|d| d.index).collect();
        assert_eq!(idx, vec![0, 1, 2, 3, 4]);
        assert_eq!(p.max_late_us, 0);
    }

    #[test]
    fn a_leg_starts_at_its_next_deadline() {
        let mut p = Pacer::new(20);
        run(&mut p, 0, 30_000, 1000);
        p.add(5, 30_500); // slot 5: deadlines 25_000, 45_000...
        let out = run(&mut p, 31_000, 70_000, 1000);
        let first = out.iter().find(|d| d.leg == 5).copied();
        assert_eq!(
            first,
            Some(Due {
                leg: 5,
                index: 0,
                deadline_us: 45_000
            })
        );
    }

    #[test]
    fn a_stall_catches_up_on_the_grid() {
        let mut p = Pacer::new(20);
        p.add(1, 0);
        let mut out = Vec::new();
        p.poll(0, |d| out.push(d));
        p.poll(65_000, |d| out.push(d)); // 3 periods of slot 1 fell due
        let got: Vec<(u64, u64)> = out.iter().map(|d| (d.index, d.deadline_us)).collect();
        assert_eq!(got, vec![(0, 1_000), (1, 21_000), (2, 41_000), (3, 61_000)]);
        assert_eq!(p.max_late_us, 64_000);
    }

    #[test]
    fn stop_and_remove_end_sending() {
        let mut p = Pacer::new(20);
        p.add(0, 0);
        p.add(1, 0);
        p.stop_at(40_000);
        let out = run(&mut p, 0, 100_000, 1000);
        assert_eq!(out.iter().filter(|d| d.leg == 0).count(), 2); // 0, 20 ms
        assert_eq!(out.iter().filter(|d| d.leg == 1).count(), 2); // 1, 21 ms
        assert_eq!(p.next_deadline(), None);
        // A later stop does not resume sending.
        p.stop_at(200_000);
        assert!(run(&mut p, 100_000, 300_000, 1000).is_empty());

        let mut p = Pacer::new(20);
        p.add(0, 0);
        let mut out = run(&mut p, 0, 30_000, 1000);
        p.remove(0);
        out.extend(run(&mut p, 31_000, 100_000, 1000));
        assert_eq!(out.len(), 2);
    }

    #[test]
    fn next_deadline_is_the_nearest_slot() {
        let mut p = Pacer::new(4); // 5 ms slots
        assert_eq!(p.next_deadline(), Some(0));
        p.poll(6_000, |_| {});
        assert_eq!(p.next_deadline(), Some(10_000));
    }
}
