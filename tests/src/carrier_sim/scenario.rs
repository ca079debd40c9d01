//! What `waymark-devsim carrier` does to a set of tracking numbers: the
//! journeys, and the webhooks that tell them in the order they will be
//! posted, with the duplicates and swaps a real provider produces. Pure: the
//! posting is in `post.rs`.

use std::time::Duration;

use chrono::{DateTime, Utc};
use waymark_sync::carriers::Provider;

use super::journey::Journey;

/// The journey length by default: label to delivery in 44 h, so a journey
/// started two days ago is over.
pub const DEFAULT_JOURNEY: Duration = Duration::from_secs(44 * 3600);

#[derive(Debug, Clone)]
pub struct Scenario {
    /// The carrier that moves the parcels, as aggregators name it ("ups",
    /// "fedex", "dhl" ...). UPS and FedEx webhooks always say their own.
    pub carrier: String,
    /// When the first label is created.
    pub start: DateTime<Utc>,
    /// From label to the last step.
    pub journey: Duration,
    /// Chance (0-100) that a webhook is sent twice.
    pub duplicates_percent: f64,
    /// Chance (0-100) that a webhook swaps places with the next one of the
    /// same tracking number.
    pub out_of_order_percent: f64,
    /// Chance (0-100) of a failed delivery attempt before delivery.
    pub failed_attempts_percent: f64,
    /// Chance (0-100) that the parcel goes back to the sender instead.
    pub return_to_sender_percent: f64,
    /// Pause between posts.
    pub delay: Duration,
    /// Post no webhook before its event's time (a live demo); otherwise post
    /// at once.
    pub real_time: bool,
    pub seed: u64,
}

impl Default for Scenario {
    fn default() -> Self {
        Self {
            carrier: "ups".into(),
            start: two_days_ago(),
            journey: DEFAULT_JOURNEY,
            duplicates_percent: 0.0,
            out_of_order_percent: 0.0,
            failed_attempts_percent: 0.0,
            return_to_sender_percent: 0.0,
            delay: Duration::ZERO,
            real_time: false,
            seed: 1,
        }
    }
}

/// Two days before now, in whole seconds (providers write seconds).
pub fn two_days_ago() -> DateTime<Utc> {
    let t = Utc::now() - chrono::Duration::days(2);
    DateTime::from_timestamp(t.timestamp(), 0).unwrap_or(t)
}

/// One POST: a body in the provider's format telling step `step` of a
/// journey (with the history before it, for snapshot providers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub tracking_number: String,
    pub step: usize,
    /// When the step happened: with `real_time`, not posted before.
    pub event_time: DateTime<Utc>,
    /// The provider's message id (Standard Webhooks' `webhook-id` for
    /// waymark); the same on a resend.
    pub event_id: String,
    pub body: Vec<u8>,
}

/// Every webhook of `journeys` in posting order: by event time, then some
/// resent (`duplicates_percent`) and some swapped with the tracking number's
/// next one (`out_of_order_percent`).
pub fn webhooks(provider: Provider, journeys: &[Journey], scenario: &Scenario) -> Vec<Webhook> {
    let mut all: Vec<Webhook> = journeys
        .iter()
        .flat_map(|j| {
            j.steps.iter().enumerate().map(move |(i, s)| Webhook {
                tracking_number: j.tracking_number.clone(),
                step: i,
                event_time: s.at,
                event_id: super::event_id(provider, j, i),
                body: super::body(provider, j, i),
            })
        })
        .collect();
    all.sort_by(|a, b| (a.event_time, &a.tracking_number).cmp(&(b.event_time, &b.tracking_number)));

    let mut rng = fastrand::Rng::with_seed(scenario.seed.wrapping_add(0x5eed));
    let mut out = Vec::with_capacity(all.len());
    for w in all {
        let again = rng.f64() * 100.0 < scenario.duplicates_percent;
        out.push(w.clone());
        if again {
            out.push(w);
        }
    }
    // Swap a webhook with the next one of its tracking number; a webhook
    // moves at most once, so a swap is never undone.
    let mut moved = vec![false; out.len()];
    for i in 0..out.len() {
        if moved[i] || rng.f64() * 100.0 >= scenario.out_of_order_percent {
            continue;
        }
        let next = (i + 1..out.len())
            .find(|&k| out[k].tracking_number == out[i].tracking_number && out[k].step != out[i].step);
        if let Some(k) = next.filter(|&k| !moved[k]) {
            out.swap(i, k);
            moved[i] = true;
            moved[k] = true;
        }
    }
    out
}
