//! Listing orders: filters (site, status, carrier, overlay, updated since)
//! and cursor pagination in the order of last change, so a merchant's sync
//! job can page through everything that changed since its last run.

use serde::{Deserialize, Serialize};

use super::view::split_overlays;
use crate::http::ApiError;
use crate::identity::valid_site;
use crate::store::{CentralStore, Param, StoreError};
use crate::timeline::view::format_utc;

pub const DEFAULT_LIMIT: usize = 50;
pub const MAX_LIMIT: usize = 500;

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    #[param(pattern = "^[a-z0-9_-]{1,64}$")]
    pub site: Option<String>,
    #[param(value_type = Option<String>, pattern = "^(ordered|processing|partially_shipped|shipped|partially_delivered|delivered|cancelled|return_in_progress|returned)$")]
    pub status: Option<String>,
    #[param(min_length = 1, max_length = 32)]
    pub carrier: Option<String>,
    #[param(pattern = "^(delayed|exception|label_not_accepted)$")]
    pub overlay: Option<String>,
    /// RFC 3339, e.g. `2026-12-03T00:00:00Z`.
    pub updated_since: Option<String>,
    /// 1-500; 50 when absent.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

const STATUSES: &[&str] = &[
    "ordered",
    "processing",
    "partially_shipped",
    "shipped",
    "partially_delivered",
    "delivered",
    "cancelled",
    "return_in_progress",
    "returned",
];
const OVERLAYS: &[&str] = &["delayed", "exception", "label_not_accepted"];

/// A checked list request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFilter {
    pub site: Option<String>,
    pub status: Option<String>,
    pub carrier: Option<String>,
    pub overlay: Option<String>,
    pub updated_since_ms: Option<i64>,
    pub limit: usize,
    /// Resume after this (updated_ms, order_number).
    pub after: Option<(i64, String)>,
}

impl ListQuery {
    pub fn check(self) -> Result<OrderFilter, ApiError> {
        let mut problems = Vec::new();
        if let Some(site) = self.site.as_deref().filter(|s| !valid_site(s)) {
            problems.push(format!("site `{site}` is not a site id"));
        }
        if let Some(s) = self.status.as_deref().filter(|s| !STATUSES.contains(s)) {
            problems.push(format!("status `{s}` is not one of {}", STATUSES.join(", ")));
        }
        if let Some(o) = self.overlay.as_deref().filter(|o| !OVERLAYS.contains(o)) {
            problems.push(format!("overlay `{o}` is not one of {}", OVERLAYS.join(", ")));
        }
        if let Some(c) = self.carrier.as_deref().filter(|c| c.is_empty() || c.len() > 32) {
            problems.push(format!("carrier `{c}` is not a carrier code"));
        }
        let updated_since_ms = match self.updated_since.as_deref() {
            None => None,
            Some(t) => match chrono::DateTime::parse_from_rfc3339(t) {
                Ok(t) => Some(t.timestamp_millis()),
                Err(_) => {
                    problems.push(format!("updated_since `{t}` is not an RFC 3339 time"));
                    None
                }
            },
        };
        let limit = self.limit.unwrap_or(DEFAULT_LIMIT);
        if !(1..=MAX_LIMIT).contains(&limit) {
            problems.push(format!("limit must be 1-{MAX_LIMIT}"));
        }
        let after = match self.cursor.as_deref() {
            None => None,
            Some(c) => {
                let parsed = decode_cursor(c);
                if parsed.is_none() {
                    problems.push("cursor is not one this API gave out".to_string());
                }
                parsed
            }
        };
        if !problems.is_empty() {
            return Err(ApiError::invalid(problems.join("; ")));
        }
        Ok(OrderFilter {
            site: self.site,
            status: self.status,
            carrier: self.carrier,
            overlay: self.overlay,
            updated_since_ms,
            limit,
            after,
        })
    }
}

fn encode_cursor(updated_ms: i64, number: &str) -> String {
    let hex: String = number.bytes().map(|b| format!("{b:02x}")).collect();
    format!("{updated_ms}.{hex}")
}

fn decode_cursor(c: &str) -> Option<(i64, String)> {
    let (ms, hex) = c.split_once('.')?;
    let ms = ms.parse().ok()?;
    if hex.len() % 2 != 0 || hex.len() > 512 {
        return None;
    }
    let bytes = (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect::<Option<Vec<u8>>>()?;
    Some((ms, String::from_utf8(bytes).ok()?))
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderPage {
    pub orders: Vec<OrderSummary>,
    /// Pass as `cursor` for the next page; `null` on the last one.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct OrderSummary {
    pub order_number: String,
    pub revision: u64,
    pub status: String,
    pub overlays: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub shipments: Vec<ShipmentSummary>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ShipmentSummary {
    pub shipment_id: String,
    pub site_id: String,
    pub carrier: String,
    pub tracking_number: String,
    pub status: String,
    pub cancelled: bool,
}

impl CentralStore {
    pub fn list_orders(&self, f: &OrderFilter) -> Result<OrderPage, StoreError> {
        // The rows that give the order of change: the orders, or (by overlay)
        // the overlay rows, which hold only the orders that have it.
        let (from, k) = if f.overlay.is_some() {
            ("order_overlays k JOIN orders o ON o.order_number = k.order_number", "k")
        } else {
            ("orders o", "o")
        };
        let mut sql = format!(
            "SELECT o.order_number, o.revision, o.status, o.overlays, o.created_ms, o.updated_ms FROM {from} WHERE true"
        );
        let mut params: Vec<Param<'_>> = Vec::new();
        if let Some(overlay) = &f.overlay {
            bind(&mut sql, &mut params, " AND k.overlay = $?", overlay.into());
        }
        if let Some(s) = &f.status {
            bind(&mut sql, &mut params, " AND o.status = $?", s.into());
        }
        if let Some(t) = f.updated_since_ms {
            bind(&mut sql, &mut params, &format!(" AND {k}.updated_ms >= $?"), t.into());
        }
        if let Some((ms, number)) = &f.after {
            // A row-value comparison: both engines read it as one index range
            // (an OR of the two conditions makes SQLite scan from the start).
            let clause = format!(" AND ({k}.updated_ms, {k}.order_number) > ($?");
            bind(&mut sql, &mut params, &clause, (*ms).into());
            bind(&mut sql, &mut params, ", $?)", number.into());
        }
        if let Some(site) = &f.site {
            bind(
                &mut sql,
                &mut params,
                " AND EXISTS (SELECT 1 FROM shipments s WHERE s.order_number = o.order_number AND s.site_id = $?)",
                site.into(),
            );
        }
        if let Some(carrier) = &f.carrier {
            bind(
                &mut sql,
                &mut params,
                " AND EXISTS (SELECT 1 FROM shipments s WHERE s.order_number = o.order_number AND s.carrier = $?)",
                carrier.into(),
            );
        }
        sql.push_str(&format!(
            " ORDER BY {k}.updated_ms, {k}.order_number LIMIT {}",
            f.limit + 1
        ));
        self.read(|tx| {
            let rows = tx.query(&sql, &params)?;
            let more = rows.len() > f.limit;
            let mut orders = Vec::with_capacity(f.limit);
            let mut last = None;
            for r in rows.iter().take(f.limit) {
                let number = r.text(0)?;
                last = Some((r.i64(5)?, number.clone()));
                let shipments = tx
                    .query(
                        "SELECT shipment_id, site_id, carrier, tracking_number, status, cancelled \
                         FROM shipments WHERE order_number = $1 ORDER BY shipment_id",
                        &[number.as_str().into()],
                    )?
                    .iter()
                    .map(|s| {
                        Ok(ShipmentSummary {
                            shipment_id: s.text(0)?,
                            site_id: s.text(1)?,
                            carrier: s.text(2)?,
                            tracking_number: s.text(3)?,
                            status: s.text(4)?,
                            cancelled: s.i64(5)? != 0,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
                orders.push(OrderSummary {
                    order_number: number,
                    revision: r.u64(1)?,
                    status: r.text(2)?,
                    overlays: split_overlays(&r.text(3)?),
                    created_at: format_utc(r.i64(4)?),
                    updated_at: format_utc(r.i64(5)?),
                    shipments,
                });
            }
            Ok(OrderPage {
                orders,
                next_cursor: if more {
                    last.map(|(ms, n)| encode_cursor(ms, &n))
                } else {
                    None
                },
            })
        })
    }
}

/// Appends `clause` with its `$?` numbered as the next parameter.
fn bind<'a>(sql: &mut String, params: &mut Vec<Param<'a>>, clause: &str, p: Param<'a>) {
    params.push(p);
    sql.push_str(&clause.replace("$?", &format!("${}", params.len())));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let c = encode_cursor(1_700_000_000_000, "SO-1/ü");
        assert_eq!(decode_cursor(&c), Some((1_700_000_000_000, "SO-1/ü".to_string())));
        for junk in ["", "x.00", "12.0", "12.zz", "12"] {
            assert_eq!(decode_cursor(junk), None, "{junk}");
        }
    }

    #[test]
    fn every_bad_filter_is_reported() {
        let q = ListQuery {
            site: Some("Bad Site".into()),
            status: Some("lost".into()),
            overlay: Some("late".into()),
            updated_since: Some("yesterday".into()),
            limit: Some(0),
            cursor: Some("nope".into()),
            ..ListQuery::default()
        };
        let message = format!("{:?}", q.check().expect_err("bad"));
        for part in ["site", "status", "overlay", "updated_since", "limit", "cursor"] {
            assert!(message.contains(part), "{part}: {message}");
        }
    }
}
