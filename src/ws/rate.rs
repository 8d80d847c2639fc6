//! [`ControlRate`]: how many messages a WebSocket client may send (`WS_CONTROL_RATE`).
//!
//! Every subscribe, resume or ping costs the server work (a snapshot, a replay, an
//! answer); a client sending them without pause made it queue a thousand snapshots.
//! A token bucket lets a dashboard change its filter as often as a person clicks —
//! `rate` a second on average, bursts of twice that — and tells a client that goes
//! beyond apart from one that is merely quick.

use std::time::Instant;

/// A token bucket refilled at `rate` tokens a second, holding at most `2 × rate`.
#[derive(Debug, Clone)]
pub struct ControlRate {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl ControlRate {
    /// A full bucket for `per_second` messages a second (at least one).
    pub fn new(per_second: u32) -> Self {
        let rate = f64::from(per_second.max(1));
        Self {
            rate,
            burst: rate * 2.0,
            tokens: rate * 2.0,
            last: Instant::now(),
        }
    }

    /// Takes a token for one message at `now`; `false` when the client is over the rate.
    pub fn take(&mut self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
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
    fn a_burst_of_twice_the_rate_then_the_rate() {
        let start = Instant::now();
        let mut bucket = ControlRate::new(20);
        let burst = (0..100).take_while(|_| bucket.take(start)).count();
        assert_eq!(burst, 40, "twice the rate at once");
        assert!(!bucket.take(start), "then nothing without time");
        // Half a second later: ten more.
        let later = start + Duration::from_millis(500);
        let refill = (0..100).take_while(|_| bucket.take(later)).count();
        assert_eq!(refill, 10);
        // A long pause refills to the burst, not beyond.
        let much_later = later + Duration::from_secs(60);
        let again = (0..100).take_while(|_| bucket.take(much_later)).count();
        assert_eq!(again, 40);
    }
}
