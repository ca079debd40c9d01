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
mod tests {
    use proptest::prelude::*;
    use serde_json::json;

    use super::*;
    use crate::carriers::Provider;
    use crate::orders::{ParcelRecord, ShipmentRecord};

    const DAY: i64 = 86_400_000;
    /// 2026-11-20T00:00:00Z.
    const T0: i64 = 1_795_132_800_000;

    fn order() -> OrderRecord {
        let shipment = |n: usize, tn: &str| ShipmentRecord {
            shipment_id: format!("SO-1-S{n}"),
            site_id: "dc-a".into(),
            carrier: Some("fedex".into()),
            tracking_number: Some(tn.into()),
            parcels: vec![ParcelRecord {
                parcel_id: format!("SO-1-{n}"),
                tracking_number: Some(tn.into()),
                ..ParcelRecord::default()
            }],
            ..ShipmentRecord::default()
        };
        OrderRecord {
            order_number: "SO-1".into(),
            shipments: vec![shipment(1, "TN1"), shipment(2, "TN2"), shipment(3, "TN3")],
            ..OrderRecord::default()
        }
    }

    fn carrier(tn: &str, key: &str, m: Milestone, at: i64) -> CarrierEvent {
        let mut e = CarrierEvent::new(Provider::EasyPost, tn);
        e.event_key = key.into();
        e.milestone = Some(m);
        e.event_time_ms = Some(at);
        e.location = Some(Location {
            city: Some("Memphis".into()),
            postal_code: Some("38118".into()),
            country: Some("US".into()),
            ..Location::default()
        });
        e
    }

    fn stored(v: serde_json::Value) -> StoredStatus {
        serde_json::from_value(v).expect("a stored status")
    }

    /// The status as the engine writes it, read back the way the page reads it.
    fn engine_status(events: &[CarrierEvent], promised: Option<Window>) -> StoredStatus {
        let stored_events: Vec<_> = events
            .iter()
            .map(|e| crate::carriers::store::StoredEvent {
                event: e.clone(),
                webhook_id: 1,
                recorded_ms: e.event_time_ms.unwrap_or(T0),
            })
            .collect();
        let facts: Vec<_> = stored_events.iter().flat_map(crate::carriers::facts::facts).collect();
        let ctx = crate::status::Context {
            now_ms: T0 + DAY,
            promised,
            acceptance_window_ms: 0,
        };
        let status = crate::status::parcel_status(&facts, &ctx);
        serde_json::from_value(serde_json::to_value(&status).expect("json"))
            .expect("the page reads the engine's status")
    }

    fn data() -> OrderData {
        let mut delivered = carrier("TN1", "d1", Milestone::Delivered, T0 + 3_600_000);
        delivered.proof_of_delivery = Some("Signed: A. GARCIA".into());
        let picked = carrier("TN1", "p1", Milestone::CarrierAccepted, T0);
        let mut moving = carrier("TN2", "p2", Milestone::InTransit, T0);
        moving.estimated_delivery = Some(crate::carriers::Estimate::day("2026-11-22"));
        let mut later = CarrierEvent::new(Provider::EasyPost, "TN2");
        later.event_key = "e2".into();
        later.event_time_ms = Some(T0 + 7_200_000);
        later.estimated_delivery = Some(crate::carriers::Estimate {
            from: "2026-11-24".into(),
            to: "2026-11-25".into(),
        });
        let events = vec![picked.clone(), delivered.clone(), moving.clone(), later.clone()];
        let mut statuses = HashMap::new();
        statuses.insert("SO-1-1".to_string(), engine_status(&[picked, delivered], None));
        statuses.insert("SO-1-2".to_string(), engine_status(&[moving, later], None));
        OrderData {
            order: order(),
            statuses,
            carrier: events,
        }
    }

    #[test]
    fn a_split_order_is_counted_with_each_parcel_in_its_words() {
        let page = order_page(&data(), &Brand::default(), Lang::En, Zone::parse(Some("Europe/Berlin")));
        assert_eq!(page.summary, "1 of 3 parcels delivered");
        assert_eq!(page.shipments[1].heading, "Shipment 2 of 3");
        let p = |i: usize| &page.shipments[i].parcels[0];
        assert_eq!((p(0).status, p(0).status_text), ("delivered", "Delivered"));
        assert_eq!(p(0).proof_of_delivery.as_deref(), Some("Signed: A. GARCIA"));
        assert_eq!(p(0).estimate, None, "no estimate once delivered");
        assert_eq!(p(0).steps[0].what, "Delivered");
        assert_eq!(p(0).steps[0].when, "November 20, 2026, 2:00 AM");
        assert_eq!(
            p(0).steps[0].place.as_deref(),
            Some("Memphis, US"),
            "no postal code in the timeline"
        );
        assert_eq!(p(1).status, "in_transit");
        assert_eq!(p(1).estimate.as_deref(), Some("November 24, 2026 – November 25, 2026"));
        assert_eq!(
            p(1).original_estimate.as_deref(),
            Some("November 22, 2026"),
            "the original is kept"
        );
        // The third parcel has no status yet: honest about not knowing.
        assert_eq!(p(2).status, "order_received");
        assert!(p(2).estimate_unknown && p(2).steps.is_empty());
    }

    #[test]
    fn carriers_are_named_as_customers_know_them() {
        assert_eq!(carrier_name("fedex").as_deref(), Some("FedEx"));
        assert_eq!(carrier_name("dhl_express").as_deref(), Some("DHL Express"));
        assert_eq!(carrier_name("royal_mail").as_deref(), Some("Royal Mail"));
        assert_eq!(carrier_name(" _ "), None);
    }

    #[test]
    fn held_up_parcels_say_why_and_what_happens_next() {
        let mut d = data();
        d.statuses.insert(
            "SO-1-2".into(),
            stored(json!({
                "customer": "delivery_attempted",
                "overlays": [
                    {"overlay": "delayed", "reason": "estimate_after_promise", "party": null},
                    {"overlay": "exception", "reason": "customs_delay", "party": "customs"},
                    {"overlay": "exception", "reason": "something_new", "party": "merchant"}
                ]
            })),
        );
        d.statuses.insert(
            "SO-1-3".into(),
            stored(json!({"customer": "ready_for_pickup", "milestones": []})),
        );
        d.carrier.push(carrier("TN3", "k3", Milestone::AvailableForPickup, T0));
        let brand = Brand {
            display_name: "ACME".into(),
            ..Brand::default()
        };
        let page = order_page(&d, &brand, Lang::De, Zone::Utc);
        let attempted = &page.shipments[1].parcels[0];
        assert!(attempted.attempt_guidance);
        assert_eq!(
            attempted.notices,
            [
                "Verspätet: Der Versanddienst erwartet die Zustellung nun später als zuerst zugesagt.",
                "Es gibt ein Problem mit diesem Paket: es wird beim Zoll aufgehalten. Der Zoll prüft es; das dauert meist einige Tage.",
                "Es gibt ein Problem mit diesem Paket: der Versanddienst hat ein Problem gemeldet. ACME kümmert sich darum.",
            ]
        );
        let pickup = &page.shipments[2].parcels[0];
        assert_eq!(
            pickup.pickup.as_deref(),
            Some("Memphis, 38118, US"),
            "a pickup point keeps its postal code"
        );
        assert_eq!(page.summary, "1 von 3 Paketen zugestellt");
    }

    #[test]
    fn a_tracking_number_page_has_the_carrier_progress_only() {
        let d = data();
        let events: Vec<_> = d
            .carrier
            .iter()
            .filter(|e| e.tracking_number == "TN1")
            .map(|e| crate::carriers::store::StoredEvent {
                event: e.clone(),
                webhook_id: 1,
                recorded_ms: T0,
            })
            .collect();
        let page = number_page("TN1", &events, T0 + DAY, Lang::Fr);
        assert_eq!((page.status, page.status_text), ("delivered", "Livré"));
        assert_eq!(page.steps.len(), 2);
        assert_eq!(page.steps[0].when, "20 novembre 2026 01:00 UTC");
        let json = serde_json::to_string(&page).expect("json");
        for private in ["SO-1", "38118", "GARCIA"] {
            assert!(!json.contains(private), "{private} in {json}");
        }
    }

    fn any_status() -> impl Strategy<Value = &'static str> {
        prop::sample::select(vec![
            "order_received",
            "preparing",
            "handed_to_carrier",
            "in_transit",
            "out_for_delivery",
            "delivery_attempted",
            "ready_for_pickup",
            "delivered",
            "returning_to_sender",
            "cancelled",
        ])
    }

    proptest! {
        #[test]
        fn every_page_renders_every_parcel_in_every_language(
            statuses in proptest::collection::vec(any_status(), 3),
            lang in 0usize..4,
        ) {
            let mut d = data();
            for (i, s) in statuses.iter().enumerate() {
                d.statuses.insert(format!("SO-1-{}", i + 1), stored(json!({"customer": s})));
            }
            let lang = Lang::ALL[lang];
            let page = order_page(&d, &Brand::default(), lang, Zone::Utc);
            let delivered = statuses.iter().filter(|s| **s == "delivered").count();
            prop_assert!(page.summary.starts_with(&delivered.to_string()), "{}", page.summary);
            let mut problems = Vec::new();
            let templates = super::super::templates::Templates::load(None, &mut problems).expect("templates");
            let html = templates
                .render(super::super::templates::ORDER, lang, &Brand::default().view(), &page)
                .expect("render");
            for (i, s) in statuses.iter().enumerate() {
                let marker = format!("data-parcel=\"SO-1-{}\" data-status=\"{s}\"", i + 1);
                prop_assert!(html.contains(&marker), "{}", marker);
            }
        }
    }
}
