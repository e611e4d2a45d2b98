//! Replay protection for stateless nonces: the highest nonce count (`nc`)
//! accepted for each nonce still fresh.
//!
//! The nonces themselves stay stateless ([`super::NonceIssuer`]: any node
//! holding the secret checks them), but a captured `Authorization` must
//! not open a second call: RFC 7616 §3.4 (and RFC 2617 §3.2.2) has the
//! client count the requests it makes with one nonce, and the server
//! refuse a count it has seen. [`NonceCounts`] remembers, per nonce, the
//! highest count accepted, for as long as the nonce is fresh; the caller
//! records only credentials already verified, so nobody can fill it
//! without the password. A refused count is answered with a fresh
//! challenge (`stale=true`): a client that repeats a count by mistake
//! retries with a new nonce, a replayer cannot.
//!
//! Bounded: entries leave when their nonce goes stale, and past
//! `capacity` the oldest leave first. The memory is per node: a request
//! replayed to another node of a cluster is not caught there.

use std::collections::{HashMap, VecDeque};

/// The highest `nc` accepted per fresh nonce.
#[derive(Debug)]
pub struct NonceCounts {
    /// Nonce → (when first accepted, highest count accepted).
    seen: HashMap<String, (u64, u32)>,
    /// Nonces in the order they were first accepted, with that time.
    order: VecDeque<(u64, String)>,
    lifetime_ms: u64,
    capacity: usize,
}

impl NonceCounts {
    /// Remembers nonces for `lifetime_ms` after their first use (the
    /// issuer's lifetime: a nonce is stale by then anyway), at most
    /// `capacity` of them.
    pub fn new(lifetime_ms: u64, capacity: usize) -> NonceCounts {
        NonceCounts {
            seen: HashMap::new(),
            order: VecDeque::new(),
            lifetime_ms,
            capacity: capacity.max(1),
        }
    }

    /// Accepts verified credentials using `nonce` with count `nc` at
    /// `now_ms` when `nc` is higher than every count accepted for that
    /// nonce before, and remembers it; false for a count already used
    /// (a replay).
    pub fn accept(&mut self, nonce: &str, nc: u32, now_ms: u64) -> bool {
        self.expire(now_ms);
        if let Some((_, highest)) = self.seen.get_mut(nonce) {
            if nc <= *highest {
                return false;
            }
            *highest = nc;
            return true;
        }
        while self.seen.len() >= self.capacity {
            match self.order.pop_front() {
                Some((_, old)) => {
                    self.seen.remove(&old);
                }
                None => break,
            }
        }
        self.seen.insert(nonce.to_owned(), (now_ms, nc));
        self.order.push_back((now_ms, nonce.to_owned()));
        true
    }

    /// How many nonces are remembered.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether none is.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    fn expire(&mut self, now_ms: u64) {
        while let Some((first, _)) = self.order.front() {
            if now_ms.saturating_sub(*first) <= self.lifetime_ms {
                break;
            }
            if let Some((_, old)) = self.order.pop_front() {
                self.seen.remove(&old);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::NonceCounts;

    #[test]
    fn a_count_is_accepted_once_and_only_rising_counts_after_it() {
        let mut c = NonceCounts::new(60_000, 100);
        assert!(c.accept("n1", 1, 0));
        assert!(!c.accept("n1", 1, 10), "the same count again is a replay");
        assert!(c.accept("n1", 2, 20));
        assert!(!c.accept("n1", 1, 30), "a lower count is a replay too");
        assert!(c.accept("n1", 7, 40), "counts may skip");
        assert!(c.accept("n2", 1, 50), "another nonce has its own count");
        assert_eq!(c.len(), 2);
    }

    #[test]
    fn nonces_are_forgotten_once_stale() {
        let mut c = NonceCounts::new(1_000, 100);
        assert!(c.accept("n1", 1, 0));
        assert!(c.accept("n2", 1, 600));
        // n1 is past its lifetime (the issuer calls it stale by now):
        // forgotten; n2 is kept.
        assert!(c.accept("n3", 1, 1_500));
        assert_eq!(c.len(), 2);
        assert!(!c.accept("n2", 1, 1_500));
    }

    #[test]
    fn past_capacity_the_oldest_nonce_leaves_first() {
        let mut c = NonceCounts::new(60_000, 2);
        assert!(c.accept("a", 1, 0));
        assert!(c.accept("b", 1, 1));
        assert!(c.accept("c", 1, 2));
        assert_eq!(c.len(), 2);
        assert!(!c.accept("b", 1, 3), "b is still remembered");
        assert!(!c.accept("c", 1, 3), "c too");
    }
}
