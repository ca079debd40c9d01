//! The order as central keeps it: an order with its customer, split into
//! shipments (each shipped by one site, with one carrier), each holding
//! parcels with their line items. Stored as JSON in `orders.body`; what a site
//! receives is [`OrderRecord::site_view`], which holds only that site's
//! shipments and nothing about the customer.

use serde::{Deserialize, Serialize};
use waymark_proto::v1::{LineItem, Order, Parcel, Shipment};

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderRecord {
    pub order_number: String,
    /// The merchant's revision: an update must carry a newer one.
    pub revision: u64,
    pub order_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
    #[serde(default)]
    pub customer: Customer,
    pub shipments: Vec<ShipmentRecord>,
    #[serde(default)]
    pub cancelled: bool,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Customer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postal_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShipmentRecord {
    pub shipment_id: String,
    pub site_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub carrier: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_level: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub promised_delivery: Option<Promise>,
    pub parcels: Vec<ParcelRecord>,
    #[serde(default)]
    pub cancelled: bool,
}

/// The merchant's promise: a date, or a range of dates (`YYYY-MM-DD`, inclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Promise {
    pub earliest: String,
    pub latest: String,
}

impl Promise {
    /// The promise as a window in unix ms: from the start of the first day to
    /// the end of the last (UTC days).
    pub fn window_ms(&self) -> Option<(i64, i64)> {
        let day = |s: &str| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok();
        let from = day(&self.earliest)?.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis();
        let to = day(&self.latest)?.and_hms_opt(0, 0, 0)?.and_utc().timestamp_millis() + 86_400_000 - 1;
        Some((from, to))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParcelRecord {
    pub parcel_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sscc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking_number: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Item {
    pub sku: String,
    #[schema(minimum = 1)]
    pub quantity: u32,
}

impl ParcelRecord {
    pub fn identifiers(&self) -> impl Iterator<Item = &str> {
        [&self.sscc, &self.tracking_number, &self.epc]
            .into_iter()
            .filter_map(|v| v.as_deref())
    }

    fn to_proto(&self, shipment_id: &str) -> Parcel {
        Parcel {
            parcel_id: self.parcel_id.clone(),
            sscc: self.sscc.clone().unwrap_or_default(),
            tracking_number: self.tracking_number.clone().unwrap_or_default(),
            epc: self.epc.clone().unwrap_or_default(),
            shipment_id: shipment_id.to_string(),
            items: self
                .items
                .iter()
                .map(|i| LineItem {
                    sku: i.sku.clone(),
                    quantity: i.quantity,
                })
                .collect(),
        }
    }
}

impl OrderRecord {
    /// Every identifier a read or a carrier event may name to find this
    /// order: parcel identifiers and shipment tracking numbers.
    pub fn identifiers(&self) -> impl Iterator<Item = &str> {
        self.shipments.iter().flat_map(|s| {
            s.tracking_number
                .as_deref()
                .into_iter()
                .chain(s.parcels.iter().flat_map(ParcelRecord::identifiers))
        })
    }

    pub fn sites(&self) -> impl Iterator<Item = &str> {
        let mut sites: Vec<&str> = self.shipments.iter().map(|s| s.site_id.as_str()).collect();
        sites.sort_unstable();
        sites.dedup();
        sites.into_iter()
    }

    pub fn parcels(&self) -> impl Iterator<Item = (&ShipmentRecord, &ParcelRecord)> {
        self.shipments
            .iter()
            .flat_map(|s| s.parcels.iter().map(move |p| (s, p)))
    }

    /// Whether `other` says the same as this order (times and revision aside):
    /// a resubmission that changes nothing.
    pub fn same_content(&self, other: &OrderRecord) -> bool {
        let strip = |o: &OrderRecord| OrderRecord {
            revision: 0,
            created_ms: 0,
            updated_ms: 0,
            ..o.clone()
        };
        strip(self) == strip(other)
    }

    /// The order as `site` sees it. A site with no shipment of the order left
    /// (moved elsewhere by an update) gets a cancelled, empty view, and drops
    /// the order.
    pub fn site_view(&self, site: &str) -> Order {
        let mine: Vec<&ShipmentRecord> = self.shipments.iter().filter(|s| s.site_id == site).collect();
        let active = |s: &&ShipmentRecord| !(s.cancelled || self.cancelled);
        Order {
            order_number: self.order_number.clone(),
            site_id: site.to_string(),
            parcels: mine
                .iter()
                .filter(|s| active(s))
                .flat_map(|s| s.parcels.iter().map(|p| p.to_proto(&s.shipment_id)))
                .collect(),
            created_ms: self.created_ms,
            shipments: mine
                .iter()
                .map(|s| Shipment {
                    shipment_id: s.shipment_id.clone(),
                    carrier: s.carrier.clone().unwrap_or_default(),
                    service_level: s.service_level.clone().unwrap_or_default(),
                    tracking_number: s.tracking_number.clone().unwrap_or_default(),
                    cancelled: s.cancelled || self.cancelled,
                })
                .collect(),
            cancelled_parcels: mine
                .iter()
                .filter(|s| !active(s))
                .flat_map(|s| s.parcels.iter().map(|p| p.to_proto(&s.shipment_id)))
                .collect(),
            cancelled: !mine.iter().any(active),
        }
    }

    /// An order stored by a central that predates shipments: one shipment at
    /// its site holding every parcel.
    pub fn from_legacy(order: &Order) -> Self {
        let parcels = order
            .parcels
            .iter()
            .map(|p| {
                let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
                ParcelRecord {
                    parcel_id: p.parcel_id.clone(),
                    sscc: some(&p.sscc),
                    epc: some(&p.epc),
                    tracking_number: some(&p.tracking_number),
                    items: Vec::new(),
                }
            })
            .collect();
        Self {
            order_number: order.order_number.clone(),
            revision: 1,
            order_type: DEFAULT_ORDER_TYPE.to_string(),
            shipments: vec![ShipmentRecord {
                shipment_id: shipment_id(&order.order_number, 1),
                site_id: order.site_id.clone(),
                parcels,
                ..ShipmentRecord::default()
            }],
            created_ms: order.created_ms,
            updated_ms: order.created_ms,
            ..Self::default()
        }
    }
}

pub const DEFAULT_ORDER_TYPE: &str = "routine";

/// The id of the `n`th shipment (from 1) when the merchant names none.
pub fn shipment_id(order_number: &str, n: usize) -> String {
    format!("{order_number}-S{n}")
}

/// The id of the `n`th parcel of the order (from 1, across its shipments)
/// when the merchant names none; the numbering orders had before shipments.
pub fn parcel_id(order_number: &str, n: usize) -> String {
    format!("{order_number}-{n}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split_order() -> OrderRecord {
        let parcel = |id: &str, sscc: &str| ParcelRecord {
            parcel_id: id.into(),
            sscc: Some(sscc.into()),
            ..ParcelRecord::default()
        };
        OrderRecord {
            order_number: "SO-1".into(),
            revision: 1,
            order_type: "routine".into(),
            shipments: vec![
                ShipmentRecord {
                    shipment_id: "SO-1-S1".into(),
                    site_id: "dc-a".into(),
                    tracking_number: Some("1Z1".into()),
                    parcels: vec![parcel("SO-1-1", "106141412345678908")],
                    ..ShipmentRecord::default()
                },
                ShipmentRecord {
                    shipment_id: "SO-1-S2".into(),
                    site_id: "dc-b".into(),
                    parcels: vec![parcel("SO-1-2", "106141412345678915")],
                    ..ShipmentRecord::default()
                },
            ],
            ..OrderRecord::default()
        }
    }

    #[test]
    fn a_site_sees_only_its_shipments() {
        let order = split_order();
        let a = order.site_view("dc-a");
        assert_eq!(a.parcels.len(), 1);
        assert_eq!(a.parcels[0].parcel_id, "SO-1-1");
        assert_eq!(a.shipments.len(), 1);
        assert!(!a.cancelled);
        let b = order.site_view("dc-b");
        assert_eq!(b.parcels[0].sscc, "106141412345678915");
        assert_eq!(order.sites().collect::<Vec<_>>(), ["dc-a", "dc-b"]);
    }

    #[test]
    fn a_cancelled_shipment_moves_to_cancelled_parcels() {
        let mut order = split_order();
        order.shipments[1].cancelled = true;
        let b = order.site_view("dc-b");
        assert!(b.parcels.is_empty());
        assert_eq!(b.cancelled_parcels.len(), 1);
        assert!(b.cancelled);
        assert!(!order.site_view("dc-a").cancelled);
        order.cancelled = true;
        assert!(order.site_view("dc-a").cancelled);
        // A site the order no longer uses drops it.
        assert!(order.site_view("dc-z").cancelled);
    }

    #[test]
    fn resubmitting_is_recognised_whatever_the_times() {
        let order = split_order();
        let mut again = order.clone();
        again.created_ms = 99;
        again.revision = 1;
        assert!(order.same_content(&again));
        again.shipments[0].carrier = Some("ups".into());
        assert!(!order.same_content(&again));
    }

    #[test]
    fn a_legacy_order_is_one_shipment() {
        let legacy = Order {
            order_number: "SO-9".into(),
            site_id: "dc-a".into(),
            parcels: vec![Parcel {
                parcel_id: "SO-9-1".into(),
                sscc: "106141412345678908".into(),
                ..Parcel::default()
            }],
            created_ms: 5,
            ..Order::default()
        };
        let record = OrderRecord::from_legacy(&legacy);
        assert_eq!(record.shipments.len(), 1);
        let view = record.site_view("dc-a");
        assert_eq!(view.parcels[0].parcel_id, "SO-9-1");
        assert_eq!(view.parcels[0].sscc, legacy.parcels[0].sscc);
        assert_eq!(record.identifiers().collect::<Vec<_>>(), ["106141412345678908"]);
    }
}
