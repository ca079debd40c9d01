//! One pure normalizer per provider: a verified webhook body in, canonical
//! [`CarrierEvent`]s out. No I/O, no clock. Each provider's table of codes
//! cites its sources in its own module.
//!
//! Rules every normalizer keeps (DESIGN.md, "Milestones"):
//! - a label or shipment data alone is `label_created`, never possession;
//! - unknown codes give `milestone: None` with the provider's code kept
//!   (unmapped, counted, shown), never a guess;
//! - placeholder estimates (EasyPost's equal to the tracker's creation time)
//!   are dropped;
//! - a full snapshot (EasyPost, AfterShip ...) yields every event it holds,
//!   each with a stable `event_key`, so the store keeps only the new ones.

use super::{CarrierEvent, Provider};

pub mod aftership;
pub mod easypost;
pub mod fedex;
mod fields;
pub mod karrio;
pub mod seventeen_track;
pub mod shippo;
pub mod time;
pub mod ups;
pub mod waymark;

#[cfg(test)]
mod tests;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("the body is not JSON: {0}")]
    NotJson(String),
    #[error("{path}: {message}")]
    Shape { path: String, message: String },
}

impl DecodeError {
    /// The label under which a failure is counted.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::NotJson(_) => "not_json",
            Self::Shape { .. } => "unexpected_shape",
        }
    }

    pub fn shape(path: &str, message: impl Into<String>) -> Self {
        Self::Shape {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// A body of `provider` as canonical events. A well-formed body about
/// something other than tracking (an AfterShip `tracking_pending_time`, a
/// Karrio `order_created`) gives no events and no error.
pub fn normalize(provider: Provider, body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    let events = by_provider(provider, body)?;
    // JSON may carry `\u0000`; no store column takes a NUL (PostgreSQL
    // refuses it in text), so such a body is refused here, kept and listed.
    if let Some(i) = events
        .iter()
        .position(|e| serde_json::to_string(e).is_ok_and(|s| s.contains("\\u0000")))
    {
        return Err(DecodeError::shape(
            &format!("event {i}"),
            "a text field holds a NUL character",
        ));
    }
    Ok(events)
}

fn by_provider(provider: Provider, body: &[u8]) -> Result<Vec<CarrierEvent>, DecodeError> {
    match provider {
        Provider::EasyPost => easypost::normalize(body),
        Provider::AfterShip => aftership::normalize(body),
        Provider::Shippo => shippo::normalize(body),
        Provider::SeventeenTrack => seventeen_track::normalize(body),
        Provider::Ups => ups::normalize(body),
        Provider::FedEx => fedex::normalize(body),
        Provider::Karrio => karrio::normalize(body),
        Provider::Waymark => waymark::normalize(body),
    }
}

/// Parses a body as JSON into `T`, with the failing path in the error.
pub fn parse<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, DecodeError> {
    serde_json::from_slice(body).map_err(|e| {
        if e.is_data() {
            DecodeError::shape(&format!("line {} column {}", e.line(), e.column()), e.to_string())
        } else {
            DecodeError::NotJson(e.to_string())
        }
    })
}
