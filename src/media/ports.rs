//! The RTP port pool: which UDP ports of `media.port_min..=port_max` are
//! free. One pool per server, shared by the call actors; a lease returns
//! its port when dropped, so a call that ends (or panics) never leaks one.
//!
//! RTP conventionally takes even ports (RFC 3550 §11, RTCP on the next odd
//! one); Hibiki hands out even ports only and tolerates RTCP arriving on
//! the RTP port (RFC 5761). Ports are handed out round-robin so a port
//! just released is not reused at once (late packets of the old call).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// The pool. Cheap to clone (one shared state).
#[derive(Clone, Debug)]
pub struct PortPool {
    free: Arc<Mutex<VecDeque<u16>>>,
    size: usize,
}

/// One port, held for one leg; returned to the pool on drop.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    pool: Arc<Mutex<VecDeque<u16>>>,
}

impl PortPool {
    /// The even ports in `min..=max`.
    pub fn new(min: u16, max: u16) -> PortPool {
        let first = min.saturating_add(min % 2);
        let free: VecDeque<u16> = (first..=max).step_by(2).collect();
        let size = free.len();
        PortPool {
            free: Arc::new(Mutex::new(free)),
            size,
        }
    }

    /// Takes the next free port, `None` when all are in use (the call
    /// then gets 503).
    pub fn lease(&self) -> Option<PortLease> {
        // The lock guards a few pointer moves and is never held across an
        // await; a poisoned lock still holds a consistent queue.
        let mut free = self.free.lock().unwrap_or_else(|p| p.into_inner());
        free.pop_front().map(|port| PortLease {
            port,
            pool: Arc::clone(&self.free),
        })
    }

    /// Ports currently free.
    pub fn available(&self) -> usize {
        self.free.lock().map(|f| f.len()).unwrap_or(0)
    }

    /// Ports in the pool.
    pub fn size(&self) -> usize {
        self.size
    }
}

impl PortLease {
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        let mut free = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        free.push_back(self.port);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hands_out_even_ports_until_empty_and_takes_them_back() {
        let pool = PortPool::new(20001, 20008);
        assert_eq!(pool.size(), 4);
        let leases: Vec<PortLease> = (0..4).map(|_| pool.lease().unwrap()).collect();
        let ports: Vec<u16> = leases.iter().map(PortLease::port).collect();
        assert_eq!(ports, [20002, 20004, 20006, 20008]);
        assert!(pool.lease().is_none(), "exhausted");
        drop(leases);
        assert_eq!(pool.available(), 4);
    }

    #[test]
    fn a_released_port_goes_to_the_back_of_the_queue() {
        let pool = PortPool::new(20000, 20005);
        let a = pool.lease().unwrap();
        assert_eq!(a.port(), 20000);
        drop(a);
        assert_eq!(pool.lease().unwrap().port(), 20002);
    }
}
