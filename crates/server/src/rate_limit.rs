//! A per-connection token bucket: each frame takes one token; tokens refill at a steady rate up
//! to a burst size. A frame that finds the bucket empty is answered `rate_limited` and dropped.

use crate::config::RateLimit;
use std::time::Instant;

/// One connection's bucket.
#[derive(Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    refilled: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            tokens: limit.burst,
            refilled: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    pub fn try_take(&mut self) -> bool {
        self.take_at(Instant::now())
    }

    fn take_at(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refilled).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.limit.per_second).min(self.limit.burst);
        self.refilled = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let mut bucket = TokenBucket::new(RateLimit {
            per_second: 10.0,
            burst: 3.0,
        });
        let start = bucket.refilled;
        assert!(bucket.take_at(start));
        assert!(bucket.take_at(start));
        assert!(bucket.take_at(start));
        assert!(!bucket.take_at(start));
        assert!(bucket.take_at(start + Duration::from_millis(100)));
        assert!(!bucket.take_at(start + Duration::from_millis(100)));
    }
}
