//! `[carriers]` in central's config: the accounts whose webhooks central
//! takes, each with its provider's secret (inline or from a file).

use std::path::PathBuf;

use serde::Deserialize;

use super::Provider;

/// Largest webhook body central reads; a larger one is refused with 413.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCarriers {
    #[serde(default)]
    pub accounts: Vec<RawCarrierAccount>,
    pub max_body_bytes: Option<usize>,
    /// `false`: this process receives and stores webhooks only; another
    /// central process on the same store normalizes them. Default `true`.
    pub normalizer: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCarrierAccount {
    pub provider: String,
    pub name: String,
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for RawCarrierAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawCarrierAccount")
            .field("provider", &self.provider)
            .field("name", &self.name)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .finish()
    }
}

/// An account central takes webhooks for.
#[derive(Clone, PartialEq, Eq)]
pub struct CarrierAccount {
    pub provider: Provider,
    pub name: String,
    pub secret: String,
}

impl std::fmt::Debug for CarrierAccount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarrierAccount")
            .field("provider", &self.provider)
            .field("name", &self.name)
            .field("secret", &"<redacted>")
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct CarrierSettings {
    pub accounts: Vec<CarrierAccount>,
    pub max_body_bytes: usize,
    pub normalizer: bool,
}

impl Default for CarrierSettings {
    fn default() -> Self {
        Self {
            accounts: Vec::new(),
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            normalizer: true,
        }
    }
}

/// An account name as it appears in a webhook URL.
pub fn valid_account_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl RawCarriers {
    pub fn validate(self, problems: &mut Vec<String>) -> CarrierSettings {
        let max_body_bytes = self.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if !(1024..=64 * 1024 * 1024).contains(&max_body_bytes) {
            problems.push(format!(
                "carriers.max_body_bytes: {max_body_bytes} is outside 1024..=67108864"
            ));
        }
        let mut accounts: Vec<CarrierAccount> = Vec::new();
        for (i, a) in self.accounts.into_iter().enumerate() {
            let at = format!("carriers.accounts[{i}]");
            let provider = Provider::parse(&a.provider);
            if provider.is_none() {
                let known: Vec<&str> = Provider::ALL.iter().map(|p| p.as_str()).collect();
                problems.push(format!(
                    "{at}.provider: `{}` is not one of {}",
                    a.provider,
                    known.join(", ")
                ));
            }
            if !valid_account_name(&a.name) {
                problems.push(format!(
                    "{at}.name: `{}` must be 1-64 letters, digits, `-`, `_` or `.` (it is part of the webhook URL)",
                    a.name
                ));
            }
            let secret = crate::config::secret_from(&at, a.secret, a.secret_file, problems);
            if secret.as_deref() == Some("") {
                problems.push(format!("{at}: the secret is empty"));
            }
            if let (Some(provider), Some(secret)) = (provider, secret) {
                if accounts.iter().any(|x| x.provider == provider && x.name == a.name) {
                    problems.push(format!("{at}: {provider}/{} is configured twice", a.name));
                }
                accounts.push(CarrierAccount {
                    provider,
                    name: a.name,
                    secret,
                });
            }
        }
        CarrierSettings {
            accounts,
            max_body_bytes,
            normalizer: self.normalizer.unwrap_or(true),
        }
    }
}
