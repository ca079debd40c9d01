//! What a token may do. `admin` implies every other scope.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Scope {
    /// Create orders (merchant systems).
    #[serde(rename = "orders:write")]
    OrdersWrite,
    /// Read orders and their timelines (support, the tracking page).
    #[serde(rename = "orders:read")]
    OrdersRead,
    /// Sites, their events and status views (central ops).
    #[serde(rename = "ops")]
    Ops,
    /// Issue gateway enrollment tokens.
    #[serde(rename = "sites:enroll")]
    SitesEnroll,
    /// Manage API tokens; implies every scope.
    #[serde(rename = "admin")]
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 5] = [
        Scope::OrdersWrite,
        Scope::OrdersRead,
        Scope::Ops,
        Scope::SitesEnroll,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::OrdersWrite => "orders:write",
            Scope::OrdersRead => "orders:read",
            Scope::Ops => "ops",
            Scope::SitesEnroll => "sites:enroll",
            Scope::Admin => "admin",
        }
    }

    /// Whether holding `self` grants `needed`.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed || self == Scope::Admin
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown scope `{0}` (known: orders:write, orders:read, ops, sites:enroll, admin)")]
pub struct UnknownScope(pub String);

impl FromStr for Scope {
    type Err = UnknownScope;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == s)
            .ok_or_else(|| UnknownScope(s.chars().take(64).collect()))
    }
}

/// At most this many entries in a token's scope list, as submitted.
pub const MAX_SCOPES: usize = 8;

/// Parses a submitted scope list: known scopes, 1..=MAX_SCOPES entries, duplicates dropped.
pub fn parse_scopes<S: AsRef<str>>(list: &[S]) -> Result<Vec<Scope>, String> {
    if list.is_empty() || list.len() > MAX_SCOPES {
        return Err(format!("scopes must hold 1-{MAX_SCOPES} entries"));
    }
    let mut scopes = list
        .iter()
        .map(|s| s.as_ref().parse::<Scope>())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    scopes.sort();
    scopes.dedup();
    Ok(scopes)
}

/// Types naming one scope, for the `Authorized<R>` extractor.
pub trait RequiredScope {
    const SCOPE: Scope;
}

/// Marker types: `Authorized<needs::OrdersWrite>` in a handler's arguments.
pub mod needs {
    use super::{RequiredScope, Scope};

    macro_rules! marker {
        ($($name:ident),*) => {$(
            #[derive(Debug)]
            pub struct $name;
            impl RequiredScope for $name {
                const SCOPE: Scope = Scope::$name;
            }
        )*};
    }

    marker!(OrdersWrite, OrdersRead, Ops, SitesEnroll, Admin);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_admin_implies_all() {
        for s in Scope::ALL {
            assert_eq!(s.as_str().parse::<Scope>(), Ok(s));
            assert_eq!(serde_json::to_string(&s).expect("json"), format!("\"{s}\""));
            assert!(Scope::Admin.grants(s));
        }
        assert!(!Scope::OrdersRead.grants(Scope::OrdersWrite));
        assert!("orders".parse::<Scope>().is_err());
        assert_eq!(
            parse_scopes(&["ops", "orders:read", "ops"]),
            Ok(vec![Scope::OrdersRead, Scope::Ops])
        );
        assert!(parse_scopes::<&str>(&[]).is_err());
        assert!(parse_scopes(&["ops"; MAX_SCOPES + 1]).is_err());
    }
}
