//! Feeds the pure status engine (`crate::status`) from the store: a parcel's
//! events from every source (order intake, site scans, carrier events,
//! operator corrections, cancellation) become its facts with their provenance; the answer is kept
//! per parcel, per shipment and per order. Runs in the transaction of every
//! change to an order, in the timeline projection's step for new site
//! events, and from the status clock.

use waymark_proto::v1::{Event, EventKind};

use super::OrderRecord;
use super::view::{event_is_for_parcel, load_corrections};
use crate::status::{
    Context, Fact, Milestone, ParcelEvent, ParcelStatus, Party, Provenance, Source, Window, order_status, parcel_status,
};
use crate::store::{StoreError, Tx};

/// How long a loaded parcel may wait for the carrier's first possession scan
/// before it shows `label_not_accepted`.
pub const ACCEPTANCE_WINDOW_MS: i64 = 24 * 3_600_000;

/// Recomputes the status of every parcel of `order`, of its shipments and of
/// the order, and stores what changed. Returns whether the order's status or
/// overlays changed.
pub(crate) fn refresh(tx: &mut Tx<'_>, order: &OrderRecord, now_ms: i64) -> Result<bool, StoreError> {
    let number = order.order_number.as_str();
    let mut idents: Vec<&str> = order.identifiers().collect();
    idents.push(number);
    let events = crate::timeline::timeline_in(tx, &idents)?;
    let corrections = load_corrections(tx, number)?;
    refresh_from(tx, order, &events, &corrections, now_ms)
}

/// [`refresh`] for an order just created, which has no events or corrections.
pub(crate) fn refresh_new(tx: &mut Tx<'_>, order: &OrderRecord, now_ms: i64) -> Result<bool, StoreError> {
    refresh_from(tx, order, &[], &[], now_ms)
}

fn refresh_from(
    tx: &mut Tx<'_>,
    order: &OrderRecord,
    events: &[Event],
    corrections: &[super::view::CorrectionView],
    now_ms: i64,
) -> Result<bool, StoreError> {
    let number = order.order_number.as_str();
    let carrier_events = crate::carriers::store::events_of_order(tx, number)?;
    let mut all = Vec::new();
    let mut recheck: Option<i64> = None;
    for s in &order.shipments {
        let mut of_shipment = Vec::new();
        for p in &s.parcels {
            let mut facts = vec![ParcelEvent {
                fact: Fact::Reached {
                    milestone: Milestone::Ordered,
                    detail: None,
                },
                event_time_ms: order.created_ms,
                offset_minutes: 0,
                record_time_ms: order.created_ms,
                provenance: Provenance {
                    source: Source::OrderIntake,
                    actor: "order intake".into(),
                    event_id: format!("order:{number}"),
                    evidence: format!("order/{number}/revision/1"),
                },
            }];
            for e in events {
                let order_level = e.order_number == number && e.parcel_id.is_empty() && e.site_id == s.site_id;
                if order_level || event_is_for_parcel(e, number, &p.parcel_id, p.identifiers()) {
                    facts.extend(site_facts(e));
                }
            }
            // The parcel's own tracking number, and the shipment's (a
            // master number covers every parcel of its shipment).
            for c in carrier_events.iter().filter(|c| {
                let tn = c.event.tracking_number.as_str();
                p.tracking_number.as_deref() == Some(tn) || s.tracking_number.as_deref() == Some(tn)
            }) {
                facts.extend(crate::carriers::facts::facts(c));
            }
            for c in corrections.iter().filter(|c| c.parcel_id == p.parcel_id) {
                let Some(milestone) = Milestone::parse(&c.milestone) else {
                    continue;
                };
                facts.push(ParcelEvent {
                    fact: Fact::Correction {
                        assert: c.action == "assert",
                        milestone,
                        reason: c.reason.clone(),
                    },
                    event_time_ms: c.event_time_ms,
                    offset_minutes: 0,
                    record_time_ms: c.event_time_ms,
                    provenance: Provenance {
                        source: Source::Operator,
                        actor: c.by.clone(),
                        event_id: c.correction_id.clone(),
                        evidence: format!("correction/{}", c.correction_id),
                    },
                });
            }
            if s.cancelled || order.cancelled {
                facts.push(ParcelEvent {
                    fact: Fact::Cancelled,
                    event_time_ms: order.updated_ms,
                    offset_minutes: 0,
                    record_time_ms: order.updated_ms,
                    provenance: Provenance {
                        source: Source::OrderIntake,
                        actor: "order intake".into(),
                        event_id: format!("cancel:{number}:{}", s.shipment_id),
                        evidence: format!("order/{number}/shipment/{}", s.shipment_id),
                    },
                });
            }
            let ctx = Context {
                now_ms,
                promised: s
                    .promised_delivery
                    .as_ref()
                    .and_then(|p| p.window_ms())
                    .map(|(from_ms, to_ms)| Window { from_ms, to_ms }),
                acceptance_window_ms: ACCEPTANCE_WINDOW_MS,
            };
            let status = parcel_status(&facts, &ctx);
            recheck = [recheck, next_change(&status, &ctx)].into_iter().flatten().min();
            write_parcel(tx, number, &p.parcel_id, &status, now_ms)?;
            of_shipment.push(status);
        }
        tx.execute(
            "UPDATE shipments SET status = $3 WHERE order_number = $1 AND shipment_id = $2 AND status <> $3",
            &[
                number.into(),
                s.shipment_id.as_str().into(),
                order_status(&of_shipment).as_str().into(),
            ],
        )?;
        all.extend(of_shipment);
    }
    let status = order_status(&all).as_str();
    let overlays = overlay_list(all.iter());
    let changed = tx.execute(
        "UPDATE orders SET status = $2, overlays = $3, updated_ms = $4 \
         WHERE order_number = $1 AND (status <> $2 OR overlays <> $3)",
        &[number.into(), status.into(), overlays.as_str().into(), now_ms.into()],
    )? > 0;
    tx.execute(
        "UPDATE orders SET recheck_ms = $2 WHERE order_number = $1 AND recheck_ms IS DISTINCT FROM $2",
        &[number.into(), recheck.into()],
    )?;
    if changed {
        tx.execute("DELETE FROM order_overlays WHERE order_number = $1", &[number.into()])?;
        for overlay in overlays.split(',').filter(|o| !o.is_empty()) {
            tx.execute(
                "INSERT INTO order_overlays (overlay, updated_ms, order_number) VALUES ($1, $2, $3)",
                &[overlay.into(), now_ms.into(), number.into()],
            )?;
        }
    }
    Ok(changed)
}

/// The next instant after `ctx.now_ms` at which the parcel's time-driven
/// overlays may change with no new event: its promise or the carrier's
/// estimate passing, or the carrier's acceptance window after loading
/// closing. `None` once nothing can change by time alone (delivered, or no
/// promise, estimate or pending acceptance).
fn next_change(status: &ParcelStatus, ctx: &Context) -> Option<i64> {
    let mut at = Vec::new();
    if let Some(e) = &status.estimate {
        at.extend(e.current.map(|w| w.to_ms));
        at.extend(e.promised.map(|w| w.to_ms));
    }
    let accepted = status.milestones.iter().any(|m| m.milestone.is_carrier_possession());
    if let (Some(loaded), false, true) = (
        status.reached(Milestone::Loaded),
        accepted,
        ctx.acceptance_window_ms > 0,
    ) {
        at.push(loaded.event_time_ms + ctx.acceptance_window_ms);
    }
    at.into_iter().map(|t| t + 1).filter(|t| *t > ctx.now_ms).min()
}

/// ",delayed,exception," — delimited on both sides so a filter matches whole names.
fn overlay_list<'a>(parcels: impl Iterator<Item = &'a ParcelStatus>) -> String {
    let mut names: Vec<&str> = parcels
        .flat_map(|p| p.overlays.iter().map(|o| o.overlay.as_str()))
        .collect();
    names.sort_unstable();
    names.dedup();
    if names.is_empty() {
        String::new()
    } else {
        format!(",{},", names.join(","))
    }
}

fn write_parcel(
    tx: &mut Tx<'_>,
    number: &str,
    parcel: &str,
    status: &ParcelStatus,
    now_ms: i64,
) -> Result<(), StoreError> {
    let doc = serde_json::to_string(status).map_err(|e| StoreError::Corrupt(format!("status: {e}")))?;
    tx.execute(
        "UPDATE parcels SET milestone = $3, customer_status = $4, overlays = $5, status = $6, updated_ms = $7 \
         WHERE order_number = $1 AND parcel_id = $2 AND status <> $6",
        &[
            number.into(),
            parcel.into(),
            status.milestone.map(Milestone::as_str).unwrap_or_default().into(),
            status.customer.as_str().into(),
            overlay_list(std::iter::once(status)).as_str().into(),
            doc.as_str().into(),
            now_ms.into(),
        ],
    )?;
    Ok(())
}

/// What a site event says about a parcel.
pub(crate) fn site_facts(e: &Event) -> Vec<ParcelEvent> {
    let provenance = || Provenance {
        source: Source::Site,
        actor: if e.device_id.is_empty() {
            e.read_point.clone()
        } else {
            e.device_id.clone()
        },
        event_id: e.event_id.clone(),
        evidence: format!("site/{}/seq/{}", e.site_id, e.sequence),
    };
    let at = |fact| ParcelEvent {
        fact,
        event_time_ms: e.event_time_ms,
        offset_minutes: e.event_time_offset_minutes,
        record_time_ms: e.record_time_ms,
        provenance: provenance(),
    };
    let mut facts = Vec::new();
    match e.kind() {
        EventKind::Milestone => {
            if let Some(milestone) = Milestone::parse(&e.milestone) {
                facts.push(at(Fact::Reached {
                    milestone,
                    detail: (!e.read_point.is_empty()).then(|| e.read_point.clone()),
                }));
            }
        }
        EventKind::Exception => facts.push(at(Fact::Exception {
            reason: e.exception.clone(),
            party: Party::Site,
        })),
        EventKind::Observation | EventKind::Unspecified => {}
    }
    if !e.resolves_event_ids.is_empty() {
        facts.push(at(Fact::Resolved {
            event_ids: e.resolves_event_ids.clone(),
        }));
    }
    facts
}

/// The orders whose status site events may change: those the gateway matched
/// a milestone or an exception to.
pub(crate) fn orders_touched(events: &[Event]) -> Vec<String> {
    let mut numbers: Vec<String> = events
        .iter()
        .filter(|e| !e.order_number.is_empty())
        .filter(|e| e.kind() != EventKind::Observation || !e.resolves_event_ids.is_empty())
        .map(|e| e.order_number.clone())
        .collect();
    numbers.sort_unstable();
    numbers.dedup();
    numbers
}
