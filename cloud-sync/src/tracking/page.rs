//! What a tracking page says, in the customer's words and language: built
//! from the order, each parcel's status (as the status engine stored it) and
//! the carrier events matched to the order. Pure: the data, the brand, the
//! language and the zone are given; templates only lay it out.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::brand::Brand;
use super::catalog::{delivered_count, fill, text};
use super::dates::{Zone, date_time, day_window};
use super::lang::Lang;
use crate::carriers::{CarrierEvent, Location};
use crate::orders::OrderRecord;
use crate::status::{CustomerStatus, Milestone, Overlay, Party, Source, Window};

/// Milestones a timeline shows at most (newest first).
pub const MAX_STEPS: usize = 8;

/// A parcel's status as the projection stored it (`ParcelStatus` as JSON);
/// the fields the page reads.
#[derive(Debug, Clone, Deserialize)]
pub struct StoredStatus {
    pub customer: CustomerStatus,
    #[serde(default)]
    pub milestones: Vec<StoredReached>,
    #[serde(default)]
    pub overlays: Vec<StoredOverlay>,
    #[serde(default)]
    pub estimate: Option<StoredEstimate>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredReached {
    pub milestone: Milestone,
    pub event_time_ms: i64,
    pub provenance: StoredProvenance,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredProvenance {
    pub source: Source,
    pub event_id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredOverlay {
    pub overlay: Overlay,
    pub reason: String,
    pub party: Option<Party>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StoredEstimate {
    pub current: Option<Window>,
    pub original: Option<Window>,
    pub promised: Option<Window>,
}

/// Everything an order page is built from.
#[derive(Debug, Clone)]
pub struct OrderData {
    pub order: OrderRecord,
    /// By parcel id; a parcel the projection has not reached yet is absent.
    pub statuses: HashMap<String, StoredStatus>,
    /// Carrier events matched to the order.
    pub carrier: Vec<CarrierEvent>,
}

#[derive(Debug, Clone, Serialize)]
pub struct OrderPage {
    pub order_number: String,
    /// The live status: one parcel's words, or "2 of 3 parcels delivered".
    pub summary: String,
    pub parcel_count: usize,
    pub shipments: Vec<ShipmentPage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ShipmentPage {
    /// "Shipment 1 of 2", or empty when the order has one shipment.
    pub heading: String,
    pub carrier: Option<String>,
    pub tracking_number: Option<String>,
    pub cancelled: bool,
    pub parcels: Vec<ParcelPage>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ParcelPage {
    pub parcel_id: String,
    pub heading: String,
    /// The heading's element id: by position, so any parcel id makes a valid one.
    pub heading_id: String,
    /// `CustomerStatus::as_str`, for `data-status`.
    pub status: &'static str,
    pub status_text: &'static str,
    pub tracking_number: Option<String>,
    pub estimate: Option<String>,
    /// The first estimate, when the current one differs from it.
    pub original_estimate: Option<String>,
    /// No estimate and no promise: say so rather than guess.
    pub estimate_unknown: bool,
    /// Why it is late or held up, in plain words.
    pub notices: Vec<String>,
    pub attempt_guidance: bool,
    pub pickup: Option<String>,
    pub proof_of_delivery: Option<String>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub when: String,
    pub what: &'static str,
    pub place: Option<String>,
}

/// The tracking-number-only page: the carrier's progress, nothing of the order.
#[derive(Debug, Clone, Serialize)]
pub struct NumberPage {
    pub tracking_number: String,
    pub status: &'static str,
    pub status_text: &'static str,
    pub estimate: Option<String>,
    pub estimate_unknown: bool,
    pub steps: Vec<Step>,
}

fn status_text(lang: Lang, s: CustomerStatus) -> &'static str {
    text(lang, &format!("status_{}", s.as_str()))
}

fn milestone_text(lang: Lang, m: Milestone) -> &'static str {
    let t = text(lang, &format!("milestone_{}", m.as_str()));
    if t.is_empty() { text(lang, "milestone_other") } else { t }
}

/// A carrier location without the postal code (it may be the customer's).
fn place(l: &Location) -> Option<String> {
    let parts: Vec<&str> = [&l.city, &l.state, &l.country]
        .into_iter()
        .filter_map(|v| v.as_deref().map(str::trim))
        .filter(|v| !v.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A pickup point: every part the carrier gave.
fn pickup_place(l: &Location) -> Option<String> {
    let parts: Vec<&str> = [&l.city, &l.postal_code, &l.state, &l.country]
        .into_iter()
        .filter_map(|v| v.as_deref().map(str::trim))
        .filter(|v| !v.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// A carrier as customers know it: "ups" is UPS, "dhl_express" DHL Express.
fn carrier_name(code: &str) -> Option<String> {
    const KNOWN: [(&str, &str); 8] = [
        ("ups", "UPS"),
        ("usps", "USPS"),
        ("fedex", "FedEx"),
        ("dhl", "DHL"),
        ("dpd", "DPD"),
        ("gls", "GLS"),
        ("tnt", "TNT"),
        ("ontrac", "OnTrac"),
    ];
    let words: Vec<String> = code
        .trim()
        .split(['_', '-', ' '])
        .filter(|w| !w.is_empty())
        .map(|w| {
            let lower = w.to_lowercase();
            match KNOWN.iter().find(|(k, _)| *k == lower) {
                Some((_, name)) => (*name).to_string(),
                None => {
                    let mut chars = lower.chars();
                    chars
                        .next()
                        .map(|c| c.to_uppercase().chain(chars).collect())
                        .unwrap_or_default()
                }
            }
        })
        .collect();
    (!words.is_empty()).then(|| words.join(" "))
}

fn window(lang: Lang, w: Window) -> String {
    day_window(lang, w.from_ms, w.to_ms)
}

fn notices(lang: Lang, brand: &Brand, overlays: &[StoredOverlay]) -> Vec<String> {
    overlays
        .iter()
        .map(|o| match o.overlay {
            Overlay::Delayed => {
                let key = format!("delayed_{}", o.reason);
                let t = text(lang, &key);
                if t.is_empty() { text(lang, "delayed_other") } else { t }.to_string()
            }
            Overlay::LabelNotAccepted => text(lang, "not_picked_up").to_string(),
            Overlay::Exception => {
                let reason = match text(lang, &format!("reason_{}", o.reason)) {
                    "" => text(lang, "reason_other"),
                    r => r,
                };
                let mut s = fill(text(lang, "exception"), &[("reason", reason)]);
                if let Some(party) = o.party {
                    let key = match party {
                        Party::Carrier => "party_carrier",
                        Party::Merchant => "party_merchant",
                        Party::Customer => "party_customer",
                        Party::Customs => "party_customs",
                        Party::Weather => "party_weather",
                        Party::Site => "party_site",
                    };
                    s.push(' ');
                    s.push_str(&fill(text(lang, key), &[("brand", &brand.display_name)]));
                }
                s
            }
        })
        .collect()
}

/// The meaningful milestones, newest first: each first reach, with the
/// carrier's place for carrier milestones (never a site's device).
fn steps(lang: Lang, zone: Zone, status: &StoredStatus, carrier: &[&CarrierEvent]) -> Vec<Step> {
    let mut reached: Vec<&StoredReached> = status.milestones.iter().filter(|r| !r.milestone.is_return()).collect();
    reached.sort_by_key(|r| std::cmp::Reverse(r.event_time_ms));
    reached
        .into_iter()
        .take(MAX_STEPS)
        .map(|r| Step {
            when: date_time(lang, zone, r.event_time_ms),
            what: milestone_text(lang, r.milestone),
            place: (r.provenance.source == Source::Carrier)
                .then(|| {
                    carrier
                        .iter()
                        .find(|e| e.event_key == r.provenance.event_id)
                        .and_then(|e| e.location.as_ref())
                        .and_then(place)
                })
                .flatten(),
        })
        .collect()
}

fn outbound_open(s: CustomerStatus) -> bool {
    !matches!(
        s,
        CustomerStatus::Delivered
            | CustomerStatus::Cancelled
            | CustomerStatus::ReturningToSender
            | CustomerStatus::ReturnStarted
            | CustomerStatus::ReturnDeclined
            | CustomerStatus::ReturnReceived
            | CustomerStatus::Refunded
            | CustomerStatus::ReplacementSent
    )
}

/// The estimate to show, the original when it changed, and whether there is none.
fn estimate(lang: Lang, status: CustomerStatus, e: Option<&StoredEstimate>) -> (Option<String>, Option<String>, bool) {
    if !outbound_open(status) {
        return (None, None, false);
    }
    let Some(e) = e else {
        return (None, None, true);
    };
    let Some(shown) = e.current.or(e.promised) else {
        return (None, None, true);
    };
    // The first thing the customer was told: the first estimate, else the promise.
    let first = e.original.or(e.promised).filter(|o| *o != shown);
    (Some(window(lang, shown)), first.map(|w| window(lang, w)), false)
}

pub fn order_page(data: &OrderData, brand: &Brand, lang: Lang, zone: Zone) -> OrderPage {
    let order = &data.order;
    let shipments_count = order.shipments.len();
    let mut parcel_no = 0usize;
    let mut delivered = 0usize;
    let mut statuses = Vec::new();
    let shipments = order
        .shipments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let parcels = s
                .parcels
                .iter()
                .map(|p| {
                    parcel_no += 1;
                    let stored = data.statuses.get(&p.parcel_id);
                    let cancelled = s.cancelled || order.cancelled;
                    let customer = stored.map_or(
                        if cancelled {
                            CustomerStatus::Cancelled
                        } else {
                            CustomerStatus::OrderReceived
                        },
                        |st| st.customer,
                    );
                    if customer == CustomerStatus::Delivered {
                        delivered += 1;
                    }
                    statuses.push(customer);
                    let carrier: Vec<&CarrierEvent> = data
                        .carrier
                        .iter()
                        .filter(|e| {
                            let tn = Some(e.tracking_number.as_str());
                            p.tracking_number.as_deref() == tn || s.tracking_number.as_deref() == tn
                        })
                        .collect();
                    let latest = |m: Milestone| {
                        carrier
                            .iter()
                            .filter(|e| e.milestone == Some(m))
                            .max_by_key(|e| e.event_time_ms)
                            .copied()
                    };
                    let (estimate, original_estimate, estimate_unknown) =
                        estimate(lang, customer, stored.and_then(|st| st.estimate.as_ref()));
                    ParcelPage {
                        parcel_id: p.parcel_id.clone(),
                        heading: fill(text(lang, "parcel_n"), &[("i", &parcel_no.to_string())]),
                        heading_id: format!("parcel-{parcel_no}"),
                        status: customer.as_str(),
                        status_text: status_text(lang, customer),
                        tracking_number: p.tracking_number.clone().or_else(|| s.tracking_number.clone()),
                        estimate,
                        original_estimate,
                        estimate_unknown,
                        notices: stored.map(|st| notices(lang, brand, &st.overlays)).unwrap_or_default(),
                        attempt_guidance: customer == CustomerStatus::DeliveryAttempted,
                        pickup: (customer == CustomerStatus::ReadyForPickup)
                            .then(|| latest(Milestone::AvailableForPickup))
                            .flatten()
                            .and_then(|e| e.location.as_ref())
                            .and_then(pickup_place),
                        proof_of_delivery: (customer == CustomerStatus::Delivered)
                            .then(|| {
                                carrier
                                    .iter()
                                    .filter_map(|e| e.proof_of_delivery.as_deref())
                                    .map(str::trim)
                                    .find(|p| !p.is_empty())
                                    .map(str::to_string)
                            })
                            .flatten(),
                        steps: stored.map(|st| steps(lang, zone, st, &carrier)).unwrap_or_default(),
                    }
                })
                .collect();
            ShipmentPage {
                heading: if shipments_count > 1 {
                    fill(
                        text(lang, "shipment_of"),
                        &[("i", &(i + 1).to_string()), ("count", &shipments_count.to_string())],
                    )
                } else {
                    String::new()
                },
                carrier: s.carrier.as_deref().and_then(carrier_name),
                tracking_number: s.tracking_number.clone(),
                cancelled: s.cancelled || order.cancelled,
                parcels,
            }
        })
        .collect();
    let summary = match statuses[..] {
        [one] => status_text(lang, one).to_string(),
        _ => delivered_count(lang, delivered, statuses.len()),
    };
    OrderPage {
        order_number: order.order_number.clone(),
        summary,
        parcel_count: statuses.len(),
        shipments,
    }
}

/// The carrier's progress for one tracking number, from its events alone:
/// no order, no customer, no postal code, no proof of delivery (a name).
pub fn number_page(
    tracking_number: &str,
    events: &[crate::carriers::store::StoredEvent],
    now_ms: i64,
    lang: Lang,
) -> NumberPage {
    let facts: Vec<_> = events.iter().flat_map(crate::carriers::facts::facts).collect();
    let ctx = crate::status::Context {
        now_ms,
        promised: None,
        acceptance_window_ms: 0,
    };
    let status = crate::status::parcel_status(&facts, &ctx);
    let mut reached = status.milestones.clone();
    reached.sort_by_key(|r| std::cmp::Reverse(r.event_time_ms));
    let steps = reached
        .iter()
        .take(MAX_STEPS)
        .map(|r| {
            let event = events.iter().find(|e| e.event.event_key == r.provenance.event_id);
            // Where it happened, in that place's offset.
            let offset = event.and_then(|e| e.event.offset_minutes);
            let zone = offset
                .and_then(|m| chrono::FixedOffset::east_opt(m * 60))
                .map_or(Zone::Utc, Zone::Fixed);
            Step {
                when: date_time(lang, zone, r.event_time_ms),
                what: milestone_text(lang, r.milestone),
                place: event.and_then(|e| e.event.location.as_ref()).and_then(place),
            }
        })
        .collect();
    let (estimate, _, estimate_unknown) = estimate(
        lang,
        status.customer,
        status
            .estimate
            .as_ref()
            .map(|e| StoredEstimate {
                current: e.current,
                original: e.original,
                promised: e.promised,
            })
            .as_ref(),
    );
    NumberPage {
        tracking_number: tracking_number.to_string(),
        status: status.customer.as_str(),
        status_text: status_text(lang, status.customer),
        estimate,
        estimate_unknown,
        steps,
    }
}

#[cfg(test)]
mod tests;
