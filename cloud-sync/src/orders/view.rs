//! How an order reads in the API: order → shipments → parcels, each with its
//! status, and each parcel with its timeline (site events, carrier events and
//! operator corrections in event-time order, each saying its source). Times are
//! RFC 3339 with the offset they happened at.

use serde::Serialize;
use waymark_proto::v1::Event;

use super::model::{Customer, Item, OrderRecord, Promise};
use crate::store::{CentralStore, StoreError, Tx};
use crate::timeline::view::{EventView, format_utc};

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderView {
    pub order_number: String,
    pub revision: u64,
    pub order_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    pub customer: Customer,
    /// ordered, processing, partially_shipped, shipped, partially_delivered,
    /// delivered, cancelled, return_in_progress, returned.
    pub status: String,
    pub overlays: Vec<String>,
    pub cancelled: bool,
    pub created_at: String,
    pub updated_at: String,
    pub shipments: Vec<ShipmentView>,
    /// The order's unified timeline: every site event and correction of the
    /// order (its parcels' and order-level scans), in event-time order.
    pub timeline: Vec<TimelineEntry>,
    /// The site when every shipment ships from one (as orders read before
    /// shipments existed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub site_id: Option<String>,
    /// Every parcel of every shipment, in brief (as orders read before
    /// shipments existed); `shipments` has each with its status and timeline.
    pub parcels: Vec<ParcelBrief>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParcelBrief {
    pub parcel_id: String,
    pub shipment_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sscc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipmentView {
    pub shipment_id: String,
    pub site_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub service_level: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub promised_delivery: Option<Promise>,
    pub status: String,
    pub cancelled: bool,
    pub parcels: Vec<ParcelView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ParcelView {
    pub parcel_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sscc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epc: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
    /// The status engine's answer: current milestone, each milestone with its
    /// provenance, overlays, the customer-facing status, the estimate;
    /// `null` before the engine has run for it.
    #[schema(value_type = Option<Object>, required = true)]
    pub status: serde_json::Value,
    pub timeline: Vec<TimelineEntry>,
}

/// One entry of a timeline: a site event, a carrier event, or an operator correction.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(tag = "source", rename_all = "snake_case")]
pub enum TimelineEntry {
    Site(Box<EventView>),
    Carrier(Box<CarrierEntry>),
    Operator(CorrectionView),
}

/// A carrier event as the timeline shows it: the canonical reading and the
/// provider's own code beside it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CarrierEntry {
    pub provider: String,
    pub carrier: String,
    pub tracking_number: String,
    /// The canonical milestone; `null` when unmapped or an estimate only.
    pub milestone: Option<String>,
    pub unmapped: bool,
    pub provider_code: String,
    pub description: String,
    pub carrier_possession: bool,
    /// RFC 3339 with the offset where it happened.
    pub event_time: Option<String>,
    pub record_time: String,
    #[schema(value_type = Option<Object>)]
    pub location: Option<crate::carriers::Location>,
    #[schema(value_type = Option<Object>)]
    pub estimated_delivery: Option<crate::carriers::Estimate>,
    #[schema(value_type = Option<Object>)]
    pub exception: Option<crate::carriers::ExceptionInfo>,
    pub event_key: String,
    /// The stored webhook that carried it (`GET /api/v1/carriers/webhooks`).
    pub webhook_id: i64,
}

impl CarrierEntry {
    pub fn new(stored: &crate::carriers::store::StoredEvent) -> Self {
        let e = &stored.event;
        Self {
            provider: e.provider.to_string(),
            carrier: e.carrier.clone(),
            tracking_number: e.tracking_number.clone(),
            milestone: e.milestone.map(|m| m.as_str().to_string()),
            unmapped: e.is_unmapped(),
            provider_code: e.provider_code.clone(),
            description: e.description.clone(),
            carrier_possession: e.carrier_possession,
            event_time: e
                .event_time_ms
                .map(|t| crate::timeline::view::format_with_offset(t, e.offset_minutes.unwrap_or(0))),
            record_time: format_utc(stored.recorded_ms),
            location: e.location.clone(),
            estimated_delivery: e.estimated_delivery.clone(),
            exception: e.exception.clone(),
            event_key: e.event_key.clone(),
            webhook_id: stored.webhook_id,
        }
    }

    fn keyed(stored: &crate::carriers::store::StoredEvent) -> (i64, TimelineEntry) {
        (
            stored.event.event_time_ms.unwrap_or(stored.recorded_ms),
            TimelineEntry::Carrier(Box::new(Self::new(stored))),
        )
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CorrectionView {
    pub correction_id: String,
    pub event_time: String,
    pub record_time: String,
    /// assert or retract.
    pub action: String,
    pub milestone: String,
    pub reason: String,
    /// The name of the API token that made it.
    pub by: String,
    pub parcel_id: String,
    #[serde(skip)]
    pub event_time_ms: i64,
}

/// Site events (already in event-time order) and corrections merged into one
/// event-time order, each keyed by its own time; the sort is stable, so
/// events keep their store order among equal times.
fn in_time_order(entries: impl Iterator<Item = (i64, TimelineEntry)>) -> Vec<TimelineEntry> {
    let mut entries: Vec<(i64, TimelineEntry)> = entries.collect();
    entries.sort_by_key(|(ms, _)| *ms);
    entries.into_iter().map(|(_, t)| t).collect()
}

impl OrderView {
    pub fn load(store: &CentralStore, order: OrderRecord) -> Result<Self, StoreError> {
        store.read(|tx| Self::load_in(tx, &order))
    }

    pub(crate) fn load_in(tx: &mut Tx<'_>, order: &OrderRecord) -> Result<Self, StoreError> {
        let number = order.order_number.as_str();
        let head = tx.query_opt(
            "SELECT status, overlays FROM orders WHERE order_number = $1",
            &[number.into()],
        )?;
        let (status, overlays) = match head {
            Some(r) => (r.text(0)?, r.text(1)?),
            None => ("ordered".to_string(), String::new()),
        };
        let mut parcel_status = std::collections::HashMap::new();
        for r in tx.query(
            "SELECT parcel_id, status FROM parcels WHERE order_number = $1",
            &[number.into()],
        )? {
            let doc = serde_json::from_str(&r.text(1)?).unwrap_or(serde_json::Value::Null);
            parcel_status.insert(r.text(0)?, doc);
        }
        let mut shipment_status = std::collections::HashMap::new();
        for r in tx.query(
            "SELECT shipment_id, status FROM shipments WHERE order_number = $1",
            &[number.into()],
        )? {
            shipment_status.insert(r.text(0)?, r.text(1)?);
        }
        let corrections = load_corrections(tx, number)?;
        let mut idents: Vec<&str> = order.identifiers().collect();
        idents.push(number);
        let events = crate::timeline::timeline_in(tx, &idents)?;
        let carrier = crate::carriers::store::events_of_order(tx, number)?;

        let mut claimed: Vec<Option<String>> = vec![None; events.len()];
        let shipments = order
            .shipments
            .iter()
            .map(|s| ShipmentView {
                shipment_id: s.shipment_id.clone(),
                site_id: s.site_id.clone(),
                carrier: s.carrier.clone(),
                service_level: s.service_level.clone(),
                tracking_number: s.tracking_number.clone(),
                promised_delivery: s.promised_delivery.clone(),
                status: shipment_status
                    .get(&s.shipment_id)
                    .cloned()
                    .unwrap_or_else(|| "ordered".into()),
                cancelled: s.cancelled || order.cancelled,
                parcels: s
                    .parcels
                    .iter()
                    .map(|p| {
                        let mut site = Vec::new();
                        for (i, e) in events.iter().enumerate() {
                            if event_is_for_parcel(e, number, &p.parcel_id, p.identifiers()) {
                                claimed[i].get_or_insert_with(|| p.parcel_id.clone());
                                let view = EventView::new(e, Some(p.parcel_id.clone()));
                                site.push((e.event_time_ms, TimelineEntry::Site(Box::new(view))));
                            }
                        }
                        let of_parcel = carrier.iter().filter(|c| {
                            let tn = Some(c.event.tracking_number.as_str());
                            p.tracking_number.as_deref() == tn || s.tracking_number.as_deref() == tn
                        });
                        let timeline = in_time_order(
                            site.into_iter().chain(of_parcel.map(CarrierEntry::keyed)).chain(
                                corrections
                                    .iter()
                                    .filter(|c| c.parcel_id == p.parcel_id)
                                    .map(|c| (c.event_time_ms, TimelineEntry::Operator(c.clone()))),
                            ),
                        );
                        ParcelView {
                            parcel_id: p.parcel_id.clone(),
                            sscc: p.sscc.clone(),
                            epc: p.epc.clone(),
                            tracking_number: p.tracking_number.clone(),
                            items: p.items.clone(),
                            status: parcel_status
                                .get(&p.parcel_id)
                                .cloned()
                                .unwrap_or(serde_json::Value::Null),
                            timeline,
                        }
                    })
                    .collect(),
            })
            .collect();
        let timeline = in_time_order(
            events
                .iter()
                .zip(claimed)
                .map(|(e, parcel)| {
                    (
                        e.event_time_ms,
                        TimelineEntry::Site(Box::new(EventView::new(e, parcel))),
                    )
                })
                .chain(carrier.iter().map(CarrierEntry::keyed))
                .chain(
                    corrections
                        .into_iter()
                        .map(|c| (c.event_time_ms, TimelineEntry::Operator(c))),
                ),
        );
        Ok(Self {
            order_number: order.order_number.clone(),
            revision: order.revision,
            order_type: order.order_type.clone(),
            brand: order.brand.clone(),
            customer: order.customer.clone(),
            status,
            overlays: split_overlays(&overlays),
            cancelled: order.cancelled,
            created_at: format_utc(order.created_ms),
            updated_at: format_utc(order.updated_ms),
            shipments,
            timeline,
            site_id: match order.sites().collect::<Vec<_>>()[..] {
                [one] => Some(one.to_string()),
                _ => None,
            },
            parcels: order
                .parcels()
                .map(|(s, p)| ParcelBrief {
                    parcel_id: p.parcel_id.clone(),
                    shipment_id: s.shipment_id.clone(),
                    sscc: p.sscc.clone(),
                    epc: p.epc.clone(),
                    tracking_number: p.tracking_number.clone(),
                })
                .collect(),
        })
    }
}

/// An event belongs to a parcel when the gateway matched it to that parcel,
/// or when it names one of the parcel's identifiers and no other order (a
/// label moved to another order keeps its old order's scans there).
pub(crate) fn event_is_for_parcel<'a>(
    e: &Event,
    order_number: &str,
    parcel_id: &str,
    mut identifiers: impl Iterator<Item = &'a str>,
) -> bool {
    (e.order_number == order_number && e.parcel_id == parcel_id)
        || ((e.order_number.is_empty() || e.order_number == order_number)
            && identifiers.any(|id| e.identifiers.iter().any(|i| i.value == id)))
}

pub(crate) fn split_overlays(s: &str) -> Vec<String> {
    s.split(',').filter(|o| !o.is_empty()).map(str::to_string).collect()
}

pub(crate) fn load_corrections(tx: &mut Tx<'_>, number: &str) -> Result<Vec<CorrectionView>, StoreError> {
    tx.query(
        "SELECT correction_id, parcel_id, milestone, assert_milestone, reason, actor, event_time_ms, recorded_ms \
         FROM corrections WHERE order_number = $1 ORDER BY event_time_ms, correction_id",
        &[number.into()],
    )?
    .iter()
    .map(|r| {
        Ok(CorrectionView {
            correction_id: r.text(0)?,
            parcel_id: r.text(1)?,
            milestone: r.text(2)?,
            action: if r.i64(3)? != 0 { "assert" } else { "retract" }.to_string(),
            reason: r.text(4)?,
            by: r.text(5)?,
            event_time_ms: r.i64(6)?,
            event_time: format_utc(r.i64(6)?),
            record_time: format_utc(r.i64(7)?),
        })
    })
    .collect()
}
