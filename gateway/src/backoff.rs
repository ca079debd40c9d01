//! Reconnect delays: exponential with full jitter, so forty gateways that lost
//! central together do not return together.

use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration) -> Self {
        Self { base, max, attempt: 0 }
    }

    /// The next delay: uniform in [base/2, min(max, base * 2^attempt)].
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.base.saturating_mul(1u32 << self.attempt.min(20)).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let floor = (self.base / 2).min(ceiling);
        let span = (ceiling - floor).as_millis() as u64;
        floor + Duration::from_millis(fastrand::u64(0..=span))
    }

    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_to_the_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let delays: Vec<_> = (0..10).map(|_| b.next_delay()).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(50) && *d <= Duration::from_secs(2))
        );
        assert!(delays[0] <= Duration::from_millis(100));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
