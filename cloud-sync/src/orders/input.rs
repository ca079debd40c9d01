//! What a merchant system submits, checked field by field into an
//! [`OrderRecord`]. Every problem is reported at once, each with the path of
//! the field, so an integration can fix them in one go. The shape orders had
//! before shipments (`site_id` + `parcels`) is still accepted, as an order of
//! one shipment.

use serde::{Deserialize, Serialize};

use super::model::{
    Customer, DEFAULT_ORDER_TYPE, Item, OrderRecord, ParcelRecord, Promise, ShipmentRecord, parcel_id, shipment_id,
};
use crate::identifier::{self, Refusal};
use crate::identity::valid_site;

pub const MAX_PARCELS: usize = 1000;
pub const MAX_SHIPMENTS: usize = 100;
pub const MAX_ITEMS: usize = 1000;
pub const MAX_TEXT: usize = identifier::MAX_IDENTIFIER;

/// An order in one of two shapes: `shipments`, or (the shape before
/// shipments) `site_id` with `parcels`, an order of one shipment.
#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OrderBody {
    #[schema(pattern = r"^[^\s\x00-\x1f\x7f]{1,128}$")]
    pub order_number: String,
    /// The merchant's revision of the order; an update needs a newer one. 1 when absent.
    #[serde(default)]
    pub revision: Option<u64>,
    /// `routine` when absent; e.g. `high_value`, `b2b`.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    pub order_type: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub customer: Option<Customer>,
    #[serde(default)]
    pub shipments: Option<Vec<ShipmentBody>>,
    /// One-shipment shape: the site that ships every parcel.
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub site_id: Option<String>,
    /// One-shipment shape: the parcels.
    #[serde(default)]
    pub parcels: Option<Vec<ParcelBody>>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShipmentBody {
    #[serde(default)]
    pub shipment_id: Option<String>,
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub site_id: String,
    #[serde(default)]
    #[schema(pattern = "^[a-z0-9_-]{1,32}$")]
    pub carrier: Option<String>,
    #[serde(default)]
    pub service_level: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub promised_delivery: Option<PromiseBody>,
    pub parcels: Vec<ParcelBody>,
}

/// `"2026-12-10"`, or `{"earliest": "2026-12-10", "latest": "2026-12-12"}`.
#[derive(Debug, Clone, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PromiseBody {
    Date(String),
    Range { earliest: String, latest: String },
}

#[derive(Debug, Clone, Default, Deserialize, Serialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ParcelBody {
    #[serde(default)]
    pub parcel_id: Option<String>,
    #[serde(default)]
    pub sscc: Option<String>,
    #[serde(default)]
    pub epc: Option<String>,
    #[serde(default)]
    pub tracking_number: Option<String>,
    #[serde(default)]
    pub items: Vec<Item>,
}

/// Problems found in one submission, each prefixed with its field's path.
#[derive(Debug, Default)]
pub struct Problems {
    pub list: Vec<String>,
    /// The first invisible or bidirectional-control character met, if any.
    pub hidden: Option<char>,
}

impl Problems {
    fn check(&mut self, ok: bool, problem: impl FnOnce() -> String) {
        if !ok {
            self.list.push(problem());
        }
    }

    fn push(&mut self, problem: String) {
        self.list.push(problem);
    }

    /// An identifier field ([`identifier::check`]): a hidden character is
    /// named by its code point.
    fn identifier(&mut self, field: &str, value: &str) {
        if let Err(refusal) = identifier::check(value) {
            self.refused(field, refusal, "printable characters without spaces", MAX_TEXT);
        }
    }

    /// A text field of at most `max` bytes ([`identifier::check_text`]).
    fn text(&mut self, field: &str, value: &str, max: usize) {
        if let Err(refusal) = identifier::check_text(value, max) {
            self.refused(field, refusal, "printable characters", max);
        }
    }

    fn refused(&mut self, field: &str, refusal: Refusal, alphabet: &str, max: usize) {
        if let Refusal::Hidden(c) = refusal {
            self.hidden.get_or_insert(c);
            self.push(format!("{field} {refusal}"));
        } else {
            self.push(format!("{field} must be 1-{max} {alphabet}"));
        }
    }

    /// The metrics reason for refusing the whole submission.
    pub fn reason(&self) -> &'static str {
        if self.hidden.is_some() {
            "hidden_character"
        } else {
            "invalid_field"
        }
    }
}

/// An identifier: see [`identifier::check`].
pub fn plain_text(s: &str) -> bool {
    identifier::check(s).is_ok()
}

fn token(s: &str) -> bool {
    (1..=32).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

fn email(s: &str) -> bool {
    s.len() <= 254
        && plain_text(s)
        && s.split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && domain.contains('.') && !domain.contains('@'))
}

fn phone(s: &str) -> bool {
    let digits = s.chars().filter(char::is_ascii_digit).count();
    (5..=20).contains(&digits) && s.len() <= 32 && s.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c))
}

fn time_zone(s: &str) -> bool {
    (1..=64).contains(&s.len()) && s.chars().all(|c| c.is_ascii_alphanumeric() || "/_+-".contains(c))
}

fn language(s: &str) -> bool {
    let mut parts = s.split('-');
    let first = parts.next().unwrap_or_default();
    (2..=3).contains(&first.len())
        && first.chars().all(|c| c.is_ascii_alphabetic())
        && parts.all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()))
}

fn date(s: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

impl PromiseBody {
    fn check(self, at: &str, problems: &mut Problems) -> Option<Promise> {
        let (earliest, latest) = match self {
            Self::Date(d) => (d.clone(), d),
            Self::Range { earliest, latest } => (earliest, latest),
        };
        let (Some(from), Some(to)) = (date(&earliest), date(&latest)) else {
            problems
                .list
                .push(format!("{at}: dates must be YYYY-MM-DD (got `{earliest}`, `{latest}`)"));
            return None;
        };
        problems.check(from <= to, || format!("{at}: earliest is after latest"));
        // Stored zero-padded, whatever the input's padding.
        Some(Promise {
            earliest: from.format("%Y-%m-%d").to_string(),
            latest: to.format("%Y-%m-%d").to_string(),
        })
    }
}

impl OrderBody {
    /// The order as stored, or every problem with it.
    pub fn check(self, now_ms: i64) -> Result<OrderRecord, Problems> {
        let mut p = Problems::default();
        let number = self.order_number.clone();
        p.identifier("order_number", &number);
        let order_type = self.order_type.unwrap_or_else(|| DEFAULT_ORDER_TYPE.to_string());
        p.check(token(&order_type), || {
            "order_type must be 1-32 characters of a-z, 0-9, '_' or '-' (e.g. routine, high_value, b2b)".into()
        });
        if let Some(brand) = &self.brand {
            p.text("brand", brand, MAX_TEXT);
        }
        let customer = self.customer.unwrap_or_default();
        check_customer(&customer, &mut p);
        p.check(self.revision != Some(0), || "revision starts at 1".into());
        let shipments = match (self.shipments, self.site_id, self.parcels) {
            (Some(shipments), None, None) => shipments,
            (None, Some(site_id), Some(parcels)) => vec![ShipmentBody {
                site_id,
                parcels,
                ..ShipmentBody::default()
            }],
            _ => {
                p.push("give either `shipments`, or `site_id` with `parcels` (an order of one shipment)".into());
                Vec::new()
            }
        };
        p.check(shipments.len() <= MAX_SHIPMENTS, || {
            format!("shipments: at most {MAX_SHIPMENTS}")
        });
        let total: usize = shipments.iter().map(|s| s.parcels.len()).sum();
        p.check(total <= MAX_PARCELS, || {
            format!("an order holds at most {MAX_PARCELS} parcels")
        });
        let mut parcel_n = 0;
        let shipments: Vec<ShipmentRecord> = shipments
            .into_iter()
            .enumerate()
            .map(|(si, s)| check_shipment(&number, si, s, &mut parcel_n, &mut p))
            .collect();
        let record = OrderRecord {
            order_number: number,
            revision: self.revision.unwrap_or(1),
            order_type,
            brand: self.brand,
            customer,
            shipments,
            cancelled: false,
            created_ms: now_ms,
            updated_ms: now_ms,
        };
        check_unique(&record, &mut p);
        if p.list.is_empty() { Ok(record) } else { Err(p) }
    }
}

fn check_customer(c: &Customer, p: &mut Problems) {
    let field = |v: &Option<String>, ok: fn(&str) -> bool| v.as_deref().is_none_or(ok);
    p.check(field(&c.email, email), || {
        "customer.email is not an email address".into()
    });
    p.check(field(&c.phone, phone), || {
        "customer.phone must be 5-20 digits, optionally with + - ( ) . or spaces".into()
    });
    if let Some(postal_code) = &c.postal_code {
        p.text("customer.postal_code", postal_code, 16);
    }
    p.check(field(&c.time_zone, time_zone), || {
        "customer.time_zone must be an IANA zone name such as Europe/Berlin".into()
    });
    p.check(field(&c.language, language), || {
        "customer.language must be a language tag such as en or de-AT".into()
    });
}

fn check_shipment(order: &str, si: usize, s: ShipmentBody, parcel_n: &mut usize, p: &mut Problems) -> ShipmentRecord {
    let at = format!("shipments[{si}]");
    p.check(valid_site(&s.site_id), || {
        format!("{at}.site_id must be 1-64 characters of a-z, 0-9, '-' or '_'")
    });
    if let Some(id) = &s.shipment_id {
        p.identifier(&format!("{at}.shipment_id"), id);
    }
    if let Some(c) = &s.carrier {
        p.check(token(c), || {
            format!("{at}.carrier must be 1-32 characters of a-z, 0-9, '_' or '-' (e.g. ups, dhl)")
        });
    }
    if let Some(l) = &s.service_level {
        p.text(&format!("{at}.service_level"), l, MAX_TEXT);
    }
    if let Some(t) = &s.tracking_number {
        p.identifier(&format!("{at}.tracking_number"), t);
    }
    let promised_delivery = s
        .promised_delivery
        .and_then(|d| d.check(&format!("{at}.promised_delivery"), p));
    p.check(!s.parcels.is_empty(), || {
        format!("{at}.parcels must hold at least one parcel")
    });
    let parcels = s
        .parcels
        .into_iter()
        .enumerate()
        .map(|(pi, parcel)| {
            *parcel_n += 1;
            check_parcel(order, &format!("{at}.parcels[{pi}]"), *parcel_n, parcel, p)
        })
        .collect();
    ShipmentRecord {
        shipment_id: s.shipment_id.unwrap_or_else(|| shipment_id(order, si + 1)),
        site_id: s.site_id,
        carrier: s.carrier,
        service_level: s.service_level,
        tracking_number: s.tracking_number,
        promised_delivery,
        parcels,
        cancelled: false,
    }
}

fn check_parcel(order: &str, at: &str, n: usize, b: ParcelBody, p: &mut Problems) -> ParcelRecord {
    let ids = [
        ("parcel_id", &b.parcel_id),
        ("sscc", &b.sscc),
        ("tracking_number", &b.tracking_number),
        ("epc", &b.epc),
    ];
    for (name, id) in ids {
        if let Some(id) = id {
            p.identifier(&format!("{at}.{name}"), id);
        }
    }
    p.check(
        b.sscc.is_some() || b.tracking_number.is_some() || b.epc.is_some(),
        || format!("{at}: needs at least one of sscc, tracking_number, epc"),
    );
    if let Some(sscc) = b.sscc.as_ref().filter(|s| !waymark_devices::gs1::is_valid_sscc(s)) {
        p.push(format!("{at}.sscc: `{sscc}` is not 18 digits with a valid check digit"));
    }
    p.check(b.items.len() <= MAX_ITEMS, || {
        format!("{at}.items: at most {MAX_ITEMS}")
    });
    for (ii, item) in b.items.iter().enumerate() {
        if item.sku.len() > 64 {
            p.push(format!(
                "{at}.items[{ii}].sku must be 1-64 printable characters without spaces"
            ));
        } else {
            p.identifier(&format!("{at}.items[{ii}].sku"), &item.sku);
        }
        p.check(item.quantity >= 1, || {
            format!("{at}.items[{ii}].quantity must be at least 1")
        });
    }
    ParcelRecord {
        parcel_id: b.parcel_id.unwrap_or_else(|| parcel_id(order, n)),
        sscc: b.sscc,
        epc: b.epc,
        tracking_number: b.tracking_number,
        items: b.items,
    }
}

/// Shipment ids, parcel ids and identifiers each name one thing.
fn check_unique(order: &OrderRecord, p: &mut Problems) {
    let mut seen = std::collections::HashSet::new();
    for s in &order.shipments {
        p.check(seen.insert(("shipment", s.shipment_id.as_str())), || {
            format!("shipment_id `{}` appears twice", s.shipment_id)
        });
    }
    for (_, parcel) in order.parcels() {
        p.check(seen.insert(("parcel", parcel.parcel_id.as_str())), || {
            format!("parcel_id `{}` appears twice", parcel.parcel_id)
        });
    }
    let mut idents = std::collections::HashMap::new();
    for s in &order.shipments {
        // A shipment's tracking number may also be its only parcel's.
        let own: std::collections::HashSet<&str> = s.parcels.iter().flat_map(ParcelRecord::identifiers).collect();
        for id in s
            .tracking_number
            .as_deref()
            .filter(|t| !own.contains(t))
            .into_iter()
            .chain(own.iter().copied())
        {
            *idents.entry(id).or_insert(0) += 1;
        }
        for parcel in &s.parcels {
            let mut mine: Vec<&str> = parcel.identifiers().collect();
            mine.sort_unstable();
            mine.dedup();
            p.check(mine.len() == parcel.identifiers().count(), || {
                format!("parcel `{}` names the same identifier twice", parcel.parcel_id)
            });
        }
    }
    let mut twice: Vec<&str> = idents.into_iter().filter(|(_, n)| *n > 1).map(|(id, _)| id).collect();
    twice.sort_unstable();
    for id in twice {
        p.push(format!("identifier `{id}` names more than one parcel"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: serde_json::Value) -> OrderBody {
        serde_json::from_value(json).expect("shape")
    }

    #[test]
    fn the_one_shipment_shape_is_still_an_order() {
        let order = body(serde_json::json!({
            "order_number": "SO-1", "site_id": "dc-a",
            "parcels": [{"sscc": "106141412345678908"}, {"tracking_number": "1Z2"}]
        }))
        .check(7)
        .expect("valid");
        assert_eq!(order.shipments.len(), 1);
        assert_eq!(order.shipments[0].shipment_id, "SO-1-S1");
        assert_eq!(order.shipments[0].parcels[1].parcel_id, "SO-1-2");
        assert_eq!(order.order_type, "routine");
        assert_eq!(order.revision, 1);
    }

    #[test]
    fn a_split_order_numbers_parcels_across_shipments() {
        let order = body(serde_json::json!({
            "order_number": "SO-2", "order_type": "b2b", "brand": "Acme Outdoor",
            "customer": {"email": "a@example.com", "phone": "+49 30 1234567", "postal_code": "10115",
                         "time_zone": "Europe/Berlin", "language": "de"},
            "shipments": [
                {"site_id": "dc-a", "carrier": "ups", "tracking_number": "1ZA", "promised_delivery": "2026-12-10",
                 "parcels": [{"sscc": "106141412345678908", "items": [{"sku": "TENT-2", "quantity": 1}]}]},
                {"site_id": "dc-b", "carrier": "dhl", "promised_delivery": {"earliest": "2026-12-10", "latest": "2026-12-12"},
                 "parcels": [{"epc": "urn:epc:id:sgtin:0614141.812345.6789"}]}
            ]
        }))
        .check(7)
        .expect("valid");
        assert_eq!(order.shipments[1].parcels[0].parcel_id, "SO-2-2");
        assert_eq!(order.shipments[1].shipment_id, "SO-2-S2");
        let promise = order.shipments[0].promised_delivery.as_ref().expect("promise");
        assert_eq!(promise.earliest, promise.latest);
        assert_eq!(order.identifiers().count(), 3);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let problems = body(serde_json::json!({
            "order_number": "SO 3", "customer": {"email": "nope", "language": "english!"},
            "shipments": [{"site_id": "DC A", "carrier": "UPS", "promised_delivery": "12/10/2026",
                           "parcels": [{"sscc": "123"}, {"items": [{"sku": "A", "quantity": 0}]}]}]
        }))
        .check(0)
        .expect_err("invalid")
        .list;
        let all = problems.join("\n");
        for expected in [
            "order_number",
            "customer.email",
            "customer.language",
            "shipments[0].site_id",
            "shipments[0].carrier",
            "shipments[0].promised_delivery",
            "shipments[0].parcels[0].sscc",
            "shipments[0].parcels[1]: needs at least one of",
            "shipments[0].parcels[1].items[0].quantity",
        ] {
            assert!(all.contains(expected), "missing {expected} in:\n{all}");
        }
    }

    #[test]
    fn one_identifier_cannot_name_two_parcels() {
        let problems = body(serde_json::json!({
            "order_number": "SO-4",
            "shipments": [{"site_id": "a", "parcels": [{"tracking_number": "T1"}]},
                          {"site_id": "b", "parcels": [{"tracking_number": "T1"}]}]
        }))
        .check(0)
        .expect_err("invalid")
        .list;
        assert!(
            problems.iter().any(|p| p.contains("`T1` names more than one parcel")),
            "{problems:?}"
        );
    }

    #[test]
    fn a_hidden_character_is_named_with_its_field_and_code_point() {
        let problems = body(serde_json::json!({
            "order_number": "SO-1\u{200B}001",
            "shipments": [{"site_id": "a", "service_level": "Next\u{202E}Day",
                           "parcels": [{"tracking_number": "1Z\u{FEFF}9"}]}]
        }))
        .check(0)
        .expect_err("invalid");
        assert_eq!(problems.hidden, Some('\u{200B}'));
        assert_eq!(problems.reason(), "hidden_character");
        let all = problems.list.join("\n");
        for expected in [
            "order_number contains U+200B",
            "shipments[0].service_level contains U+202E",
            "shipments[0].parcels[0].tracking_number contains U+FEFF",
        ] {
            assert!(all.contains(expected), "missing {expected} in:\n{all}");
        }
    }

    #[test]
    fn both_shapes_at_once_is_refused() {
        let problems = body(serde_json::json!({
            "order_number": "SO-5", "site_id": "a", "parcels": [{"sscc": "106141412345678908"}], "shipments": []
        }))
        .check(0)
        .expect_err("invalid")
        .list;
        assert!(problems[0].contains("either `shipments`"));
    }
}
