//! Central configuration: TOML file, then `WAYMARK_*` environment, then flags,
//! validated once with every problem reported together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

use crate::auth::{self, ProvisionedToken};
use crate::store::{self, StoreOptions, StoreUrl};

pub const DEFAULT_GRPC_LISTEN: &str = "0.0.0.0:7443";
pub const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_OPS_LISTEN: &str = "127.0.0.1:9465";
/// Accepted for configs written for the sled store; no longer used.
pub const DEFAULT_CACHE_CAPACITY_MB: u64 = 256;
/// Connections the gRPC port holds at once (one per gateway, plus enrolling ones).
pub const DEFAULT_GRPC_MAX_CONNECTIONS: usize = 1024;
/// Connections the HTTP API port holds at once.
pub const DEFAULT_HTTP_MAX_CONNECTIONS: usize = 1024;
/// Connections one client address holds on the API port: a quarter of the
/// cap, so no single client can fill it. Behind a reverse proxy (every client
/// has the proxy's address) set it to `http_max_connections`.
pub const DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT: usize = 256;
/// Seconds from waiting for a request until its headers are in (also the
/// longest a keep-alive connection stays idle). Shorter than hyper's 30 s and
/// nginx's 60 s: a public API's clients send their headers at once.
pub const DEFAULT_HTTP_HEADER_TIMEOUT_SECS: u64 = 10;
/// Seconds a request body may go without sending anything (nginx's
/// `client_body_timeout` is 60 s; half of it for an API of small bodies).
pub const DEFAULT_HTTP_BODY_TIMEOUT_SECS: u64 = 30;
/// The ops port (metrics, probes) serves a monitoring system, not the public.
pub const OPS_MAX_CONNECTIONS: usize = 64;
pub const OPS_MAX_CONNECTIONS_PER_CLIENT: usize = 16;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<PathBuf>,
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub ops_listen: Option<String>,
    pub cache_capacity_mb: Option<u64>,
    /// Connections the gRPC port holds at once; more wait until one closes.
    pub grpc_max_connections: Option<usize>,
    /// Connections the HTTP API port holds at once; more wait until one closes.
    pub http_max_connections: Option<usize>,
    /// Connections one client address holds on the API port; more are closed.
    pub http_max_connections_per_client: Option<usize>,
    /// Seconds to receive a request's headers, on the API and ops ports.
    pub http_header_timeout_secs: Option<u64>,
    /// Seconds a request body may stall, on the API and ops ports.
    pub http_body_timeout_secs: Option<u64>,
    #[serde(default)]
    pub tls: RawTls,
    #[serde(default)]
    pub api: RawApi,
    #[serde(default)]
    pub store: RawStore,
    #[serde(default)]
    pub carriers: crate::carriers::config::RawCarriers,
    #[serde(default)]
    pub tracking: crate::tracking::RawTracking,
}

/// `[store]`: where central keeps everything. Without `url`, SQLite in `data_dir`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawStore {
    /// `postgres://user:password@host:5432/db?sslmode=require`, or `sqlite:PATH`.
    pub url: Option<String>,
    /// PostgreSQL connections this process holds at most.
    pub pool_size: Option<usize>,
    pub connect_timeout_secs: Option<u64>,
    /// No query runs longer (PostgreSQL `statement_timeout`).
    pub statement_timeout_secs: Option<u64>,
    /// CA certificate (PEM) for `sslmode=verify-full`; the system's roots otherwise.
    pub tls_ca_file: Option<PathBuf>,
}

/// `[api]`: tokens an operator provisions without the API.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApi {
    #[serde(default)]
    pub tokens: Vec<RawApiToken>,
}

/// `[[api.tokens]]`: the secret's SHA-256 (`waymark-sync hash-token`), never the secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApiToken {
    pub name: String,
    pub sha256: String,
    pub scopes: Vec<String>,
}

/// The gRPC port's TLS. By default central runs its own CA in `<data_dir>/pki`;
/// `ca_cert` + `ca_key` use a CA from an existing PKI instead.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// Development only: plaintext gRPC, the site taken from a header.
    pub insecure_plaintext: Option<bool>,
    pub ca_cert: Option<PathBuf>,
    pub ca_key: Option<PathBuf>,
    /// Central's own certificate (chain, PEM) and key; issued by the CA when absent.
    pub server_cert: Option<PathBuf>,
    pub server_key: Option<PathBuf>,
    /// Names gateways use to reach central, put in the certificate central issues itself.
    pub server_names: Option<Vec<String>>,
    /// Validity of site certificates signed at enrollment.
    pub client_cert_days: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub insecure_plaintext: bool,
    pub ca_cert: Option<PathBuf>,
    pub ca_key: Option<PathBuf>,
    pub server_cert: Option<PathBuf>,
    pub server_key: Option<PathBuf>,
    pub server_names: Vec<String>,
    pub client_cert_days: u32,
}

pub const DEFAULT_CLIENT_CERT_DAYS: u32 = 397;

#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub data_dir: PathBuf,
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// `/metrics`, `/healthz`, `/readyz`, kept off the public API port.
    pub ops_listen: SocketAddr,
    pub cache_capacity_bytes: u64,
    pub grpc_max_connections: usize,
    pub http_max_connections: usize,
    pub http_max_connections_per_client: usize,
    pub http_header_timeout: Duration,
    pub http_body_timeout: Duration,
    pub tls: TlsSettings,
    /// Bearer tokens from `[[api.tokens]]`, besides those issued through the API.
    pub api_tokens: Vec<ProvisionedToken>,
    pub store: StoreOptions,
    /// Carrier webhook accounts from `[[carriers.accounts]]`.
    pub carriers: crate::carriers::CarrierSettings,
    /// The customer tracking pages: `[tracking]`.
    pub tracking: crate::tracking::TrackingSettings,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid configuration:\n{}", .problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
pub struct ConfigError {
    pub problems: Vec<String>,
}

pub const ENV_KEYS: &[&str] = &[
    "WAYMARK_DATA_DIR",
    "WAYMARK_GRPC_LISTEN",
    "WAYMARK_HTTP_LISTEN",
    "WAYMARK_OPS_LISTEN",
    "WAYMARK_STORE_URL",
];

impl RawConfig {
    pub fn from_toml(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError {
            problems: vec![e.to_string()],
        })
    }

    pub fn apply_env(&mut self, env: &BTreeMap<String, String>) {
        for (k, v) in env {
            match k.as_str() {
                "WAYMARK_DATA_DIR" => self.data_dir = Some(v.into()),
                "WAYMARK_GRPC_LISTEN" => self.grpc_listen = Some(v.clone()),
                "WAYMARK_HTTP_LISTEN" => self.http_listen = Some(v.clone()),
                "WAYMARK_OPS_LISTEN" => self.ops_listen = Some(v.clone()),
                "WAYMARK_STORE_URL" => self.store.url = Some(v.clone()),
                _ => {}
            }
        }
    }

    pub fn validate(self) -> Result<SyncConfig, ConfigError> {
        let mut problems = Vec::new();
        let mut addr = |key: &str, v: Option<String>, default: &str| {
            let text = v.unwrap_or_else(|| default.to_string());
            text.parse().unwrap_or_else(|_| {
                problems.push(format!("{key}: `{text}` is not an address:port (e.g. {default})"));
                SocketAddr::from(([127, 0, 0, 1], 0))
            })
        };
        let grpc_listen = addr("grpc_listen", self.grpc_listen, DEFAULT_GRPC_LISTEN);
        let http_listen = addr("http_listen", self.http_listen, DEFAULT_HTTP_LISTEN);
        let ops_listen = addr("ops_listen", self.ops_listen, DEFAULT_OPS_LISTEN);
        let cache_mb = self.cache_capacity_mb.unwrap_or(DEFAULT_CACHE_CAPACITY_MB);
        if !(8..=65_536).contains(&cache_mb) {
            problems.push(format!("cache_capacity_mb: {cache_mb} is outside 8..=65536"));
        }
        let mut connections = |key: &str, v: Option<usize>, default: usize| {
            let n = v.unwrap_or(default);
            if !(1..=65_536).contains(&n) {
                problems.push(format!("{key}: {n} is outside 1..=65536"));
            }
            n
        };
        let grpc_max_connections = connections(
            "grpc_max_connections",
            self.grpc_max_connections,
            DEFAULT_GRPC_MAX_CONNECTIONS,
        );
        let http_max_connections = connections(
            "http_max_connections",
            self.http_max_connections,
            DEFAULT_HTTP_MAX_CONNECTIONS,
        );
        let http_max_connections_per_client = connections(
            "http_max_connections_per_client",
            self.http_max_connections_per_client,
            DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT.min(http_max_connections),
        );
        if http_max_connections_per_client > http_max_connections {
            problems.push(format!(
                "http_max_connections_per_client: {http_max_connections_per_client} is above http_max_connections ({http_max_connections})"
            ));
        }
        let mut secs = |key: &str, v: Option<u64>, default: u64| {
            let n = v.unwrap_or(default);
            if !(1..=3600).contains(&n) {
                problems.push(format!("{key}: {n} is outside 1..=3600"));
            }
            Duration::from_secs(n)
        };
        let http_header_timeout = secs(
            "http_header_timeout_secs",
            self.http_header_timeout_secs,
            DEFAULT_HTTP_HEADER_TIMEOUT_SECS,
        );
        let http_body_timeout = secs(
            "http_body_timeout_secs",
            self.http_body_timeout_secs,
            DEFAULT_HTTP_BODY_TIMEOUT_SECS,
        );
        let tls = self.tls.validate(&mut problems);
        let api_tokens = validate_tokens(self.api.tokens, &mut problems);
        let data_dir = self.data_dir.unwrap_or_else(|| {
            problems.push("data_dir: missing (e.g. data_dir = \"/var/lib/waymark-sync\")".into());
            PathBuf::new()
        });
        let store = self.store.validate(&data_dir, &mut problems);
        let carriers = self.carriers.validate(&mut problems);
        let tracking = self.tracking.validate(&mut problems);
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(SyncConfig {
            data_dir,
            grpc_listen,
            http_listen,
            ops_listen,
            cache_capacity_bytes: cache_mb * 1024 * 1024,
            grpc_max_connections,
            http_max_connections,
            http_max_connections_per_client,
            http_header_timeout,
            http_body_timeout,
            tls,
            api_tokens,
            store,
            carriers,
            tracking,
        })
    }
}

impl RawStore {
    fn validate(self, data_dir: &std::path::Path, problems: &mut Vec<String>) -> StoreOptions {
        let mut options = StoreOptions::sqlite_in(data_dir);
        match StoreUrl::parse(self.url.as_deref().unwrap_or(""), data_dir) {
            Ok(url) => options.url = url,
            Err(e) => problems.push(format!("store.url: {e}")),
        }
        let pool_size = self.pool_size.unwrap_or(store::DEFAULT_POOL_SIZE);
        if !(1..=1000).contains(&pool_size) {
            problems.push(format!("store.pool_size: {pool_size} is outside 1..=1000"));
        }
        options.pool_size = pool_size;
        let mut secs = |key: &str, v: Option<u64>, default: std::time::Duration| {
            let s = v.unwrap_or(default.as_secs());
            if !(1..=3600).contains(&s) {
                problems.push(format!("store.{key}: {s} is outside 1..=3600"));
            }
            std::time::Duration::from_secs(s)
        };
        options.connect_timeout = secs(
            "connect_timeout_secs",
            self.connect_timeout_secs,
            store::DEFAULT_CONNECT_TIMEOUT,
        );
        options.statement_timeout = secs(
            "statement_timeout_secs",
            self.statement_timeout_secs,
            store::DEFAULT_STATEMENT_TIMEOUT,
        );
        if let Some(f) = &self.tls_ca_file
            && !f.is_file()
        {
            problems.push(format!("store.tls_ca_file: {} is not a readable file", f.display()));
        }
        options.tls_ca_file = self.tls_ca_file;
        options
    }
}

impl RawTls {
    fn validate(self, problems: &mut Vec<String>) -> TlsSettings {
        let pair = |problems: &mut Vec<String>, a: &str, b: &str, x: &Option<PathBuf>, y: &Option<PathBuf>| {
            if x.is_some() != y.is_some() {
                problems.push(format!("tls.{a} and tls.{b} go together: give both or neither"));
            }
        };
        pair(problems, "ca_cert", "ca_key", &self.ca_cert, &self.ca_key);
        pair(
            problems,
            "server_cert",
            "server_key",
            &self.server_cert,
            &self.server_key,
        );
        let client_cert_days = self.client_cert_days.unwrap_or(DEFAULT_CLIENT_CERT_DAYS);
        if !(1..=3650).contains(&client_cert_days) {
            problems.push(format!("tls.client_cert_days: {client_cert_days} is outside 1..=3650"));
        }
        let server_names = self.server_names.unwrap_or_else(default_server_names);
        if server_names.is_empty() {
            problems.push("tls.server_names: give at least one name gateways use to reach central".into());
        }
        for name in &server_names {
            let ok =
                name.parse::<std::net::IpAddr>().is_ok() || rustls::pki_types::DnsName::try_from(name.as_str()).is_ok();
            if !ok {
                problems.push(format!(
                    "tls.server_names: `{name}` is neither a DNS name nor an IP address"
                ));
            }
        }
        TlsSettings {
            insecure_plaintext: self.insecure_plaintext.unwrap_or(false),
            ca_cert: self.ca_cert,
            ca_key: self.ca_key,
            server_cert: self.server_cert,
            server_key: self.server_key,
            server_names,
            client_cert_days,
        }
    }
}

/// Loopback names and this machine's host name.
/// A secret given inline or in a file (its trailing line break dropped): exactly
/// one of the two; every problem goes to `problems`, named after `at`.
pub(crate) fn secret_from(
    at: &str,
    secret: Option<String>,
    secret_file: Option<PathBuf>,
    problems: &mut Vec<String>,
) -> Option<String> {
    match (secret, secret_file) {
        (Some(s), None) => Some(s),
        (None, Some(f)) => match std::fs::read_to_string(&f) {
            Ok(s) => Some(s.trim_end_matches(['\r', '\n']).to_string()),
            Err(e) => {
                problems.push(format!("{at}.secret_file: cannot read {}: {e}", f.display()));
                None
            }
        },
        (Some(_), Some(_)) => {
            problems.push(format!("{at}: give secret or secret_file, not both"));
            None
        }
        (None, None) => {
            problems.push(format!("{at}: secret or secret_file is required"));
            None
        }
    }
}

fn default_server_names() -> Vec<String> {
    let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()];
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let host = host.trim();
        if !host.is_empty() && rustls::pki_types::DnsName::try_from(host).is_ok() && host != "localhost" {
            names.push(host.to_string());
        }
    }
    names
}

fn validate_tokens(raw: Vec<RawApiToken>, problems: &mut Vec<String>) -> Vec<ProvisionedToken> {
    let mut out: Vec<ProvisionedToken> = Vec::new();
    for (i, t) in raw.into_iter().enumerate() {
        let at = format!("api.tokens[{i}]");
        let mut ok = true;
        if !auth::valid_name(&t.name) {
            problems.push(format!(
                "{at}.name: must be 1-{} characters of a-z, A-Z, 0-9, '-', '_' or '.'",
                auth::MAX_NAME_LEN
            ));
            ok = false;
        } else if out.iter().any(|o| o.name == t.name) {
            problems.push(format!("{at}.name: `{}` is used by an earlier token", t.name));
            ok = false;
        }
        let sha256 = auth::secret::parse_hash_hex(&t.sha256);
        if sha256.is_none() {
            problems.push(format!(
                "{at}.sha256: must be 64 hex digits (see `waymark-sync hash-token`), is {} characters",
                t.sha256.len()
            ));
        }
        let scopes = auth::parse_scopes(&t.scopes).unwrap_or_else(|p| {
            problems.push(format!("{at}.scopes: {p}"));
            Vec::new()
        });
        if let (true, Some(sha256), false) = (ok, sha256, scopes.is_empty()) {
            out.push(ProvisionedToken {
                name: t.name,
                sha256,
                scopes,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_all_problems_at_once() {
        let c = RawConfig::from_toml("data_dir = \"/tmp/c\"")
            .and_then(RawConfig::validate)
            .expect("valid");
        assert_eq!(c.http_listen.port(), 8080);
        assert!(!c.tls.insecure_plaintext, "mTLS is the default");
        let err = RawConfig::from_toml(
            "grpc_listen = \"nowhere\"\ncache_capacity_mb = 1\n[tls]\nca_cert = \"/x\"\nserver_names = [\"a b\"]",
        )
        .and_then(RawConfig::validate)
        .expect_err("invalid");
        assert_eq!(err.problems.len(), 5, "{err}");
    }

    #[test]
    fn connection_limits_default_and_are_bounded() {
        let c = RawConfig::from_toml("data_dir = \"/tmp/c\"")
            .and_then(RawConfig::validate)
            .expect("valid");
        assert_eq!(c.grpc_max_connections, DEFAULT_GRPC_MAX_CONNECTIONS);
        assert_eq!(c.http_max_connections, DEFAULT_HTTP_MAX_CONNECTIONS);
        let err =
            RawConfig::from_toml("data_dir = \"/tmp/c\"\ngrpc_max_connections = 0\nhttp_max_connections = 100000")
                .and_then(RawConfig::validate)
                .expect_err("invalid");
        assert_eq!(err.problems.len(), 2, "{err}");
    }

    #[test]
    fn http_timeouts_and_the_per_client_budget_default_and_are_bounded() {
        let c = RawConfig::from_toml("data_dir = \"/tmp/c\"")
            .and_then(RawConfig::validate)
            .expect("valid");
        assert_eq!(
            c.http_header_timeout,
            Duration::from_secs(DEFAULT_HTTP_HEADER_TIMEOUT_SECS)
        );
        assert_eq!(c.http_body_timeout, Duration::from_secs(DEFAULT_HTTP_BODY_TIMEOUT_SECS));
        assert_eq!(
            c.http_max_connections_per_client,
            DEFAULT_HTTP_MAX_CONNECTIONS_PER_CLIENT
        );
        assert!(c.http_max_connections_per_client < c.http_max_connections);
        let small = RawConfig::from_toml("data_dir = \"/tmp/c\"\nhttp_max_connections = 100")
            .and_then(RawConfig::validate)
            .expect("valid");
        assert_eq!(
            small.http_max_connections_per_client, 100,
            "the default never exceeds the cap"
        );
        let err = RawConfig::from_toml(
            "data_dir = \"/tmp/c\"\nhttp_max_connections = 10\nhttp_max_connections_per_client = 11\n\
             http_header_timeout_secs = 0\nhttp_body_timeout_secs = 7200",
        )
        .and_then(RawConfig::validate)
        .expect_err("invalid");
        assert_eq!(err.problems.len(), 3, "{err}");
    }

    #[test]
    fn provisioned_tokens_are_checked_together() {
        let good = "a".repeat(64);
        let c = RawConfig::from_toml(&format!(
            "data_dir = \"/tmp/c\"\n[[api.tokens]]\nname = \"oms\"\nsha256 = \"{good}\"\nscopes = [\"orders:write\", \"orders:read\"]\n"
        ))
        .and_then(RawConfig::validate)
        .expect("valid");
        assert_eq!(c.api_tokens.len(), 1);
        assert_eq!(c.api_tokens[0].sha256, [0xaa; 32]);
        let err = RawConfig::from_toml(&format!(
            "data_dir = \"/tmp/c\"\n\
             [[api.tokens]]\nname = \"oms\"\nsha256 = \"abc\"\nscopes = [\"orders:everything\"]\n\
             [[api.tokens]]\nname = \"has space\"\nsha256 = \"{good}\"\nscopes = []\n"
        ))
        .and_then(RawConfig::validate)
        .expect_err("invalid");
        assert_eq!(err.problems.len(), 4, "{err}");
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    #[test]
    fn the_shipped_example_config_is_valid() {
        RawConfig::from_toml(include_str!("../../deploy/sync.example.toml"))
            .and_then(RawConfig::validate)
            .expect("deploy/sync.example.toml must stay valid");
    }
}
