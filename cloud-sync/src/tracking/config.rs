//! `[tracking]` in central's config: link keys, brands, template overrides
//! and the lookup rate limits, validated with every problem reported at once
//! (templates included: a broken one fails the start, not a page).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::brand::{Brand, Rgb};
use super::lang::Lang;
use super::limit::{LimitSettings, MAX_BUCKETS};
use super::proxy::Cidr;
use super::templates::Templates;
use super::token::{LinkKey, valid_key_id};

/// How long a minted link opens its order by default.
pub const DEFAULT_LINK_TTL_DAYS: u32 = 90;
pub const MAX_LINK_TTL_DAYS: u32 = 365;
/// Failed lookups one client may make in a burst, and earns back per minute.
pub const DEFAULT_CLIENT_BURST: u32 = 10;
pub const DEFAULT_CLIENT_PER_MINUTE: f64 = 2.0;
/// Failed lookups against one order number in a burst, and per minute.
pub const DEFAULT_ORDER_BURST: u32 = 5;
pub const DEFAULT_ORDER_PER_MINUTE: f64 = 0.5;
/// Buckets each limit keeps (16 bytes each): keys share one when their
/// keyed hashes meet, so more buckets mean fewer strangers sharing a budget.
pub const DEFAULT_MAX_TRACKED: usize = 65_536;
/// Shortest link secret accepted.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTracking {
    #[serde(default)]
    pub link_keys: Vec<RawLinkKey>,
    pub link_ttl_days: Option<u32>,
    #[serde(default)]
    pub brands: Vec<RawBrand>,
    /// The brand of orders that name none (or one not configured).
    pub default_brand: Option<String>,
    pub template_dir: Option<PathBuf>,
    pub client_failures_burst: Option<u32>,
    pub client_failures_per_minute: Option<f64>,
    pub order_failures_burst: Option<u32>,
    pub order_failures_per_minute: Option<f64>,
    pub max_tracked: Option<usize>,
    /// Reverse proxies whose `X-Forwarded-For` names the client (CIDR blocks).
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawLinkKey {
    pub id: String,
    pub secret: Option<String>,
    pub secret_file: Option<PathBuf>,
}

impl std::fmt::Debug for RawLinkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawLinkKey")
            .field("id", &self.id)
            .field("secret", &self.secret.as_ref().map(|_| "<redacted>"))
            .field("secret_file", &self.secret_file)
            .finish()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawBrand {
    pub name: String,
    pub display_name: Option<String>,
    pub logo_url: Option<String>,
    pub primary_color: Option<String>,
    pub support_url: Option<String>,
    pub support_email: Option<String>,
    pub default_language: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TrackingSettings {
    /// The first signs; all verify. Empty: a random key for this process only.
    pub link_keys: Vec<LinkKey>,
    pub link_ttl_days: u32,
    pub brands: Vec<Brand>,
    pub default_brand: Brand,
    pub templates: Arc<Templates>,
    pub client_limit: LimitSettings,
    pub order_limit: LimitSettings,
    /// Peers whose `X-Forwarded-For` is believed; empty: none.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for TrackingSettings {
    fn default() -> Self {
        let mut problems = Vec::new();
        RawTracking::default().validate(&mut problems)
    }
}

fn url_ok(u: &str) -> bool {
    (u.starts_with("https://") || u.starts_with("http://"))
        && u.len() <= 2048
        && !u.chars().any(|c| c.is_whitespace() || c.is_control() || c == '"')
}

fn email_ok(e: &str) -> bool {
    let Some((local, domain)) = e.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && e.len() <= 254
        && !e
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>'))
}

impl RawTracking {
    pub fn validate(self, problems: &mut Vec<String>) -> TrackingSettings {
        let link_keys = validate_keys(self.link_keys, problems);
        let link_ttl_days = self.link_ttl_days.unwrap_or(DEFAULT_LINK_TTL_DAYS);
        if !(1..=MAX_LINK_TTL_DAYS).contains(&link_ttl_days) {
            problems.push(format!(
                "tracking.link_ttl_days: {link_ttl_days} is outside 1..={MAX_LINK_TTL_DAYS}"
            ));
        }
        let mut brands: Vec<Brand> = Vec::new();
        for (i, b) in self.brands.into_iter().enumerate() {
            let at = format!("tracking.brands[{i}]");
            if let Some(brand) = validate_brand(&at, b, problems) {
                if brands.iter().any(|x| x.name == brand.name) {
                    problems.push(format!("{at}.name: `{}` is configured twice", brand.name));
                }
                brands.push(brand);
            }
        }
        let default_brand = match &self.default_brand {
            None => Brand::default(),
            Some(name) => brands.iter().find(|b| &b.name == name).cloned().unwrap_or_else(|| {
                problems.push(format!(
                    "tracking.default_brand: `{name}` is not the name of a [[tracking.brands]] entry"
                ));
                Brand::default()
            }),
        };
        let templates = Templates::load(self.template_dir.as_deref(), problems);
        let max_keys = self.max_tracked.unwrap_or(DEFAULT_MAX_TRACKED);
        if !(16..=MAX_BUCKETS).contains(&max_keys) {
            problems.push(format!(
                "tracking.max_tracked: {max_keys} is outside 16..={MAX_BUCKETS}"
            ));
        }
        let mut limit = |what: &str, burst: Option<u32>, per_minute: Option<f64>, d: (u32, f64)| {
            let burst = burst.unwrap_or(d.0);
            let per_minute = per_minute.unwrap_or(d.1);
            if !(1..=100_000).contains(&burst) {
                problems.push(format!("tracking.{what}_failures_burst: {burst} is outside 1..=100000"));
            }
            if !(per_minute > 0.0 && per_minute <= 100_000.0) {
                problems.push(format!(
                    "tracking.{what}_failures_per_minute: {per_minute} must be above 0 and at most 100000"
                ));
            }
            LimitSettings {
                burst,
                per_minute,
                max_keys,
            }
        };
        let client_limit = limit(
            "client",
            self.client_failures_burst,
            self.client_failures_per_minute,
            (DEFAULT_CLIENT_BURST, DEFAULT_CLIENT_PER_MINUTE),
        );
        let order_limit = limit(
            "order",
            self.order_failures_burst,
            self.order_failures_per_minute,
            (DEFAULT_ORDER_BURST, DEFAULT_ORDER_PER_MINUTE),
        );
        let trusted_proxies = self
            .trusted_proxies
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let cidr = Cidr::parse(c);
                if cidr.is_none() {
                    problems.push(format!(
                        "tracking.trusted_proxies[{i}]: `{c}` is not an address block like 10.0.0.0/8 or fd00::/8"
                    ));
                }
                cidr
            })
            .collect();
        TrackingSettings {
            link_keys,
            link_ttl_days,
            brands,
            default_brand,
            // On a problem the start fails anyway; keep a value to return.
            templates: Arc::new(templates.unwrap_or_else(Templates::embedded)),
            client_limit,
            order_limit,
            trusted_proxies,
        }
    }
}

fn validate_keys(raw: Vec<RawLinkKey>, problems: &mut Vec<String>) -> Vec<LinkKey> {
    let mut keys: Vec<LinkKey> = Vec::new();
    for (i, k) in raw.into_iter().enumerate() {
        let at = format!("tracking.link_keys[{i}]");
        if !valid_key_id(&k.id) {
            problems.push(format!(
                "{at}.id: `{}` must be 1-32 letters, digits, `-`, `_` or `.` (it is written into links)",
                k.id
            ));
        } else if keys.iter().any(|x| x.id == k.id) {
            problems.push(format!("{at}.id: `{}` is used by an earlier key", k.id));
        }
        let secret = crate::config::secret_from(&at, k.secret, k.secret_file, problems);
        match secret {
            Some(s) if s.len() < MIN_SECRET_BYTES => problems.push(format!(
                "{at}: the secret has {} bytes; give at least {MIN_SECRET_BYTES} (e.g. `openssl rand -hex 32`)",
                s.len()
            )),
            Some(s) => keys.push(LinkKey::new(&k.id, s.as_bytes())),
            None => {}
        }
    }
    keys
}

fn validate_brand(at: &str, b: RawBrand, problems: &mut Vec<String>) -> Option<Brand> {
    let before = problems.len();
    if b.name.trim().is_empty() || b.name.len() > 128 {
        problems.push(format!("{at}.name: must be 1-128 characters (the orders' `brand`)"));
    }
    let defaults = Brand::default();
    let primary_color = match &b.primary_color {
        None => defaults.primary_color,
        Some(c) => Rgb::parse(c).unwrap_or_else(|| {
            problems.push(format!("{at}.primary_color: `{c}` is not a color as #rrggbb"));
            defaults.primary_color
        }),
    };
    if let Some(u) = &b.support_url
        && !url_ok(u)
    {
        problems.push(format!("{at}.support_url: `{u}` is not an http(s) URL"));
    }
    // The page's Content-Security-Policy loads images over https: only.
    if let Some(u) = &b.logo_url
        && !(url_ok(u) && u.starts_with("https://"))
    {
        problems.push(format!(
            "{at}.logo_url: brand `{}`: `{u}` is not an https:// URL (the tracking page loads images over https only)",
            b.name
        ));
    }
    if let Some(e) = &b.support_email
        && !email_ok(e)
    {
        problems.push(format!("{at}.support_email: `{e}` is not an email address"));
    }
    let default_language = match &b.default_language {
        None => None,
        Some(l) => {
            let lang = Lang::parse(l);
            if lang.is_none() {
                problems.push(format!("{at}.default_language: `{l}` is not one of en, de, fr, es"));
            }
            lang
        }
    };
    (problems.len() == before).then(|| Brand {
        display_name: b.display_name.unwrap_or_else(|| b.name.clone()),
        name: b.name,
        logo_url: b.logo_url,
        primary_color,
        support_url: b.support_url,
        support_email: b.support_email,
        default_language,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<TrackingSettings, Vec<String>> {
        let raw: RawTracking = toml::from_str(text).map_err(|e| vec![e.to_string()])?;
        let mut problems = Vec::new();
        let s = raw.validate(&mut problems);
        if problems.is_empty() { Ok(s) } else { Err(problems) }
    }

    #[test]
    fn defaults_are_valid() {
        let s = parse("").expect("valid");
        assert!(s.link_keys.is_empty());
        assert_eq!(s.link_ttl_days, DEFAULT_LINK_TTL_DAYS);
        assert_eq!(s.default_brand, Brand::default());
        assert!(
            s.trusted_proxies.is_empty(),
            "no forwarded header is believed by default"
        );
    }

    #[test]
    fn brands_and_keys_are_read() {
        let secret = "s".repeat(40);
        let s = parse(&format!(
            "default_brand = \"acme\"\n\
             [[link_keys]]\nid = \"2026-12\"\nsecret = \"{secret}\"\n\
             [[brands]]\nname = \"acme\"\ndisplay_name = \"ACME Outdoor\"\nprimary_color = \"#FF6600\"\n\
             support_url = \"https://acme.example/help\"\nsupport_email = \"help@acme.example\"\ndefault_language = \"de\"\n"
        ))
        .expect("valid");
        assert_eq!(s.link_keys[0].id, "2026-12");
        assert_eq!(s.default_brand.display_name, "ACME Outdoor");
        assert_eq!(s.brands[0].default_language, Some(Lang::De));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let problems = parse(
            "default_brand = \"nobody\"\nlink_ttl_days = 0\nclient_failures_burst = 0\n\
             trusted_proxies = [\"10.0.0.0/8\", \"10.0.0.0/40\"]\n\
             [[link_keys]]\nid = \"has space\"\nsecret = \"short\"\n\
             [[brands]]\nname = \"acme\"\nprimary_color = \"orange\"\nsupport_url = \"javascript:alert(1)\"\n\
             support_email = \"nobody\"\ndefault_language = \"xx\"\n",
        )
        .expect_err("invalid");
        assert_eq!(problems.len(), 10, "{problems:#?}");
    }

    #[test]
    fn a_logo_must_be_https() {
        let problems =
            parse("[[brands]]\nname = \"acme\"\nlogo_url = \"http://acme.example/logo.png\"\n").expect_err("http logo");
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(
            problems[0].contains("logo_url") && problems[0].contains("`acme`"),
            "{problems:#?}"
        );
        let s =
            parse("[[brands]]\nname = \"acme\"\nlogo_url = \"https://acme.example/logo.png\"\n").expect("https logo");
        assert_eq!(s.brands[0].logo_url.as_deref(), Some("https://acme.example/logo.png"));
    }
}
