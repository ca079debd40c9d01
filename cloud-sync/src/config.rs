//! Central configuration: TOML file, then `WAYMARK_*` environment, then flags,
//! validated once with every problem reported together.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;

use crate::auth::{self, ProvisionedToken};

pub const DEFAULT_GRPC_LISTEN: &str = "0.0.0.0:7443";
pub const DEFAULT_HTTP_LISTEN: &str = "0.0.0.0:8080";
pub const DEFAULT_OPS_LISTEN: &str = "127.0.0.1:9465";
pub const DEFAULT_CACHE_CAPACITY_MB: u64 = 256;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub data_dir: Option<PathBuf>,
    pub grpc_listen: Option<String>,
    pub http_listen: Option<String>,
    pub ops_listen: Option<String>,
    pub cache_capacity_mb: Option<u64>,
    #[serde(default)]
    pub api: RawApi,
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

#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub data_dir: PathBuf,
    pub grpc_listen: SocketAddr,
    pub http_listen: SocketAddr,
    /// `/metrics`, `/healthz`, `/readyz`, kept off the public API port.
    pub ops_listen: SocketAddr,
    pub cache_capacity_bytes: u64,
    /// Bearer tokens from `[[api.tokens]]`, besides those issued through the API.
    pub api_tokens: Vec<ProvisionedToken>,
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
        let api_tokens = validate_tokens(self.api.tokens, &mut problems);
        let data_dir = self.data_dir.unwrap_or_else(|| {
            problems.push("data_dir: missing (e.g. data_dir = \"/var/lib/waymark-sync\")".into());
            PathBuf::new()
        });
        if !problems.is_empty() {
            return Err(ConfigError { problems });
        }
        Ok(SyncConfig {
            data_dir,
            grpc_listen,
            http_listen,
            ops_listen,
            cache_capacity_bytes: cache_mb * 1024 * 1024,
            api_tokens,
        })
    }
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
        let err = RawConfig::from_toml("grpc_listen = \"nowhere\"\ncache_capacity_mb = 1")
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
