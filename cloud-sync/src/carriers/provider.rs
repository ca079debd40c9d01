//! The providers central takes webhooks from, by the name in their receiver's
//! path (`/webhooks/carriers/{provider}/{account}`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Provider {
    #[serde(rename = "easypost")]
    EasyPost,
    #[serde(rename = "aftership")]
    AfterShip,
    #[serde(rename = "shippo")]
    Shippo,
    #[serde(rename = "17track")]
    SeventeenTrack,
    #[serde(rename = "ups")]
    Ups,
    #[serde(rename = "fedex")]
    FedEx,
    #[serde(rename = "karrio")]
    Karrio,
    /// Waymark's own JSON format, for local fleets, LTL partners and 3PLs
    /// (docs/carriers.md).
    #[serde(rename = "waymark")]
    Waymark,
}

impl Provider {
    pub const ALL: [Provider; 8] = [
        Self::EasyPost,
        Self::AfterShip,
        Self::Shippo,
        Self::SeventeenTrack,
        Self::Ups,
        Self::FedEx,
        Self::Karrio,
        Self::Waymark,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::EasyPost => "easypost",
            Self::AfterShip => "aftership",
            Self::Shippo => "shippo",
            Self::SeventeenTrack => "17track",
            Self::Ups => "ups",
            Self::FedEx => "fedex",
            Self::Karrio => "karrio",
            Self::Waymark => "waymark",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    /// Whether each webhook carries the tracker's whole history (so most of
    /// its events are already known and are diffed away by their keys).
    pub fn sends_snapshots(self) -> bool {
        matches!(
            self,
            Self::EasyPost | Self::AfterShip | Self::SeventeenTrack | Self::Karrio | Self::Shippo
        )
    }
}

impl std::fmt::Display for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
