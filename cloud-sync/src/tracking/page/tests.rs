//! The page content from orders, statuses and carrier events.
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
    serde_json::from_value(serde_json::to_value(&status).expect("json")).expect("the page reads the engine's status")
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
