//! Failed lookups, rate-limited per client and per order number: a token
//! bucket per key, in a map of bounded size (past it, buckets that have
//! refilled are forgotten, then the stalest), so guessing from many addresses
//! or at many order numbers cannot grow memory. Pure but for the lock: the
//! time is given.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures a key may make in a burst and how fast it earns them back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitSettings {
    pub burst: u32,
    pub per_minute: f64,
    pub max_keys: usize,
}

pub struct FailureBuckets<K> {
    settings: LimitSettings,
    buckets: Mutex<HashMap<K, Bucket>>,
}

impl<K> std::fmt::Debug for FailureBuckets<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureBuckets")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl<K: Hash + Eq + Clone> FailureBuckets<K> {
    pub fn new(settings: LimitSettings) -> Self {
        Self {
            settings: LimitSettings {
                burst: settings.burst.max(1),
                per_minute: settings.per_minute.max(0.001),
                max_keys: settings.max_keys.max(1),
            },
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn per_sec(&self) -> f64 {
        self.settings.per_minute / 60.0
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let earned = now.saturating_duration_since(b.updated).as_secs_f64() * self.per_sec();
        (b.tokens + earned).min(f64::from(self.settings.burst))
    }

    /// Takes one of `key`'s failures before the attempt is judged, so
    /// concurrent attempts cannot all pass a check made before any of them
    /// is recorded; `Err(retry_after)` when none is left. Give it back with
    /// [`refund`](Self::refund) when the attempt succeeds.
    pub fn try_spend(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let tokens = buckets
            .get(key)
            .map_or(f64::from(self.settings.burst), |b| self.refilled(b, now));
        if tokens < 1.0 {
            let secs = ((1.0 - tokens) / self.per_sec()).ceil().clamp(1.0, 86_400.0);
            return Err(Duration::from_secs_f64(secs));
        }
        if !buckets.contains_key(key) && buckets.len() >= self.settings.max_keys {
            let full = f64::from(self.settings.burst);
            buckets.retain(|_, b| self.refilled(b, now) < full);
            if buckets.len() >= self.settings.max_keys
                && let Some(oldest) = buckets.iter().min_by_key(|(_, b)| b.updated).map(|(k, _)| k.clone())
            {
                buckets.remove(&oldest);
            }
        }
        buckets.insert(
            key.clone(),
            Bucket {
                tokens: tokens - 1.0,
                updated: now,
            },
        );
        Ok(())
    }

    /// Gives back a failure [`try_spend`](Self::try_spend) took at `now`
    /// (the attempt succeeded).
    pub fn refund(&self, key: &K, now: Instant) {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = buckets.get_mut(key) {
            b.tokens = (self.refilled(b, now) + 1.0).min(f64::from(self.settings.burst));
            b.updated = b.updated.max(now);
        }
    }

    pub fn tracked(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One bucket per IPv4 address and per IPv6 /64 (what one subscriber holds).
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const SETTINGS: LimitSettings = LimitSettings {
        burst: 3,
        per_minute: 6.0,
        max_keys: 8,
    };

    #[test]
    fn a_burst_then_a_wait_then_one_more() {
        let limits = FailureBuckets::new(SETTINGS);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limits.try_spend(&"a", t0).is_ok());
        }
        let wait = limits.try_spend(&"a", t0).expect_err("limited");
        assert_eq!(wait, Duration::from_secs(10), "one refill interval");
        assert!(limits.try_spend(&"b", t0).is_ok(), "other keys are not affected");
        assert!(limits.try_spend(&"a", t0 + Duration::from_secs(10)).is_ok());
        assert!(limits.try_spend(&"a", t0 + Duration::from_secs(10)).is_err());
    }

    #[test]
    fn a_refund_gives_the_spent_failure_back() {
        let limits = FailureBuckets::new(SETTINGS);
        let t0 = Instant::now();
        for _ in 0..100 {
            limits.try_spend(&"a", t0).expect("a success costs nothing");
            limits.refund(&"a", t0);
        }
        for _ in 0..3 {
            assert!(limits.try_spend(&"a", t0).is_ok());
        }
        assert!(limits.try_spend(&"a", t0).is_err());
    }

    #[test]
    fn ipv6_neighbours_share_a_bucket() {
        let a: IpAddr = "2001:db8:1:2::1".parse().expect("ip");
        let b: IpAddr = "2001:db8:1:2:ffff::9".parse().expect("ip");
        assert_eq!(client_key(a), client_key(b));
        let v4: IpAddr = "::ffff:10.0.0.1".parse().expect("ip");
        assert_eq!(client_key(v4), "10.0.0.1".parse::<IpAddr>().expect("ip"));
    }

    proptest! {
        #[test]
        fn memory_stays_bounded(keys in proptest::collection::vec(any::<u32>(), 0..200)) {
            let limits = FailureBuckets::new(SETTINGS);
            let t0 = Instant::now();
            for k in keys {
                let _spent = limits.try_spend(&k, t0);
                prop_assert!(limits.tracked() <= SETTINGS.max_keys);
            }
        }
    }
}
