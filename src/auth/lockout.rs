//! A small brake on password guessing: after [`MAX_FAILURES`] failed
//! logins in a row for one username, further attempts for it are refused
//! for [`LOCK_FOR`] without checking the password, the right one included.
//!
//! Keyed by the username as submitted (lower-cased), whether or not it
//! exists, so the brake itself does not tell which usernames are real.
//! A failure older than [`LOCK_FOR`] starts the count again. The state
//! lives in this process only: each node brakes on its own, and a restart
//! forgets (a guesser still gets 5 tries per 30 s per node, far below what
//! an online attack needs against a real password). The price: someone
//! can keep a known username locked by failing on purpose; 30 s is short
//! enough that this annoys rather than blocks.
//!
//! Pure: the caller passes `now`, so the tests need no clock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Failed logins in a row before a username is locked.
pub const MAX_FAILURES: u32 = 5;
/// How long the lock lasts, counted from the last failure.
pub const LOCK_FOR: Duration = Duration::from_secs(30);
/// Usernames tracked at most; past it, stale entries are dropped, then
/// the oldest. Bounds memory under a spray of random usernames.
const MAX_TRACKED: usize = 10_000;

#[derive(Clone, Copy, Debug)]
struct Failures {
    count: u32,
    last: Instant,
}

/// Failed-login counts per username.
#[derive(Debug, Default)]
pub struct Lockout {
    failures: HashMap<String, Failures>,
}

impl Lockout {
    pub fn new() -> Lockout {
        Lockout::default()
    }

    /// `Err(remaining)` while `username` is locked at `now`.
    pub fn check(&self, username: &str, now: Instant) -> Result<(), Duration> {
        match self.failures.get(username) {
            Some(f) if f.count >= MAX_FAILURES => {
                let until = f.last + LOCK_FOR;
                match until.checked_duration_since(now) {
                    Some(left) if !left.is_zero() => Err(left),
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    /// Counts a failed login at `now`.
    pub fn failed(&mut self, username: &str, now: Instant) {
        if !self.failures.contains_key(username) && self.failures.len() >= MAX_TRACKED {
            self.make_room(now);
        }
        let entry = self
            .failures
            .entry(username.to_owned())
            .or_insert(Failures {
                count: 0,
                last: now,
            });
        if now.saturating_duration_since(entry.last) > LOCK_FOR {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
    }

    /// A successful login clears the count.
    pub fn succeeded(&mut self, username: &str) {
        self.failures.remove(username);
    }

    /// How many usernames are tracked (for tests).
    pub fn tracked(&self) -> usize {
        self.failures.len()
    }

    fn make_room(&mut self, now: Instant) {
        self.failures
            .retain(|_, f| now.saturating_duration_since(f.last) <= LOCK_FOR);
        if self.failures.len() >= MAX_TRACKED {
            let oldest = self
                .failures
                .iter()
                .min_by_key(|(_, f)| f.last)
                .map(|(name, _)| name.clone());
            if let Some(name) = oldest {
                self.failures.remove(&name);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_failures_lock_for_thirty_seconds_from_the_last() {
        let mut l = Lockout::new();
        let t0 = Instant::now();
        for i in 0..MAX_FAILURES {
            assert_eq!(l.check("alice", t0), Ok(()), "before failure {i}");
            l.failed("alice", t0 + Duration::from_secs(u64::from(i)));
        }
        let last = t0 + Duration::from_secs(u64::from(MAX_FAILURES - 1));
        assert_eq!(l.check("alice", last), Err(LOCK_FOR));
        assert_eq!(
            l.check("alice", last + Duration::from_secs(10)),
            Err(Duration::from_secs(20))
        );
        assert_eq!(l.check("alice", last + LOCK_FOR), Ok(()));
        // Other usernames are not affected.
        assert_eq!(l.check("bob", last), Ok(()));
    }

    #[test]
    fn a_success_clears_the_count() {
        let mut l = Lockout::new();
        let t0 = Instant::now();
        for _ in 0..MAX_FAILURES - 1 {
            l.failed("alice", t0);
        }
        l.succeeded("alice");
        l.failed("alice", t0);
        assert_eq!(l.check("alice", t0), Ok(()));
        assert_eq!(l.tracked(), 1);
    }

    #[test]
    fn failures_spread_wider_than_the_lock_never_lock() {
        let mut l = Lockout::new();
        let t0 = Instant::now();
        for i in 0..(MAX_FAILURES * 3) {
            let at = t0 + (LOCK_FOR + Duration::from_secs(1)) * i;
            l.failed("alice", at);
            assert_eq!(l.check("alice", at), Ok(()), "failure {i}");
        }
    }

    #[test]
    fn memory_stays_bounded_under_a_spray_of_usernames() {
        let mut l = Lockout::new();
        let t0 = Instant::now();
        for i in 0..(MAX_TRACKED + 50) {
            l.failed(&format!("user{i}"), t0);
        }
        assert!(l.tracked() <= MAX_TRACKED, "{}", l.tracked());
        // Once the first ones are stale, they go first.
        l.failed("late", t0 + LOCK_FOR * 2);
        assert!(l.tracked() <= MAX_TRACKED);
        assert_eq!(l.check("late", t0 + LOCK_FOR * 2), Ok(()));
    }
}
