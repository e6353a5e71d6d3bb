//! Failed `hello`s, per client address: answered at most `rate` a second (PROTOCOL.md §1.1), so
//! guessing tokens is slow however many sockets the guesser opens. (A connection's own token
//! bucket is the engine's: `sessionwire_core::engine::TokenBucket`.)

use crate::registry::lock;
use std::{
    collections::HashMap,
    net::IpAddr,
    sync::Mutex,
    time::{Duration, Instant},
};

/// Addresses remembered at most; past it, addresses whose delay has run out are forgotten.
const MAX_TRACKED_ADDRESSES: usize = 4096;

/// When each client address may next be told that its `hello` failed (a GCRA: the theoretical
/// arrival time of the next failure, one interval apart).
#[derive(Debug)]
pub struct FailedHellos {
    interval: Duration,
    /// Failures answered at once before the delays start.
    burst: u32,
    next: Mutex<HashMap<IpAddr, Instant>>,
}

impl FailedHellos {
    /// At most `per_second` failures a second per address (bursts of as many).
    pub fn new(per_second: f64) -> Self {
        let per_second = per_second.max(0.001);
        Self {
            interval: Duration::from_secs_f64(1.0 / per_second),
            burst: per_second.ceil().min(1000.0) as u32,
            next: Mutex::new(HashMap::new()),
        }
    }

    /// Records a failed `hello` from `addr`; returns how long to wait before answering it.
    pub fn delay(&self, addr: IpAddr) -> Duration {
        self.delay_at(addr, Instant::now())
    }

    fn delay_at(&self, addr: IpAddr, now: Instant) -> Duration {
        let mut next = lock(&self.next);
        if next.len() >= MAX_TRACKED_ADDRESSES {
            next.retain(|_, at| *at > now);
        }
        let at = next.entry(addr).or_insert(now);
        let start = (*at).max(now);
        *at = start + self.interval;
        let allowance = self.interval * self.burst.saturating_sub(1);
        start.saturating_duration_since(now + allowance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_hellos_are_spaced_per_address() {
        let limiter = FailedHellos::new(10.0);
        let now = Instant::now();
        let a: IpAddr = [127, 0, 0, 1].into();
        let b: IpAddr = [127, 0, 0, 2].into();
        for _ in 0..10 {
            assert_eq!(limiter.delay_at(a, now), Duration::ZERO);
        }
        assert_eq!(limiter.delay_at(a, now), Duration::from_millis(100));
        assert_eq!(limiter.delay_at(a, now), Duration::from_millis(200));
        assert_eq!(limiter.delay_at(b, now), Duration::ZERO);
        // Two seconds later the address has its burst back.
        let later = now + Duration::from_secs(3);
        assert_eq!(limiter.delay_at(a, later), Duration::ZERO);
    }
}
