//! Who may connect to the device MQTT listener as which device, and which topics
//! a connection may publish to. Credentials come from the `[[devices]]` registry:
//! username = device id, password checked against the device's argon2 PHC hash.
//! Hashes and passwords are never logged or printed (`PasswordHashPhc` hides itself).

use std::collections::BTreeMap;

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use tokio::sync::Semaphore;

use crate::config::{DeviceConfig, DeviceKind};
use crate::mqtt_connect::Refusal;
use crate::topic;

/// Password verifications run at once. Each argon2 check takes tens of milliseconds
/// and ~19 MiB on purpose: a reconnect storm must not take every core and gigabytes.
const MAX_CONCURRENT_VERIFICATIONS: usize = 2;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("password_hash is not an argon2 PHC string ($argon2id$v=19$...): {0}")]
    BadHash(String),
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error("the password is empty")]
    EmptyPassword,
}

/// An argon2 PHC string from the config. Its `Debug` hides it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHashPhc(String);

impl std::fmt::Debug for PasswordHashPhc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHashPhc(<redacted>)")
    }
}

impl PasswordHashPhc {
    /// Accepts argon2 (id, i or d) PHC strings only, so a typo fails at startup.
    pub fn parse(phc: &str) -> Result<Self, AuthError> {
        let parsed = PasswordHash::new(phc).map_err(|e| AuthError::BadHash(e.to_string()))?;
        if !parsed.algorithm.as_str().starts_with("argon2") {
            return Err(AuthError::BadHash(format!(
                "algorithm `{}` is not argon2",
                parsed.algorithm
            )));
        }
        Ok(Self(phc.to_string()))
    }

    fn verify(&self, password: &[u8]) -> bool {
        PasswordHash::new(&self.0).is_ok_and(|h| Argon2::default().verify_password(password, &h).is_ok())
    }
}

/// An argon2id PHC string for `password` with a random salt (`hash-password`).
pub fn hash_password(password: &[u8]) -> Result<String, AuthError> {
    if password.is_empty() {
        return Err(AuthError::EmptyPassword);
    }
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password, &salt)
        .map(|h| h.to_string())
        .map_err(|e| AuthError::Hash(e.to_string()))
}

/// Who a connection is, once its CONNECT was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Authenticated (or, with `allow_anonymous`, a named device without a password):
    /// may publish reads for this device only.
    Device(String),
    /// No username, `allow_anonymous` on: may publish reads only for devices that
    /// have no password.
    Anonymous,
}

impl Identity {
    /// The registered device, for metric labels and logs.
    pub fn device(&self) -> Option<&str> {
        match self {
            Self::Device(d) => Some(d),
            Self::Anonymous => None,
        }
    }
}

/// A refused CONNECT: the CONNACK code, the metric reason and the device label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub refusal: Refusal,
    pub reason: &'static str,
    /// The registered device the username named (`None` if it names none).
    pub device: Option<String>,
}

#[derive(Debug)]
enum Entry {
    Mqtt(Option<PasswordHashPhc>),
    Serial,
}

#[derive(Debug)]
pub struct DeviceCredentials {
    devices: BTreeMap<String, Entry>,
    allow_anonymous: bool,
    verifications: Semaphore,
}

impl DeviceCredentials {
    pub fn new(devices: &BTreeMap<String, DeviceConfig>, allow_anonymous: bool) -> Self {
        let devices = devices
            .values()
            .map(|d| {
                let entry = match d.kind {
                    DeviceKind::Serial => Entry::Serial,
                    _ => Entry::Mqtt(d.password_hash.clone()),
                };
                (d.id.clone(), entry)
            })
            .collect();
        Self {
            devices,
            allow_anonymous,
            verifications: Semaphore::new(MAX_CONCURRENT_VERIFICATIONS),
        }
    }

    /// MQTT devices that can never connect: no password and anonymous mode off.
    pub fn locked_out(&self) -> Vec<&str> {
        if self.allow_anonymous {
            return Vec::new();
        }
        self.devices
            .iter()
            .filter(|(_, e)| matches!(e, Entry::Mqtt(None)))
            .map(|(id, _)| id.as_str())
            .collect()
    }

    /// Checks a CONNECT's username and password. The argon2 check runs on the
    /// blocking pool, at most `MAX_CONCURRENT_VERIFICATIONS` at a time.
    pub async fn authenticate(&self, username: Option<&str>, password: Option<&[u8]>) -> Result<Identity, Refused> {
        let refuse = |refusal, reason, device: Option<&str>| Refused {
            refusal,
            reason,
            device: device.map(str::to_string),
        };
        let Some(username) = username else {
            return match (self.allow_anonymous, password) {
                (true, None) => Ok(Identity::Anonymous),
                (true, Some(_)) => Err(refuse(Refusal::BadCredentials, "bad_credentials", None)),
                (false, _) => Err(refuse(Refusal::NotAuthorized, "anonymous_refused", None)),
            };
        };
        // Unknown ids get the same answer as a wrong password: device ids are not
        // secret (they are in topics), but the answer need not confirm them.
        let Some((id, entry)) = self.devices.get_key_value(username) else {
            return Err(refuse(Refusal::BadCredentials, "unknown_device", None));
        };
        let hash = match entry {
            Entry::Serial => return Err(refuse(Refusal::NotAuthorized, "wrong_transport", Some(id))),
            Entry::Mqtt(None) if self.allow_anonymous => return Ok(Identity::Device(id.clone())),
            Entry::Mqtt(None) => return Err(refuse(Refusal::NotAuthorized, "not_authorized", Some(id))),
            Entry::Mqtt(Some(hash)) => hash.clone(),
        };
        let Some(password) = password.map(<[u8]>::to_vec) else {
            return Err(refuse(Refusal::BadCredentials, "bad_credentials", Some(id)));
        };
        // The semaphore is never closed, so acquiring only waits.
        let _slot = self.verifications.acquire().await;
        let ok = tokio::task::spawn_blocking(move || hash.verify(&password))
            .await
            .unwrap_or(false);
        if ok {
            Ok(Identity::Device(id.clone()))
        } else {
            Err(refuse(Refusal::BadCredentials, "bad_credentials", Some(id)))
        }
    }

    /// Whether `identity` may publish to `topic` (also applied to will topics). A
    /// read topic (`waymark/<site>/<device>/reads`) must name the connection's own
    /// device, or for anonymous connections a device without a password. Other
    /// topics pass: ingest records nothing from them and counts them.
    /// A device may subscribe only inside its own namespace,
    /// `waymark/<site>/<its id>/...` (e.g. a command topic), never to other
    /// devices' reads. Anonymous connections (development) may subscribe to anything.
    pub fn may_subscribe(&self, identity: &Identity, filter: &[u8]) -> bool {
        let Identity::Device(d) = identity else {
            return true;
        };
        let Ok(filter) = std::str::from_utf8(filter) else {
            return false;
        };
        let mut levels = filter.split('/');
        matches!(
            (levels.next(), levels.next(), levels.next()),
            (Some("waymark"), Some(site), Some(device))
                if !site.is_empty() && !site.contains(['+', '#']) && device == d
        )
    }

    pub fn may_publish(&self, identity: &Identity, topic: &[u8]) -> bool {
        let Some(t) = std::str::from_utf8(topic).ok().and_then(|t| topic::parse(t).ok()) else {
            return true;
        };
        match identity {
            Identity::Device(d) => t.device_id == d,
            Identity::Anonymous => !matches!(self.devices.get(t.device_id), Some(Entry::Mqtt(Some(_)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(allow_anonymous: bool) -> (DeviceCredentials, String) {
        let hash = hash_password(b"door-3 secret").expect("hashes");
        let device = |id: &str, kind, password_hash| DeviceConfig {
            id: id.into(),
            kind,
            read_point: id.into(),
            business_step: "loading".into(),
            disposition: "in_transit".into(),
            serial: None,
            password_hash,
            hostname: None,
            repeat_window_ms: None,
        };
        let phc = PasswordHashPhc::parse(&hash).expect("parses");
        let devices = [
            device("door-3", DeviceKind::Zebra, Some(phc)),
            device("door-4", DeviceKind::Generic, None),
            device("scanner-1", DeviceKind::Serial, None),
        ]
        .into_iter()
        .map(|d| (d.id.clone(), d))
        .collect();
        (DeviceCredentials::new(&devices, allow_anonymous), hash)
    }

    fn reason(r: Result<Identity, Refused>) -> &'static str {
        r.err().map_or("accepted", |e| e.reason)
    }

    #[tokio::test]
    async fn secure_by_default() {
        let (c, _) = registry(false);
        assert_eq!(
            c.authenticate(Some("door-3"), Some(b"door-3 secret")).await,
            Ok(Identity::Device("door-3".into()))
        );
        assert_eq!(
            reason(c.authenticate(Some("door-3"), Some(b"wrong")).await),
            "bad_credentials"
        );
        assert_eq!(reason(c.authenticate(Some("door-3"), None).await), "bad_credentials");
        assert_eq!(
            reason(c.authenticate(Some("ghost"), Some(b"x")).await),
            "unknown_device"
        );
        assert_eq!(reason(c.authenticate(None, None).await), "anonymous_refused");
        assert_eq!(reason(c.authenticate(Some("door-4"), None).await), "not_authorized");
        assert_eq!(reason(c.authenticate(Some("scanner-1"), None).await), "wrong_transport");
        assert_eq!(c.locked_out(), ["door-4"]);
    }

    #[tokio::test]
    async fn anonymous_mode_still_protects_devices_with_passwords() {
        let (c, _) = registry(true);
        assert_eq!(c.authenticate(None, None).await, Ok(Identity::Anonymous));
        assert_eq!(
            c.authenticate(Some("door-4"), None).await,
            Ok(Identity::Device("door-4".into()))
        );
        assert_eq!(reason(c.authenticate(Some("door-3"), None).await), "bad_credentials");
        let anon = Identity::Anonymous;
        assert!(!c.may_publish(&anon, b"waymark/dc-1/door-3/reads"));
        assert!(c.may_publish(&anon, b"waymark/dc-1/door-4/reads"));
        assert!(c.may_publish(&anon, b"waymark/dc-1/ghost/reads"), "ingest counts it");
    }

    #[test]
    fn a_device_publishes_reads_for_itself_only() {
        let (c, _) = registry(false);
        let me = Identity::Device("door-3".into());
        assert!(c.may_publish(&me, b"waymark/dc-1/door-3/reads"));
        assert!(!c.may_publish(&me, b"waymark/dc-1/door-4/reads"));
        assert!(!c.may_publish(&me, b"waymark/dc-1/ghost/reads"));
        assert!(c.may_publish(&me, b"zebra/door-3/heartbeat"), "not a read topic");
    }

    #[test]
    fn hashes_are_checked_and_hidden() {
        let (_, hash) = registry(false);
        let phc = PasswordHashPhc::parse(&hash).expect("parses");
        assert!(!format!("{phc:?}").contains("argon2"));
        assert!(PasswordHashPhc::parse("plain-text-password").is_err());
        assert!(PasswordHashPhc::parse("$pbkdf2-sha256$i=1000$c2FsdA$aGFzaA").is_err());
        assert!(hash_password(b"").is_err());
    }

    #[test]
    fn a_device_subscribes_inside_its_own_namespace_only() {
        let (creds, _) = registry(false);
        let door = Identity::Device("door-3".into());
        for ok in ["waymark/dc-north/door-3/cmd", "waymark/dc-north/door-3/#"] {
            assert!(creds.may_subscribe(&door, ok.as_bytes()), "{ok}");
        }
        for refused in [
            "#",
            "waymark/#",
            "waymark/+/door-3/cmd",
            "waymark/dc-north/+/reads",
            "waymark/dc-north/pack-1/reads",
            "other/dc-north/door-3",
        ] {
            assert!(!creds.may_subscribe(&door, refused.as_bytes()), "{refused}");
        }
        assert!(creds.may_subscribe(&Identity::Anonymous, b"#"), "development mode");
    }
}
