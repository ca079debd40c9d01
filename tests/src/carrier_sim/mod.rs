//! A carrier, or a tracking aggregator, posting signed tracking webhooks to
//! central's `/webhooks/carriers/{provider}/{account}`: each provider in its
//! own format (one builder per provider), signed with
//! `waymark_sync::carriers::signature::sign`, for the journeys of a set of
//! tracking numbers. Used by `waymark-devsim carrier`, the demo and tests.
//!
//! Snapshot providers (EasyPost, AfterShip, Shippo, 17TRACK, Karrio) send
//! the whole history so far each time; UPS, FedEx and waymark send the one
//! new event.

use waymark_sync::carriers::Provider;

pub mod aftership;
pub mod easypost;
pub mod fedex;
pub mod fixtures;
pub mod journey;
pub mod karrio;
pub mod post;
pub mod scenario;
pub mod seventeen_track;
pub mod shippo;
pub mod ups;
pub mod waymark;

pub use journey::{Journey, Kind, Step};
pub use post::{Summary, deliver, post_all};
pub use scenario::{Scenario, Webhook, webhooks};

/// The body `provider` would send for step `step` of `journey`.
pub fn body(provider: Provider, journey: &Journey, step: usize) -> Vec<u8> {
    let value = match provider {
        Provider::EasyPost => easypost::body(journey, step),
        Provider::AfterShip => aftership::body(journey, step),
        Provider::Shippo => shippo::body(journey, step),
        Provider::SeventeenTrack => seventeen_track::body(journey, step),
        Provider::Ups => ups::body(journey, step),
        Provider::FedEx => fedex::body(journey, step),
        Provider::Karrio => karrio::body(journey, step),
        Provider::Waymark => waymark::body(journey, step),
    };
    // Serializing a `Value` cannot fail (string keys only).
    serde_json::to_vec(&value).unwrap_or_default()
}

/// The id of the message telling step `step` of `journey` (EasyPost's
/// `evt_`, waymark's `event_id` and `webhook-id`): the same on a resend.
pub fn event_id(provider: Provider, journey: &Journey, step: usize) -> String {
    format!(
        "evt_{}",
        journey::stable_id(&[provider.as_str(), &journey.id, &step.to_string()])
    )
}

/// `2026-05-01T10:00:00-05:00`: a step's time in its place's offset.
pub(crate) fn local_time(step: &Step) -> String {
    step.local().to_rfc3339_opts(chrono::SecondsFormat::Secs, false)
}

/// `2026-05-01T15:00:00Z`.
pub(crate) fn utc_time(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

/// A stable UUID-shaped id (AfterShip's `event_id`), from a 16-hex-digit id
/// and a tag.
pub(crate) fn uuid_like(id: &str, tag: &str) -> String {
    let a = journey::stable_id(&[id, tag]);
    let b = journey::stable_id(&[tag, id]);
    format!("{}-{}-4{}-8{}-{}", &a[..8], &a[8..12], &a[13..16], &b[1..4], &b[4..16])
}

#[cfg(test)]
mod tests;
