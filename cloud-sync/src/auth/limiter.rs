//! Failed authentication attempts, rate-limited per client address: a token
//! bucket per address, in a map bounded so a flood of addresses cannot grow it
//! without limit. Keyed by the TCP peer: behind a reverse proxy every client
//! shares the proxy's bucket (forwarded headers are not trusted).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures a client may make in a burst.
pub const DEFAULT_BURST: u32 = 20;
/// Failures a client earns back per second once the burst is spent.
pub const DEFAULT_REFILL_PER_SEC: f64 = 0.5;
/// Clients tracked at once; past this the stalest is forgotten.
pub const DEFAULT_MAX_CLIENTS: usize = 4096;

pub struct FailureLimiter {
    burst: f64,
    refill_per_sec: f64,
    max_clients: usize,
    clients: Mutex<HashMap<IpAddr, Bucket>>,
}

impl std::fmt::Debug for FailureLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FailureLimiter")
            .field("burst", &self.burst)
            .field("refill_per_sec", &self.refill_per_sec)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl Default for FailureLimiter {
    fn default() -> Self {
        Self::new(DEFAULT_BURST, DEFAULT_REFILL_PER_SEC, DEFAULT_MAX_CLIENTS)
    }
}

impl FailureLimiter {
    pub fn new(burst: u32, refill_per_sec: f64, max_clients: usize) -> Self {
        Self {
            burst: f64::from(burst.max(1)),
            refill_per_sec: refill_per_sec.max(0.001),
            max_clients: max_clients.max(1),
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(retry_after)` while `ip` has no failures left to spend.
    pub fn check(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        let Some(bucket) = clients.get(&client_key(ip)) else {
            return Ok(());
        };
        let tokens = self.refilled(bucket, now);
        if tokens >= 1.0 {
            return Ok(());
        }
        let secs = ((1.0 - tokens) / self.refill_per_sec).ceil().max(1.0);
        Err(Duration::from_secs_f64(secs.min(86_400.0)))
    }

    /// Spends one of `ip`'s failures; true when that was its last one.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) -> bool {
        let key = client_key(ip);
        let mut clients = self.clients.lock().unwrap_or_else(|p| p.into_inner());
        if !clients.contains_key(&key) && clients.len() >= self.max_clients {
            self.evict(&mut clients, now);
        }
        let burst = self.burst;
        let tokens = clients.get(&key).map_or(burst, |b| self.refilled(b, now));
        let left = (tokens - 1.0).max(0.0);
        clients.insert(
            key,
            Bucket {
                tokens: left,
                updated: now,
            },
        );
        tokens >= 1.0 && left < 1.0
    }

    pub fn tracked_clients(&self) -> usize {
        self.clients.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn refilled(&self, b: &Bucket, now: Instant) -> f64 {
        let earned = now.saturating_duration_since(b.updated).as_secs_f64() * self.refill_per_sec;
        (b.tokens + earned).min(self.burst)
    }

    /// Forgets clients whose bucket has refilled (they carry no history), and
    /// if that frees nothing, the one not seen for longest.
    fn evict(&self, clients: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        clients.retain(|_, b| self.refilled(b, now) < self.burst);
        if clients.len() >= self.max_clients
            && let Some(oldest) = clients.iter().min_by_key(|(_, b)| b.updated).map(|(k, _)| *k)
        {
            clients.remove(&oldest);
        }
    }
}

/// One bucket per IPv4 address and per IPv6 /64 (what one subscriber usually holds).
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
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
    use super::*;

    fn ip(n: u8) -> IpAddr {
        IpAddr::from([10, 0, 0, n])
    }

    #[test]
    fn a_burst_then_refill_per_client() {
        let l = FailureLimiter::new(3, 1.0, 16);
        let t0 = Instant::now();
        assert!(!l.record_failure(ip(1), t0));
        assert!(!l.record_failure(ip(1), t0));
        assert!(l.record_failure(ip(1), t0), "the third failure spends the burst");
        assert_eq!(l.check(ip(1), t0), Err(Duration::from_secs(1)));
        assert_eq!(l.check(ip(2), t0), Ok(()), "other clients are unaffected");
        assert_eq!(l.check(ip(1), t0 + Duration::from_millis(1000)), Ok(()));
    }

    #[test]
    fn ipv6_clients_share_their_64() {
        let l = FailureLimiter::new(1, 1.0, 16);
        let t0 = Instant::now();
        l.record_failure("2001:db8::1".parse().expect("ip"), t0);
        assert!(l.check("2001:db8::ffff".parse().expect("ip"), t0).is_err());
        assert!(l.check("2001:db8:0:1::1".parse().expect("ip"), t0).is_ok());
        l.record_failure("::ffff:10.0.0.9".parse().expect("ip"), t0);
        assert!(l.check(ip(9), t0).is_err(), "v4-mapped is the v4 address");
    }

    #[test]
    fn the_map_stays_bounded() {
        let l = FailureLimiter::new(2, 0.001, 8);
        let t0 = Instant::now();
        for n in 0..100u8 {
            l.record_failure(ip(n), t0 + Duration::from_millis(u64::from(n)));
            assert!(l.tracked_clients() <= 8);
        }
        assert!(
            l.record_failure(ip(99), t0 + Duration::from_secs(1)),
            "the newest client was kept"
        );
        assert_eq!(l.tracked_clients(), 8);
    }
}
