//! The customer tracking page: server-rendered HTML under `/track` on
//! central's HTTP listener (see docs/tracking.md). A customer proves the
//! order is theirs with the order number and their email or postal code, or
//! opens a signed, expiring link; a tracking number alone shows the carrier's
//! progress and nothing of the order.
//!
//! Pure (no I/O, unit and property tested): [`token`] (signed links),
//! [`lang`] (language negotiation), [`catalog`] (the words), [`dates`],
//! [`lookup`] (the second factor), [`limit`] (bounded rate limits),
//! [`brand`] (colors and contrast), [`proxy`] (the client behind proxies), [`page`] (what a page says). The rest
//! reads config, loads from the store and serves: [`config`], [`templates`],
//! [`load`], [`routes`] (the pages), [`api`] (minting links).

pub mod api;
pub mod brand;
pub mod catalog;
pub mod config;
pub mod dates;
pub mod lang;
pub mod limit;
pub mod load;
pub mod lookup;
pub mod page;
pub mod proxy;
pub mod routes;
pub mod templates;
pub mod token;

use std::net::IpAddr;
use std::time::{Duration, Instant};

pub use config::{RawTracking, TrackingSettings};
pub use lang::Lang;
pub use token::{LinkClaims, LinkKey, LinkRefusal, mint, verify};

use self::brand::Brand;
use self::limit::FailureBuckets;

/// What the tracking routes share: the settings, the keys that sign and
/// verify links, and the failure limits.
#[derive(Debug)]
pub struct TrackingState {
    pub settings: TrackingSettings,
    /// The first signs; all verify.
    keys: Vec<LinkKey>,
    pub clients: FailureBuckets<IpAddr>,
    pub orders: FailureBuckets<String>,
}

/// The id of the key made up when none is configured.
pub const EPHEMERAL_KEY_ID: &str = "ephemeral";

impl TrackingState {
    /// The state of `settings`; with no link key configured, a random one
    /// for this process (links then stop working at restart, and across
    /// replicas: said in a warning).
    pub fn new(settings: TrackingSettings) -> Self {
        let keys = if settings.link_keys.is_empty() {
            tracing::warn!(
                "no [[tracking.link_keys]] configured: tracking links are signed with a random key and stop working when central restarts (and on other replicas)"
            );
            vec![LinkKey::new(EPHEMERAL_KEY_ID, &random_secret())]
        } else {
            settings.link_keys.clone()
        };
        Self {
            clients: FailureBuckets::new(settings.client_limit),
            orders: FailureBuckets::new(settings.order_limit),
            keys,
            settings,
        }
    }

    pub fn keys(&self) -> &[LinkKey] {
        &self.keys
    }

    /// The key new links are signed with.
    pub fn signing_key(&self) -> &LinkKey {
        // `new` never leaves the list empty.
        &self.keys[0]
    }

    /// Takes a failure from `client`'s budget and, when given, from
    /// `order`'s, before the attempt is judged; both or neither.
    /// `Err(retry_after)` when either is spent.
    pub fn try_spend(&self, client: IpAddr, order: Option<&str>, now: Instant) -> Result<(), Duration> {
        self.clients.try_spend(&client, now)?;
        if let Some(order) = order
            && let Err(wait) = self.orders.try_spend(&order.to_string(), now)
        {
            self.clients.refund(&client, now);
            return Err(wait);
        }
        Ok(())
    }

    /// Gives back what [`try_spend`](Self::try_spend) took: the attempt
    /// succeeded (or could not be judged), and success costs nothing.
    pub fn refund(&self, client: IpAddr, order: Option<&str>, now: Instant) {
        self.clients.refund(&client, now);
        if let Some(order) = order {
            self.orders.refund(&order.to_string(), now);
        }
    }

    /// The brand an order names, else the default brand.
    pub fn brand(&self, name: Option<&str>) -> &Brand {
        name.and_then(|n| self.settings.brands.iter().find(|b| b.name == n))
            .unwrap_or(&self.settings.default_brand)
    }
}

fn random_secret() -> [u8; 32] {
    use ring::rand::SecureRandom;
    let mut secret = [0u8; 32];
    if let Err(e) = ring::rand::SystemRandom::new().fill(&mut secret) {
        // Not reached on a working OS; the key then only lives as long as the
        // process and is still unknown outside it.
        tracing::error!(error = ?e, "no OS randomness for the tracking link key; deriving one from the clock");
        use sha2::Digest;
        let seed = format!("{:?}{}", std::time::SystemTime::now(), std::process::id());
        secret.copy_from_slice(&sha2::Sha256::digest(seed.as_bytes()));
    }
    secret
}
