//! Who may call the HTTP API: bearer tokens with scopes, kept as SHA-256 digests
//! (in the store when issued through the API, in the config file when an
//! operator provisions them), and a per-client limit on failed attempts.
//!
//! The ops port (`/metrics`, `/healthz`, `/readyz`) is not behind this: it binds
//! loopback by default and is for the monitoring system.

mod extract;
pub mod limiter;
pub mod routes;
mod scope;
pub mod secret;
mod store;

use std::collections::HashMap;
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use axum::http::HeaderValue;
use chrono::Utc;
use tracing::{debug, info, warn};

pub use extract::{AuthRejection, Authorized, WithGatekeeper};
pub use scope::{MAX_SCOPES, RequiredScope, Scope, UnknownScope, needs, parse_scopes};

use crate::metrics::{ReasonLabel, SyncMetrics};
use crate::store::{CentralStore, StoreError};
use limiter::FailureLimiter;
use secret::TokenHash;
pub use store::TokenRecord;

/// Where central writes the admin token it creates on first start, in its data dir.
pub const ADMIN_TOKEN_FILE: &str = "admin.token";
pub const MAX_NAME_LEN: usize = 64;

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error(transparent)]
    Random(#[from] secret::RandomUnavailable),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// A token name: what logs and listings show instead of the secret.
pub fn valid_name(name: &str) -> bool {
    (1..=MAX_NAME_LEN).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// A token an operator listed in the config file (`[[api.tokens]]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProvisionedToken {
    pub name: String,
    pub sha256: TokenHash,
    pub scopes: Vec<Scope>,
}

/// The token behind an authenticated request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
}

impl Principal {
    pub fn allows(&self, needed: Scope) -> bool {
        self.scopes.iter().any(|s| s.grants(needed))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    Api,
    Config,
}

#[derive(Debug, Clone)]
struct Entry {
    id: String,
    name: String,
    scopes: Vec<Scope>,
    created_ms: Option<i64>,
    expires_ms: Option<i64>,
    revoked: bool,
    source: TokenSource,
}

impl Entry {
    fn from_record(r: &TokenRecord) -> Option<(TokenHash, Self)> {
        let hash = secret::parse_hash_hex(&r.sha256)?;
        Some((
            hash,
            Self {
                id: r.id.clone(),
                name: r.name.clone(),
                scopes: r.scopes.clone(),
                created_ms: Some(r.created_ms),
                expires_ms: r.expires_ms,
                revoked: r.revoked,
                source: TokenSource::Api,
            },
        ))
    }
}

/// A token as listings show it: never the secret, never its hash.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenView {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub source: TokenSource,
    pub created_ms: Option<i64>,
    pub expires_ms: Option<i64>,
    pub revoked: bool,
}

/// A newly issued token: the only time its secret exists outside the client.
pub struct Issued {
    pub record: TokenRecord,
    pub secret: String,
}

/// Names the token by id; never the secret.
impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("id", &self.record.id)
            .field("name", &self.record.name)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
pub enum Revoked {
    Revoked(TokenView),
    NotFound,
    /// Config tokens are removed from the config file, not through the API.
    Provisioned(String),
}

/// Checks bearer tokens, issues and revokes them, and limits failed attempts.
pub struct Gatekeeper {
    store: Arc<CentralStore>,
    metrics: Arc<SyncMetrics>,
    limiter: FailureLimiter,
    provisioned: Vec<ProvisionedToken>,
    /// Every known token by the digest of its secret; the store is the durable copy.
    tokens: RwLock<HashMap<TokenHash, Entry>>,
}

impl std::fmt::Debug for Gatekeeper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gatekeeper").finish_non_exhaustive()
    }
}

impl Gatekeeper {
    /// Loads the stored tokens and adds those provisioned in the config. Blocking.
    pub fn load(
        store: Arc<CentralStore>,
        provisioned: &[ProvisionedToken],
        metrics: Arc<SyncMetrics>,
        limiter: FailureLimiter,
    ) -> Result<Self, StoreError> {
        let tokens = known_tokens(&store, provisioned)?;
        Ok(Self {
            store,
            metrics,
            limiter,
            provisioned: provisioned.to_vec(),
            tokens: RwLock::new(tokens),
        })
    }

    /// Reads the stored tokens again: what another central process issued or
    /// revoked takes effect here from then on (central runs this every
    /// [`REFRESH_INTERVAL`]). Blocking.
    pub fn refresh(&self) -> Result<(), StoreError> {
        let tokens = known_tokens(&self.store, &self.provisioned)?;
        *self.tokens.write().unwrap_or_else(|p| p.into_inner()) = tokens;
        Ok(())
    }

    /// The token behind an `Authorization` header, or why there is none.
    pub fn authenticate(
        &self,
        authorization: Option<&HeaderValue>,
        client: IpAddr,
    ) -> Result<Principal, AuthRejection> {
        // A valid token is never throttled: the limit is on failing
        // credentials, so one misconfigured or hostile client cannot lock out
        // the good ones sharing its address (or its proxy). Letting a right
        // guess through costs nothing: a secret is 256 random bits.
        let rejection = match self.lookup(authorization, Utc::now().timestamp_millis()) {
            Ok(principal) => return Ok(principal),
            Err(rejection) => rejection,
        };
        let now = Instant::now();
        if let Err(retry_after) = self.limiter.check(client, now) {
            self.count(&AuthRejection::RateLimited { retry_after });
            return Err(AuthRejection::RateLimited { retry_after });
        }
        self.count(&rejection);
        debug!(%client, reason = rejection.reason(), "api authentication failed");
        if self.limiter.record_failure(client, now) {
            warn!(%client, "client's failing credentials rate-limited after repeated authentication failures");
        }
        Err(rejection)
    }

    /// `Ok` when `principal` holds `scope` (or admin).
    pub fn authorize(&self, principal: &Principal, scope: Scope) -> Result<(), AuthRejection> {
        if principal.allows(scope) {
            return Ok(());
        }
        info!(token = %principal.name, id = %principal.id, %scope, "api request lacks scope");
        let rejection = AuthRejection::Forbidden {
            token: principal.name.clone(),
            scope,
        };
        self.count(&rejection);
        Err(rejection)
    }

    fn lookup(&self, authorization: Option<&HeaderValue>, now_ms: i64) -> Result<Principal, AuthRejection> {
        let bearer = bearer(authorization)?;
        let tokens = self.tokens.read().unwrap_or_else(|p| p.into_inner());
        let entry = tokens.get(&secret::hash(bearer)).ok_or(AuthRejection::Unknown)?;
        if entry.revoked {
            return Err(AuthRejection::Revoked);
        }
        if entry.expires_ms.is_some_and(|e| now_ms >= e) {
            return Err(AuthRejection::Expired);
        }
        Ok(Principal {
            id: entry.id.clone(),
            name: entry.name.clone(),
            scopes: entry.scopes.clone(),
        })
    }

    fn count(&self, rejection: &AuthRejection) {
        self.metrics
            .api_auth_rejected
            .get_or_create(&ReasonLabel {
                reason: rejection.reason(),
            })
            .inc();
    }

    /// Issues a token and stores it durably. Blocking.
    pub fn issue(&self, name: &str, scopes: Vec<Scope>, expires_ms: Option<i64>) -> Result<Issued, TokenError> {
        let secret = secret::generate()?;
        let record = self.insert(&secret, name, scopes, expires_ms)?;
        Ok(Issued { record, secret })
    }

    fn insert(
        &self,
        secret: &str,
        name: &str,
        scopes: Vec<Scope>,
        expires_ms: Option<i64>,
    ) -> Result<TokenRecord, TokenError> {
        let record = self.record(secret, name, scopes, expires_ms)?;
        self.store.insert_token(&record)?;
        self.cache(&record);
        Ok(record)
    }

    fn record(
        &self,
        secret: &str,
        name: &str,
        scopes: Vec<Scope>,
        expires_ms: Option<i64>,
    ) -> Result<TokenRecord, TokenError> {
        Ok(TokenRecord {
            id: secret::new_id()?,
            name: name.to_string(),
            sha256: waymark_proto::hex(&secret::hash(secret)),
            scopes,
            created_ms: Utc::now().timestamp_millis(),
            expires_ms,
            revoked: false,
        })
    }

    fn cache(&self, record: &TokenRecord) {
        if let Some((hash, entry)) = Entry::from_record(record) {
            self.tokens
                .write()
                .unwrap_or_else(|p| p.into_inner())
                .insert(hash, entry);
        }
    }

    /// Revokes a token by id, durably. Blocking.
    pub fn revoke(&self, id: &str) -> Result<Revoked, StoreError> {
        let provisioned = {
            let tokens = self.tokens.read().unwrap_or_else(|p| p.into_inner());
            tokens
                .values()
                .find(|e| e.id == id && e.source == TokenSource::Config)
                .map(|e| e.name.clone())
        };
        if let Some(name) = provisioned {
            return Ok(Revoked::Provisioned(name));
        }
        let Some(record) = self.store.revoke_token(id)? else {
            return Ok(Revoked::NotFound);
        };
        let mut tokens = self.tokens.write().unwrap_or_else(|p| p.into_inner());
        let entry = tokens.values_mut().find(|e| e.id == id && e.source == TokenSource::Api);
        if let Some(entry) = entry {
            entry.revoked = true;
        }
        Ok(Revoked::Revoked(TokenView {
            id: record.id,
            name: record.name,
            scopes: record.scopes,
            source: TokenSource::Api,
            created_ms: Some(record.created_ms),
            expires_ms: record.expires_ms,
            revoked: true,
        }))
    }

    /// Every token, oldest first, without secrets or hashes.
    pub fn list(&self) -> Vec<TokenView> {
        let tokens = self.tokens.read().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<TokenView> = tokens
            .values()
            .map(|e| TokenView {
                id: e.id.clone(),
                name: e.name.clone(),
                scopes: e.scopes.clone(),
                source: e.source,
                created_ms: e.created_ms,
                expires_ms: e.expires_ms,
                revoked: e.revoked,
            })
            .collect();
        out.sort_by(|a, b| (a.source, a.created_ms, &a.id).cmp(&(b.source, b.created_ms, &b.id)));
        out
    }

    /// On first start (the store has never held a token) issues an `admin` token
    /// and writes its secret to `<data_dir>/admin.token`, mode 0600. The file is
    /// written before the token is stored, so a crash in between only means the
    /// next start writes a new one; a central process that loses the race to
    /// another one starting on the same store removes its file. Returns the
    /// file's path. Blocking.
    pub fn bootstrap_admin(&self, data_dir: &Path) -> Result<PathBuf, TokenError> {
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        if !self.store.tokens()?.is_empty() {
            return Ok(path);
        }
        let secret = secret::generate()?;
        write_private(&path, &format!("{secret}\n")).map_err(|source| TokenError::Write {
            path: path.clone(),
            source,
        })?;
        let record = self.record(&secret, "admin", vec![Scope::Admin], None)?;
        if !self.store.insert_bootstrap_token(&record)? {
            std::fs::remove_file(&path).ok();
            info!("another central process created the admin token");
            self.refresh()?;
            return Ok(path);
        }
        self.cache(&record);
        info!(token = %record.id, "admin API token written to {}", path.display());
        Ok(path)
    }
}

/// How soon a token issued or revoked through another central process counts here.
pub const REFRESH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);

/// The stored tokens, then those provisioned in the config (which win).
fn known_tokens(
    store: &CentralStore,
    provisioned: &[ProvisionedToken],
) -> Result<HashMap<TokenHash, Entry>, StoreError> {
    let mut tokens = HashMap::new();
    for record in store.tokens()? {
        match Entry::from_record(&record) {
            Some((hash, entry)) => {
                tokens.insert(hash, entry);
            }
            None => warn!(token = %record.id, "stored token has an invalid hash; ignored"),
        }
    }
    for p in provisioned {
        let entry = Entry {
            id: format!("cfg_{}", p.name),
            name: p.name.clone(),
            scopes: p.scopes.clone(),
            created_ms: None,
            expires_ms: None,
            revoked: false,
            source: TokenSource::Config,
        };
        if tokens.insert(p.sha256, entry).is_some() {
            warn!(token = %p.name, "config token has the same secret as a stored token; the config wins");
        }
    }
    Ok(tokens)
}

/// The secret in `Authorization: Bearer <secret>`.
fn bearer(value: Option<&HeaderValue>) -> Result<&str, AuthRejection> {
    let value = value.ok_or(AuthRejection::Missing)?;
    let text = value.to_str().map_err(|_| AuthRejection::Malformed)?;
    let (scheme, token) = text.trim().split_once(' ').ok_or(AuthRejection::Malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer")
        || token.is_empty()
        || token.len() > secret::MAX_SECRET_LEN
        || token.contains(char::is_whitespace)
    {
        return Err(AuthRejection::Malformed);
    }
    Ok(token)
}

/// Writes a file readable by its owner only (a secret or a private key),
/// atomically and durably: a fresh temporary file, then a rename, so a file left
/// by an interrupted run never lends its permissions.
pub(crate) fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
