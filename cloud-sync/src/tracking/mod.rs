//! The customer tracking page: server-rendered HTML under `/track` on
//! central's HTTP listener (see docs/tracking.md). A customer proves the
//! order is theirs with the order number and their email or postal code, or
//! opens a signed, expiring link; a tracking number alone shows the carrier's
//! progress and nothing of the order.
//!
//! Pure (no I/O, unit and property tested): [`token`] (sealed links),
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
    /// replicas: said in a warning). Without OS randomness for that key it
    /// refuses: a key derived from anything guessable would let anyone mint
    /// links.
    pub fn new(settings: TrackingSettings) -> Result<Self, NoRandomness> {
        let keys = if settings.link_keys.is_empty() {
            tracing::warn!(
                "no [[tracking.link_keys]] configured: tracking links are signed with a random key and stop working when central restarts (and on other replicas)"
            );
            vec![LinkKey::new(EPHEMERAL_KEY_ID, &random_secret()?)]
        } else {
            settings.link_keys.clone()
        };
        Ok(Self {
            clients: FailureBuckets::new(settings.client_limit),
            orders: FailureBuckets::new(settings.order_limit),
            keys,
            settings,
        })
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

/// No link key is configured and the OS gave no randomness to make one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error(
    "the operating system gave no randomness for a tracking link key: configure [[tracking.link_keys]] or fix the OS random source"
)]
pub struct NoRandomness;

fn random_secret() -> Result<[u8; 32], NoRandomness> {
    use ring::rand::SecureRandom;
    secret_from(|buf| ring::rand::SystemRandom::new().fill(buf))
}

/// A secret from `fill`, with no fallback: a failing source is an error.
fn secret_from(fill: impl FnOnce(&mut [u8]) -> Result<(), ring::error::Unspecified>) -> Result<[u8; 32], NoRandomness> {
    let mut secret = [0u8; 32];
    fill(&mut secret).map_err(|_| NoRandomness)?;
    Ok(secret)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_randomness_refuses_instead_of_guessing() {
        assert_eq!(secret_from(|_| Err(ring::error::Unspecified)), Err(NoRandomness));
        let ok = secret_from(|b| {
            b.fill(7);
            Ok(())
        });
        assert_eq!(ok, Ok([7u8; 32]));
        assert!(NoRandomness.to_string().contains("[[tracking.link_keys]]"));
        let state = TrackingState::new(TrackingSettings::default()).expect("the OS has randomness here");
        assert_eq!(state.signing_key().id, EPHEMERAL_KEY_ID);
    }
}
