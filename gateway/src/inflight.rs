//! Backpressure from ingest to the devices. The front acceptor admits a PUBLISH's
//! topic and payload bytes before forwarding it to the embedded broker; ingest
//! releases them as it takes messages off the broker's link. When ingest falls
//! behind, admission waits, the acceptor stops reading device sockets and TCP slows
//! the devices down. rumqttd keeps more than the budget in memory, so it never has
//! to drop what it accepted (it would, silently, if it ran past its segments).

use tokio::sync::Semaphore;

#[derive(Debug)]
pub struct InflightBudget {
    permits: Semaphore,
    max: usize,
}

impl InflightBudget {
    pub fn new(max_bytes: usize) -> Self {
        let max = max_bytes.clamp(1, Semaphore::MAX_PERMITS);
        Self {
            permits: Semaphore::new(max),
            max,
        }
    }

    pub fn max_bytes(&self) -> usize {
        self.max
    }

    fn permits_for(&self, bytes: u64) -> u32 {
        u32::try_from(bytes.min(self.max as u64)).unwrap_or(u32::MAX)
    }

    /// Admits `bytes` now if the budget has room.
    pub fn try_admit(&self, bytes: u64) -> bool {
        let n = self.permits_for(bytes);
        n == 0 || self.permits.try_acquire_many(n).map(|p| p.forget()).is_ok()
    }

    /// Waits until `bytes` may be forwarded.
    pub async fn admit(&self, bytes: u64) {
        let n = self.permits_for(bytes);
        if n > 0
            && let Ok(p) = self.permits.acquire_many(n).await
        {
            p.forget();
        }
    }

    /// Ingest took `bytes` off the link.
    pub fn release(&self, bytes: usize) {
        let room = self.max.saturating_sub(self.permits.available_permits());
        self.permits.add_permits(bytes.min(room));
    }

    /// Ingest found the link empty: whatever is still admitted was dropped by the
    /// broker without reaching the link (e.g. a publish it refused), so give it back.
    pub fn refill(&self) {
        self.release(self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn admission_waits_until_ingest_releases() {
        let b = std::sync::Arc::new(InflightBudget::new(100));
        assert!(b.try_admit(60));
        assert!(b.try_admit(40));
        assert!(!b.try_admit(30), "nothing left to admit");
        let waiting = tokio::spawn({
            let b = b.clone();
            async move { b.admit(30).await }
        });
        tokio::task::yield_now().await;
        assert!(!waiting.is_finished());
        b.release(30);
        waiting.await.expect("admitted once released");
        b.release(1000);
        assert_eq!(b.permits.available_permits(), 100, "never above the budget");
    }

    #[tokio::test]
    async fn refill_recovers_bytes_the_broker_dropped() {
        let b = InflightBudget::new(100);
        assert!(b.try_admit(100));
        b.refill();
        assert!(b.try_admit(100), "a full budget again");
    }
}
