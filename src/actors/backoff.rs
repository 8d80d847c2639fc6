//! Capped exponential backoff with jitter.
//!
//! Two schedules matter for a PBX: a refused TCP connect costs the PBX nothing, so
//! those retries stay fast (capped near a second, so switchboard is back within a
//! second of the PBX); a refused login is logged and security-audited by Asterisk,
//! so those retries start slower and grow further — never hammer a PBX with logins.

use std::time::Duration;

use rand::Rng;

/// One backoff schedule.
#[derive(Debug, Clone)]
pub struct Backoff {
    min: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// A schedule from `min` doubling up to `max`.
    pub fn new(min: Duration, max: Duration) -> Self {
        Self {
            min,
            max: max.max(min),
            attempt: 0,
        }
    }

    /// The next delay: `min * 2^attempt`, capped, with ±20 % jitter so many
    /// instances do not reconnect in lockstep.
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32 << self.attempt.min(16);
        self.attempt = self.attempt.saturating_add(1);
        let base = self.min.saturating_mul(factor).min(self.max);
        let jitter = rand::thread_rng().gen_range(0.8..1.2);
        base.mul_f64(jitter).min(self.max)
    }

    /// Back to the first step after a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// How many delays were handed out since the last reset.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_millis(1000));
        let d: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        assert!(d[0] >= Duration::from_millis(80) && d[0] <= Duration::from_millis(120));
        assert!(d[3] >= Duration::from_millis(640));
        assert!(d.iter().all(|x| *x <= Duration::from_millis(1000)));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(120));
    }
}
