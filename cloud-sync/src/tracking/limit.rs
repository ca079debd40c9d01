//! Failed lookups, rate-limited per client and per order number: a token
//! bucket per key in a fixed array, the key's bucket chosen by a keyed hash
//! (SipHash with a random key made at start, so no one can aim keys at one
//! bucket). Nothing is ever evicted, so no one can reset a budget by
//! crowding the table; two keys that share a bucket share a budget, which
//! only makes their limit stricter; memory is fixed by the array's size.
//! Every operation is O(1) under the lock. Pure but for the lock: the time
//! is given.

use std::hash::{BuildHasher, Hash, RandomState};
use std::marker::PhantomData;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How many failures a key may make in a burst and how fast it earns them
/// back; `max_keys` buckets are kept (the array's size).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LimitSettings {
    pub burst: u32,
    pub per_minute: f64,
    pub max_keys: usize,
}

/// Most buckets one limit keeps (16 bytes each).
pub const MAX_BUCKETS: usize = 1 << 20;

pub struct FailureBuckets<K> {
    settings: LimitSettings,
    hasher: RandomState,
    /// Times in buckets are milliseconds since this.
    epoch: Instant,
    buckets: Mutex<Box<[Bucket]>>,
    keys: PhantomData<fn(&K)>,
}

impl<K> std::fmt::Debug for FailureBuckets<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureBuckets")
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// Tokens as of `at_ms`; a bucket never used is full.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: u64,
}

impl<K: Hash> FailureBuckets<K> {
    pub fn new(settings: LimitSettings) -> Self {
        let settings = LimitSettings {
            burst: settings.burst.max(1),
            per_minute: settings.per_minute.max(0.001),
            max_keys: settings.max_keys.clamp(1, MAX_BUCKETS),
        };
        let full = Bucket {
            tokens: f64::from(settings.burst),
            at_ms: 0,
        };
        Self {
            hasher: RandomState::new(),
            epoch: Instant::now(),
            buckets: Mutex::new(vec![full; settings.max_keys].into_boxed_slice()),
            settings,
            keys: PhantomData,
        }
    }

    fn per_sec(&self) -> f64 {
        self.settings.per_minute / 60.0
    }

    fn ms(&self, now: Instant) -> u64 {
        u64::try_from(now.saturating_duration_since(self.epoch).as_millis()).unwrap_or(u64::MAX)
    }

    fn slot(&self, key: &K) -> usize {
        // The remainder is below the array's length, a usize.
        (self.hasher.hash_one(key) % self.settings.max_keys as u64) as usize
    }

    /// The bucket's tokens at `now_ms` (never earlier than its last update).
    fn refilled(&self, b: &Bucket, now_ms: u64) -> (f64, u64) {
        let at = now_ms.max(b.at_ms);
        let earned = (at - b.at_ms) as f64 / 1000.0 * self.per_sec();
        ((b.tokens + earned).min(f64::from(self.settings.burst)), at)
    }

    /// Takes one of `key`'s failures before the attempt is judged, so
    /// concurrent attempts cannot all pass a check made before any of them
    /// is recorded; `Err(retry_after)` when none is left. Give it back with
    /// [`refund`](Self::refund) when the attempt succeeds.
    pub fn try_spend(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let (slot, now_ms) = (self.slot(key), self.ms(now));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        let Some(b) = buckets.get_mut(slot) else {
            return Ok(());
        };
        let (tokens, at_ms) = self.refilled(b, now_ms);
        if tokens < 1.0 {
            let secs = ((1.0 - tokens) / self.per_sec()).ceil().clamp(1.0, 86_400.0);
            return Err(Duration::from_secs_f64(secs));
        }
        *b = Bucket {
            tokens: tokens - 1.0,
            at_ms,
        };
        Ok(())
    }

    /// Gives back a failure [`try_spend`](Self::try_spend) took (the attempt
    /// succeeded).
    pub fn refund(&self, key: &K, now: Instant) {
        let (slot, now_ms) = (self.slot(key), self.ms(now));
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(b) = buckets.get_mut(slot) {
            let (tokens, at_ms) = self.refilled(b, now_ms);
            *b = Bucket {
                tokens: (tokens + 1.0).min(f64::from(self.settings.burst)),
                at_ms,
            };
        }
    }

    /// How many buckets are kept: fixed.
    pub fn capacity(&self) -> usize {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

/// One bucket per IPv4 address and per IPv6 /64, as for API tokens.
pub(crate) use crate::auth::limiter::client_key;

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use proptest::prelude::*;

    use super::*;

    const SETTINGS: LimitSettings = LimitSettings {
        burst: 3,
        per_minute: 6.0,
        max_keys: 8,
    };

    #[test]
    fn a_burst_then_a_wait_then_one_more() {
        let limits = FailureBuckets::new(LimitSettings {
            max_keys: 1024,
            ..SETTINGS
        });
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limits.try_spend(&"a", t0).is_ok());
        }
        let wait = limits.try_spend(&"a", t0).expect_err("limited");
        assert_eq!(wait, Duration::from_secs(10), "one refill interval");
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
    fn crowding_the_table_does_not_reset_a_spent_budget() {
        let limits = FailureBuckets::new(SETTINGS);
        let t0 = Instant::now();
        for _ in 0..3 {
            limits.try_spend(&0u32, t0).expect("burst");
        }
        for k in 1..10_000u32 {
            let _spent = limits.try_spend(&k, t0);
        }
        assert!(limits.try_spend(&0u32, t0).is_err(), "still spent");
        assert_eq!(limits.capacity(), SETTINGS.max_keys);
    }

    #[test]
    fn the_size_is_bounded() {
        let huge = FailureBuckets::<u32>::new(LimitSettings {
            max_keys: usize::MAX,
            ..SETTINGS
        });
        assert_eq!(huge.capacity(), MAX_BUCKETS);
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
        /// Against a model with a bucket of its own per key (one token a
        /// second, whole seconds, so the arithmetic is exact): whatever the
        /// keys, collisions and waits, no key is ever let through when its
        /// own bucket would refuse; memory never grows.
        #[test]
        fn shared_buckets_are_never_more_lenient_than_own_ones(
            ops in proptest::collection::vec((0u8..40, 0u64..4, any::<bool>()), 0..400),
        ) {
            let settings = LimitSettings { burst: 3, per_minute: 60.0, max_keys: 8 };
            let limits = FailureBuckets::new(settings);
            let t0 = Instant::now();
            let mut model: BTreeMap<u8, (f64, u64)> = BTreeMap::new();
            let mut secs = 0u64;
            for (key, wait, refund) in ops {
                secs += wait;
                let now = t0 + Duration::from_secs(secs);
                let (tokens, at) = model.get(&key).copied().unwrap_or((3.0, secs));
                let own = (tokens + (secs - at) as f64).min(3.0);
                if limits.try_spend(&key, now).is_ok() {
                    prop_assert!(own >= 1.0, "key {} let through with {} of its own", key, own);
                    let own = if refund { limits.refund(&key, now); own } else { own - 1.0 };
                    model.insert(key, (own, secs));
                } else {
                    model.insert(key, (own, secs));
                }
                prop_assert_eq!(limits.capacity(), settings.max_keys);
            }
        }
    }
}
