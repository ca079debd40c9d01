//! Bulk intake from CSV: one row per parcel line item (or per parcel without
//! items); rows with the same `order_number` form one order, wherever they
//! are in the file. Columns are found by their header name (any order; see
//! `docs/orders-csv.md`). Every bad row is reported with its line number and
//! reason; an order with a bad row is not imported at all (never half an
//! order); the good orders are committed. Importing the same file again
//! changes nothing.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use chrono::Utc;
use serde::Serialize;

use super::Submitted;
use super::input::{OrderBody, ParcelBody, PromiseBody, ShipmentBody};
use super::model::{Customer, Item, OrderRecord};
use crate::auth::{Authorized, needs};
use crate::http::{ApiError, ApiState, ErrorBody, blocking};
use crate::metrics::ReasonLabel;
use crate::store::{CentralStore, StoreError};

/// Bodies of `POST /api/v1/orders/import` past this are refused with 413.
pub const MAX_CSV_BYTES: usize = 64 << 20;
/// Orders committed per transaction.
const CHUNK: usize = 500;
/// Problems listed in an HTTP answer; all are counted.
const MAX_LISTED: usize = 1000;

pub const COLUMNS: &[&str] = &[
    "order_number",
    "revision",
    "order_type",
    "brand",
    "email",
    "phone",
    "postal_code",
    "time_zone",
    "language",
    "shipment_id",
    "site_id",
    "carrier",
    "service_level",
    "shipment_tracking_number",
    "promised_delivery",
    "parcel_id",
    "sscc",
    "epc",
    "tracking_number",
    "sku",
    "quantity",
];

/// One problem: the line it is on (1 is the header) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    pub line: u64,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub order_number: String,
    pub reason: String,
}

/// The orders a file holds, each with the line of its first row, and the
/// rows that could not become part of an order.
#[derive(Debug, Default)]
pub struct ParsedFile {
    pub rows: u64,
    pub orders: Vec<(u64, OrderRecord)>,
    pub problems: Vec<RowProblem>,
    /// Orders refused for an invisible or bidirectional-control character.
    pub hidden_character_orders: u64,
}

/// A file that cannot be read at all (no header, unknown columns).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FileError(pub String);

struct Columns(HashMap<&'static str, usize>);

impl Columns {
    fn get<'r>(&self, row: &'r csv::StringRecord, name: &str) -> Option<&'r str> {
        let v = row.get(*self.0.get(name)?)?.trim();
        (!v.is_empty()).then_some(v)
    }
}

/// One order's rows as read, before they are checked as an order.
struct Draft {
    line: u64,
    body: OrderBody,
    lines: Vec<u64>,
    bad: bool,
}

/// Reads a CSV file into orders. Pure: no store, no clock but `now_ms`.
pub fn parse(data: &[u8], now_ms: i64) -> Result<ParsedFile, FileError> {
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(data);
    let header = reader
        .headers()
        .map_err(|e| FileError(format!("line 1: cannot read the header: {e}")))?
        .clone();
    let mut columns = HashMap::new();
    for (i, name) in header.iter().enumerate() {
        let name = name.trim().trim_start_matches('\u{feff}');
        let known = COLUMNS.iter().find(|c| **c == name).ok_or_else(|| {
            FileError(format!(
                "line 1: unknown column `{name}`; the columns are {}",
                COLUMNS.join(", ")
            ))
        })?;
        if columns.insert(*known, i).is_some() {
            return Err(FileError(format!("line 1: column `{name}` appears twice")));
        }
    }
    for needed in ["order_number", "site_id"] {
        if !columns.contains_key(needed) {
            return Err(FileError(format!("line 1: the header has no `{needed}` column")));
        }
    }
    let columns = Columns(columns);
    let mut parsed = ParsedFile::default();
    let mut drafts: Vec<Draft> = Vec::new();
    let mut by_number: HashMap<String, usize> = HashMap::new();
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, csv::Position::line);
                parsed.rows += 1;
                parsed.problems.push(RowProblem {
                    line,
                    order_number: String::new(),
                    reason: format!("not readable as CSV: {e}"),
                });
                continue;
            }
        };
        parsed.rows += 1;
        let line = record.position().map_or(0, csv::Position::line);
        let short = record.len() != header.len();
        let Some(number) = columns.get(&record, "order_number") else {
            parsed.problems.push(RowProblem {
                line,
                order_number: String::new(),
                reason: if short {
                    format!("has {} fields; the header has {}", record.len(), header.len())
                } else {
                    "order_number is empty".into()
                },
            });
            continue;
        };
        let index = *by_number.entry(number.to_string()).or_insert_with(|| {
            drafts.push(Draft {
                line,
                body: OrderBody {
                    order_number: number.to_string(),
                    shipments: Some(Vec::new()),
                    ..OrderBody::default()
                },
                lines: Vec::new(),
                bad: false,
            });
            drafts.len() - 1
        });
        if short {
            // The whole order stays out, whichever of its rows is short.
            drafts[index].bad = true;
            parsed.problems.push(RowProblem {
                line,
                order_number: number.to_string(),
                reason: format!("has {} fields; the header has {}", record.len(), header.len()),
            });
            continue;
        }
        let draft = &mut drafts[index];
        draft.lines.push(line);
        if let Err(reason) = add_row(&mut draft.body, &columns, &record) {
            draft.bad = true;
            parsed.problems.push(RowProblem {
                line,
                order_number: number.to_string(),
                reason,
            });
        }
    }
    for draft in drafts {
        let number = draft.body.order_number.clone();
        if draft.bad {
            let bad_lines: Vec<u64> = parsed
                .problems
                .iter()
                .filter(|p| p.order_number == number)
                .map(|p| p.line)
                .collect();
            for line in draft.lines.iter().filter(|l| !bad_lines.contains(l)) {
                parsed.problems.push(RowProblem {
                    line: *line,
                    order_number: number.clone(),
                    reason: format!(
                        "not imported: another row of order {number} is bad (line {})",
                        bad_lines.first().copied().unwrap_or_default()
                    ),
                });
            }
            continue;
        }
        match draft.body.check(now_ms) {
            Ok(order) => parsed.orders.push((draft.line, order)),
            Err(problems) => {
                parsed.hidden_character_orders += u64::from(problems.hidden.is_some());
                parsed.problems.push(RowProblem {
                    line: draft.line,
                    order_number: number,
                    reason: problems.list.join("; "),
                });
            }
        }
    }
    parsed.problems.sort_by_key(|p| p.line);
    Ok(parsed)
}

/// Adds one row's parcel (or line item) to the order it names.
fn add_row(body: &mut OrderBody, c: &Columns, row: &csv::StringRecord) -> Result<(), String> {
    let field = |name: &str| c.get(row, name).map(str::to_string);
    // Order-level fields: the first row that gives one sets it; a later row
    // that says otherwise is a mistake.
    let same = |what: &str, slot: &mut Option<String>, value: Option<String>| -> Result<(), String> {
        match (slot.as_ref(), value) {
            (Some(a), Some(b)) if *a != b => Err(format!(
                "{what} `{b}` differs from `{a}` on an earlier row of the order"
            )),
            (None, Some(b)) => {
                *slot = Some(b);
                Ok(())
            }
            _ => Ok(()),
        }
    };
    let mut revision = body.revision.map(|r| r.to_string());
    same("revision", &mut revision, field("revision"))?;
    body.revision = revision
        .map(|r| {
            r.parse::<u64>()
                .map_err(|_| format!("revision `{r}` is not a whole number"))
        })
        .transpose()?;
    same("order_type", &mut body.order_type, field("order_type"))?;
    same("brand", &mut body.brand, field("brand"))?;
    let customer = body.customer.get_or_insert_with(Customer::default);
    same("email", &mut customer.email, field("email"))?;
    same("phone", &mut customer.phone, field("phone"))?;
    same("postal_code", &mut customer.postal_code, field("postal_code"))?;
    same("time_zone", &mut customer.time_zone, field("time_zone"))?;
    same("language", &mut customer.language, field("language"))?;

    let site_id = field("site_id").ok_or("site_id is empty")?;
    let shipment = ShipmentBody {
        shipment_id: field("shipment_id"),
        site_id,
        carrier: field("carrier"),
        service_level: field("service_level"),
        tracking_number: field("shipment_tracking_number"),
        promised_delivery: field("promised_delivery").map(|p| match p.split_once('/') {
            Some((earliest, latest)) => PromiseBody::Range {
                earliest: earliest.to_string(),
                latest: latest.to_string(),
            },
            None => PromiseBody::Date(p),
        }),
        parcels: Vec::new(),
    };
    let item = match (field("sku"), field("quantity")) {
        (None, None) => None,
        (Some(sku), quantity) => Some(Item {
            sku,
            quantity: match quantity {
                None => 1,
                Some(q) => q.parse().map_err(|_| format!("quantity `{q}` is not a whole number"))?,
            },
        }),
        (None, Some(_)) => return Err("quantity without a sku".into()),
    };
    let parcel = ParcelBody {
        parcel_id: field("parcel_id"),
        sscc: field("sscc"),
        epc: field("epc"),
        tracking_number: field("tracking_number"),
        items: Vec::new(),
    };
    if parcel.sscc.is_none() && parcel.epc.is_none() && parcel.tracking_number.is_none() {
        return Err("needs at least one of sscc, epc, tracking_number".into());
    }
    let shipments = body.shipments.get_or_insert_with(Vec::new);
    let same_shipment = |s: &ShipmentBody| match (&s.shipment_id, &shipment.shipment_id) {
        (Some(a), Some(b)) => a == b,
        (None, None) => {
            s.site_id == shipment.site_id
                && s.carrier == shipment.carrier
                && s.tracking_number == shipment.tracking_number
        }
        _ => false,
    };
    let s = match shipments.iter().position(same_shipment) {
        Some(i) => {
            let s = &mut shipments[i];
            if s.site_id != shipment.site_id {
                return Err(format!(
                    "site_id `{}` differs from `{}` on an earlier row of shipment {}",
                    shipment.site_id,
                    s.site_id,
                    s.shipment_id.as_deref().unwrap_or_default()
                ));
            }
            same("carrier", &mut s.carrier, shipment.carrier)?;
            same("service_level", &mut s.service_level, shipment.service_level)?;
            same(
                "shipment_tracking_number",
                &mut s.tracking_number,
                shipment.tracking_number,
            )?;
            let promise = |p: &Option<PromiseBody>| p.as_ref().map(|p| serde_json::to_string(p).unwrap_or_default());
            if let (Some(a), Some(b)) = (promise(&s.promised_delivery), promise(&shipment.promised_delivery))
                && a != b
            {
                return Err("promised_delivery differs from an earlier row of the shipment".into());
            }
            if s.promised_delivery.is_none() {
                s.promised_delivery = shipment.promised_delivery;
            }
            s
        }
        None => {
            shipments.push(shipment);
            shipments.last_mut().ok_or("no shipment")?
        }
    };
    let same_parcel = |p: &ParcelBody| match (&p.parcel_id, &parcel.parcel_id) {
        (Some(a), Some(b)) => a == b,
        (None, None) => p.sscc == parcel.sscc && p.epc == parcel.epc && p.tracking_number == parcel.tracking_number,
        _ => false,
    };
    let p = match s.parcels.iter().position(same_parcel) {
        Some(i) => {
            let p = &mut s.parcels[i];
            same("sscc", &mut p.sscc, parcel.sscc)?;
            same("epc", &mut p.epc, parcel.epc)?;
            same("tracking_number", &mut p.tracking_number, parcel.tracking_number)?;
            p
        }
        None => {
            s.parcels.push(parcel);
            s.parcels.last_mut().ok_or("no parcel")?
        }
    };
    p.items.extend(item);
    Ok(())
}

/// What an import did.
#[derive(Debug, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub rows: u64,
    pub orders: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    /// Orders not imported: a bad row, or refused by the store (e.g. a
    /// conflicting order under the same number).
    pub rejected_orders: u64,
    pub problems: Vec<RowProblem>,
    /// Problems beyond those listed.
    #[serde(skip_serializing_if = "is_zero")]
    pub problems_not_listed: u64,
    /// Of `rejected_orders`, those refused for their content (a bad row),
    /// and of those, the ones with an invisible or bidirectional-control
    /// character: counted in metrics, not reported.
    #[serde(skip)]
    pub invalid_orders: u64,
    #[serde(skip)]
    pub hidden_character_orders: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl CentralStore {
    /// Imports a CSV file; `progress` hears (orders done, orders in file)
    /// after each committed chunk.
    pub fn import_orders_csv(
        &self,
        data: &[u8],
        mut progress: impl FnMut(u64, u64),
    ) -> Result<ImportReport, ImportError> {
        let now = Utc::now().timestamp_millis();
        let parsed = parse(data, now)?;
        let mut report = ImportReport {
            rows: parsed.rows,
            orders: parsed.orders.len() as u64,
            problems: parsed.problems,
            hidden_character_orders: parsed.hidden_character_orders,
            ..ImportReport::default()
        };
        let bad_orders: std::collections::HashSet<&str> = report
            .problems
            .iter()
            .map(|p| p.order_number.as_str())
            .filter(|n| !n.is_empty())
            .collect();
        report.rejected_orders = bad_orders.len() as u64;
        report.invalid_orders = report.rejected_orders;
        report.orders += report.rejected_orders;
        let total = parsed.orders.len() as u64;
        let mut done = 0;
        for chunk in parsed.orders.chunks(CHUNK) {
            let outcomes = self.submit_orders(chunk, now)?;
            for ((line, order), outcome) in chunk.iter().zip(outcomes) {
                match outcome {
                    Ok(Submitted::Created) => report.created += 1,
                    Ok(Submitted::Updated) => report.updated += 1,
                    Ok(Submitted::Unchanged) => report.unchanged += 1,
                    Err(e) => {
                        report.rejected_orders += 1;
                        report.problems.push(RowProblem {
                            line: *line,
                            order_number: order.order_number.clone(),
                            reason: e.to_string(),
                        });
                    }
                }
            }
            done += chunk.len() as u64;
            progress(done, total);
        }
        report.problems.sort_by_key(|p| p.line);
        Ok(report)
    }
}

/// A progress line on stderr when a person watches (stderr is a terminal);
/// nothing otherwise, so logs and pipes stay clean.
pub fn progress_bar() -> impl FnMut(u64, u64) {
    use std::io::{IsTerminal, Write};
    let tty = std::io::stderr().is_terminal();
    move |done, total| {
        if !tty || total == 0 {
            return;
        }
        const WIDTH: u64 = 40;
        let filled = done * WIDTH / total;
        let bar: String = (0..WIDTH).map(|i| if i < filled { '#' } else { '.' }).collect();
        let mut err = std::io::stderr().lock();
        write!(err, "\r[{bar}] {done}/{total} orders").ok();
        if done >= total {
            writeln!(err).ok();
        }
        err.flush().ok();
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// `POST /api/v1/orders/import` with the CSV file as the body.
#[utoipa::path(post, path = "/api/v1/orders/import", tag = "orders",
    request_body(content = String, content_type = "text/csv",
        description = "One row per parcel line item; columns by header name (docs/orders-csv.md)"),
    responses(
        (status = 200, description = "What was imported; bad rows each with line and reason", body = ImportReport),
        (status = 401, description = "No valid bearer token", body = ErrorBody),
        (status = 403, description = "The token lacks scope orders:write", body = ErrorBody),
        (status = 413, description = "The file is larger than 64 MiB", body = ErrorBody),
        (status = 422, description = "The file cannot be read (no header, an unknown or missing column)", body = ErrorBody),
        (status = 429, description = "Too many failed authentications from this client", body = ErrorBody),
        (status = 503, description = "The store is unavailable; retry", body = ErrorBody),
    ),
)]
pub async fn import_route(
    auth: Authorized<needs::OrdersWrite>,
    State(state): State<Arc<ApiState>>,
    body: Bytes,
) -> Result<Json<ImportReport>, ApiError> {
    let store = state.store.clone();
    let mut report = blocking(move || {
        store.import_orders_csv(&body, |_, _| {}).map_err(|e| match e {
            ImportError::File(e) => ApiError::invalid(e.0),
            ImportError::Store(e) => e.into(),
        })
    })
    .await?;
    if report.created + report.updated > 0 {
        state.order_writes.send_modify(|n| *n += 1);
    }
    let hidden = report.hidden_character_orders;
    for (reason, n) in [
        ("hidden_character", hidden),
        ("invalid_field", report.invalid_orders.saturating_sub(hidden)),
    ] {
        if n > 0 {
            state
                .metrics
                .orders_rejected
                .get_or_create(&ReasonLabel { reason })
                .inc_by(n);
        }
    }
    tracing::info!(rows = report.rows, created = report.created, updated = report.updated, rejected = report.rejected_orders, by = %auth.principal.name, "orders imported from csv");
    if report.problems.len() > MAX_LISTED {
        report.problems_not_listed = (report.problems.len() - MAX_LISTED) as u64;
        report.problems.truncate(MAX_LISTED);
    }
    Ok(Json(report))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str =
        "order_number,site_id,carrier,shipment_tracking_number,sscc,tracking_number,sku,quantity,email\n";

    #[test]
    fn rows_of_one_order_gather_into_shipments_parcels_and_items() {
        let csv = format!(
            "{HEADER}SO-1,dc-a,ups,1ZA,106141412345678908,,TENT,1,a@example.com\n\
             SO-1,dc-a,ups,1ZA,106141412345678908,,PEG,8,\n\
             SO-1,dc-b,dhl,,,JD1,MAT,2,\n\
             SO-2,dc-a,,,,T2,,,\n"
        );
        let parsed = parse(csv.as_bytes(), 0).expect("file");
        assert!(parsed.problems.is_empty(), "{:?}", parsed.problems);
        assert_eq!(parsed.rows, 4);
        let (line, so1) = &parsed.orders[0];
        assert_eq!(*line, 2);
        assert_eq!(so1.shipments.len(), 2);
        assert_eq!(so1.shipments[0].parcels.len(), 1);
        assert_eq!(so1.shipments[0].parcels[0].items.len(), 2);
        assert_eq!(so1.customer.email.as_deref(), Some("a@example.com"));
        assert_eq!(
            parsed.orders[1].1.shipments[0].parcels[0].tracking_number.as_deref(),
            Some("T2")
        );
    }

    #[test]
    fn a_bad_row_keeps_its_whole_order_out_and_says_which_line() {
        let csv = format!(
            "{HEADER}SO-1,dc-a,ups,,106141412345678908,,TENT,1,\n\
             SO-1,dc-a,ups,,106141412345678915,,PEG,many,\n\
             SO-2,DC B,,,,T2,,,\n\
             SO-3,dc-a,,,,T3,,,\n\
             SO-4,dc-a,,,\n"
        );
        let parsed = parse(csv.as_bytes(), 0).expect("file");
        let numbers: Vec<&str> = parsed.orders.iter().map(|(_, o)| o.order_number.as_str()).collect();
        assert_eq!(numbers, ["SO-3"]);
        let lines: Vec<(u64, &str)> = parsed.problems.iter().map(|p| (p.line, p.reason.as_str())).collect();
        assert!(lines[0].0 == 2 && lines[0].1.contains("another row"), "{lines:?}");
        assert!(lines[1].0 == 3 && lines[1].1.contains("quantity `many`"), "{lines:?}");
        assert!(lines[2].0 == 4 && lines[2].1.contains("site_id"), "{lines:?}");
        assert!(lines[3].0 == 6 && lines[3].1.contains("fields"), "{lines:?}");
    }

    #[test]
    fn an_unknown_column_stops_the_file_before_anything_is_read() {
        let err = parse(b"order_number,site_id,colour\nSO-1,dc-a,red\n", 0).expect_err("unknown");
        assert!(err.0.contains("unknown column `colour`"), "{}", err.0);
        let err = parse(b"order_number,sscc\n", 0).expect_err("no site");
        assert!(err.0.contains("site_id"));
    }

    #[test]
    fn rows_of_one_shipment_or_parcel_must_agree() {
        let header = "order_number,shipment_id,site_id,parcel_id,tracking_number,sku\n";
        let csv = format!(
            "{header}SO-1,S1,dc-a,P1,T1,A\nSO-1,S1,dc-b,P2,T2,B\nSO-2,S1,dc-a,P1,T1x,A\nSO-2,S1,dc-a,P1,T1y,B\n"
        );
        let parsed = parse(csv.as_bytes(), 0).expect("file");
        assert!(parsed.orders.is_empty(), "{:?}", parsed.orders);
        let lines: Vec<(u64, &str)> = parsed.problems.iter().map(|p| (p.line, p.reason.as_str())).collect();
        assert!(
            lines.iter().any(|(l, r)| *l == 3 && r.contains("site_id `dc-b`")),
            "{lines:?}"
        );
        assert!(
            lines.iter().any(|(l, r)| *l == 5 && r.contains("tracking_number")),
            "{lines:?}"
        );
    }

    #[test]
    fn a_short_first_row_keeps_its_whole_order_out() {
        let csv = format!("{HEADER}SO-4,dc-a,,,\nSO-4,dc-a,,,,T4,,,\n");
        let parsed = parse(csv.as_bytes(), 0).expect("file");
        assert!(parsed.orders.is_empty(), "{:?}", parsed.orders);
        let lines: Vec<u64> = parsed.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, [2, 3]);
    }

    #[test]
    fn conflicting_order_fields_across_rows_are_a_row_problem() {
        let csv = format!("{HEADER}SO-1,dc-a,,,,T1,,,a@example.com\nSO-1,dc-a,,,,T2,,,b@example.com\n");
        let parsed = parse(csv.as_bytes(), 0).expect("file");
        assert!(parsed.orders.is_empty());
        assert!(
            parsed
                .problems
                .iter()
                .any(|p| p.line == 3 && p.reason.contains("differs"))
        );
    }
}
