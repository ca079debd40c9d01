//! One site event as an EPCIS 2.0 event, and events as the documents the
//! JSON schema describes: `EPCISQueryDocument` (what `GET /events` answers)
//! and `EPCISDocument` (a capture document, for files).

use chrono::{DateTime, FixedOffset, Offset, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use waymark_proto::v1::{Event, EventKind, IdentifierKind};

use super::{uri, vocab};

/// The context every document names; `waymark:` prefixes our extension fields.
pub const GS1_CONTEXT: &str = "https://ref.gs1.org/standards/epcis/epcis-context.jsonld";
pub const SCHEMA_VERSION: &str = "2.0";
/// The standard query whose results a REST `/events` answer carries.
pub const QUERY_NAME: &str = "SimpleEventQuery";

/// The latest instant whose local time at any offset still has a 4-digit
/// year (9999-12-31T23:59:59.999Z less 14 hours), as RFC 3339 requires.
const MAX_TIME_MS: i64 = 253_402_300_799_999 - 14 * 3_600_000;
/// The largest zone offset EPCIS allows (±14:00).
const MAX_OFFSET_MINUTES: i32 = 14 * 60;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Object,
    Aggregation,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Object => "ObjectEvent",
            Self::Aggregation => "AggregationEvent",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Observe,
    Add,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Observe => "OBSERVE",
            Self::Add => "ADD",
        }
    }
}

/// A site event in EPCIS terms: what a query filters on and what is written out.
#[derive(Debug, Clone, PartialEq)]
pub struct EpcisEvent {
    pub event_type: EventType,
    pub action: Action,
    pub event_time_ms: i64,
    /// Within ±14:00; an event outside that is written in UTC.
    pub offset_minutes: i32,
    pub record_time_ms: Option<i64>,
    pub event_id: String,
    /// ObjectEvent: every object the event names, without repeats.
    pub epc_list: Vec<String>,
    /// AggregationEvent: the parcel (an SSCC) and what is in it.
    pub parent_id: Option<String>,
    pub child_epcs: Vec<String>,
    pub biz_step: Option<String>,
    pub disposition: Option<String>,
    pub read_point: Option<String>,
    pub biz_location: Option<String>,
    /// (type, URI): the order as a purchase order, carrier tracking numbers.
    pub biz_transactions: Vec<(&'static str, String)>,
    /// Waymark's own fields, under the `waymark:` prefix.
    pub extensions: Map<String, Value>,
}

/// The bizTransaction type of a carrier's tracking number: CBV has none.
pub const TRACKING_TRANSACTION: &str = "urn:waymark:epcis:btt:tracking_number";

impl EpcisEvent {
    /// The EPCIS view of `e`. Never fails: values EPCIS has no place for
    /// become Waymark URIs or extension fields, so every stored event exports.
    pub fn from_event(e: &Event) -> Self {
        let mut objects = Vec::new();
        let mut transactions = Vec::new();
        let order = |n: &str| ("po", uri::waymark(&["order", n]));
        if !e.order_number.is_empty() {
            transactions.push(order(&e.order_number));
        }
        for i in &e.identifiers {
            let kind = i.kind();
            match kind {
                IdentifierKind::OrderNumber if !i.value.is_empty() => transactions.push(order(&i.value)),
                IdentifierKind::TrackingNumber if !i.value.is_empty() => {
                    transactions.push((TRACKING_TRANSACTION, uri::waymark(&["tracking", &i.value])));
                }
                _ => objects.extend(uri::object(kind, &i.value).map(|u| (kind, u))),
            }
        }
        dedup(&mut transactions);
        let biz_step = vocab::biz_step(&e.business_step);
        let (event_type, action, epc_list, parent_id, child_epcs) = match aggregation(e, &objects) {
            Some((parent, children)) => {
                // Packing puts the contents into the parcel; any other step
                // observes the parcel with its contents.
                let action = if biz_step.as_deref() == Some("packing") {
                    Action::Add
                } else {
                    Action::Observe
                };
                (EventType::Aggregation, action, Vec::new(), Some(parent), children)
            }
            None => {
                let mut list: Vec<String> = objects.into_iter().map(|(_, u)| u).collect();
                dedup(&mut list);
                (EventType::Object, Action::Observe, list, None, Vec::new())
            }
        };
        let offset_minutes = if e.event_time_offset_minutes.abs() <= MAX_OFFSET_MINUTES {
            e.event_time_offset_minutes
        } else {
            0
        };
        Self {
            event_type,
            action,
            event_time_ms: e.event_time_ms.clamp(0, MAX_TIME_MS),
            offset_minutes,
            record_time_ms: (e.record_time_ms > 0).then(|| e.record_time_ms.min(MAX_TIME_MS)),
            event_id: uri::event_id(&e.site_id, &e.event_id),
            epc_list,
            parent_id,
            child_epcs,
            biz_step,
            disposition: vocab::disposition(&e.disposition),
            read_point: uri::read_point(&e.site_id, &e.read_point),
            biz_location: (!e.site_id.is_empty()).then(|| uri::site(&e.site_id)),
            biz_transactions: transactions,
            extensions: extensions(e),
        }
    }

    /// The event as a JSON-LD object of the EPCIS 2.0 schema.
    pub fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("type".into(), self.event_type.as_str().into());
        o.insert("eventID".into(), self.event_id.clone().into());
        o.insert("action".into(), self.action.as_str().into());
        o.insert(
            "eventTime".into(),
            format_time(self.event_time_ms, self.offset_minutes).into(),
        );
        o.insert("eventTimeZoneOffset".into(), format_offset(self.offset_minutes).into());
        if let Some(t) = self.record_time_ms {
            o.insert("recordTime".into(), format_time(t, 0).into());
        }
        match self.event_type {
            EventType::Object => {
                o.insert("epcList".into(), json!(self.epc_list));
            }
            EventType::Aggregation => {
                o.insert("parentID".into(), json!(self.parent_id));
                o.insert("childEPCs".into(), json!(self.child_epcs));
            }
        }
        let mut put = |k: &str, v: &Option<String>| {
            if let Some(v) = v {
                o.insert(k.into(), v.clone().into());
            }
        };
        put("bizStep", &self.biz_step);
        put("disposition", &self.disposition);
        let id = |v: &Option<String>| v.as_ref().map(|id| json!({ "id": id }));
        if let Some(rp) = id(&self.read_point) {
            o.insert("readPoint".into(), rp);
        }
        if let Some(loc) = id(&self.biz_location) {
            o.insert("bizLocation".into(), loc);
        }
        if !self.biz_transactions.is_empty() {
            let list: Vec<Value> = self
                .biz_transactions
                .iter()
                .map(|(t, bt)| json!({ "type": t, "bizTransaction": bt }))
                .collect();
            o.insert("bizTransactionList".into(), list.into());
        }
        for (k, v) in &self.extensions {
            o.insert(k.clone(), v.clone());
        }
        Value::Object(o)
    }

    /// Every object URI the event names (`epcList`, `childEPCs`), and with
    /// `parent` also its `parentID`: what `MATCH_epc` / `MATCH_anyEPC` look at.
    pub fn objects(&self, parent: bool) -> impl Iterator<Item = &str> {
        self.epc_list
            .iter()
            .chain(&self.child_epcs)
            .chain(self.parent_id.iter().filter(move |_| parent))
            .map(String::as_str)
    }
}

/// An event is an aggregation when it names exactly one parcel SSCC and, with
/// it, at least one other EPC (the parcel's contents read with its label, as a
/// packing station does), and nothing else. Exceptions stay ObjectEvents: they
/// report what was seen, not a claim about containment.
fn aggregation(e: &Event, objects: &[(IdentifierKind, String)]) -> Option<(String, Vec<String>)> {
    if e.kind() == EventKind::Exception {
        return None;
    }
    let (parents, others): (Vec<_>, Vec<_>) = objects.iter().partition(|(_, u)| uri::is_sscc(u));
    let mut parents: Vec<&String> = parents.iter().map(|(_, u)| u).collect();
    dedup(&mut parents);
    let [parent] = parents.as_slice() else {
        return None;
    };
    if others.is_empty() || others.iter().any(|(k, _)| *k != IdentifierKind::Epc) {
        return None;
    }
    let mut children: Vec<String> = others.into_iter().map(|(_, u)| u.clone()).collect();
    dedup(&mut children);
    Some(((*parent).clone(), children))
}

fn extensions(e: &Event) -> Map<String, Value> {
    let mut m = Map::new();
    let kind = match e.kind() {
        EventKind::Observation => "observation",
        EventKind::Milestone => "milestone",
        EventKind::Exception => "exception",
        EventKind::Unspecified => "unspecified",
    };
    m.insert("waymark:eventKind".into(), kind.into());
    m.insert("waymark:sequence".into(), e.sequence.into());
    for (k, v) in [
        ("waymark:milestone", &e.milestone),
        ("waymark:exception", &e.exception),
        ("waymark:missingMilestone", &e.missing_milestone),
        ("waymark:parcelId", &e.parcel_id),
        ("waymark:deviceId", &e.device_id),
        ("waymark:direction", &e.direction),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), v.clone().into());
        }
    }
    if e.antenna > 0 {
        m.insert("waymark:antenna".into(), e.antenna.into());
    }
    if e.late {
        m.insert("waymark:late".into(), true.into());
    }
    if e.rematched {
        m.insert("waymark:rematched".into(), true.into());
    }
    if !e.resolves_event_ids.is_empty() {
        let ids: Vec<String> = e
            .resolves_event_ids
            .iter()
            .map(|id| uri::event_id(&e.site_id, id))
            .collect();
        m.insert("waymark:resolves".into(), json!(ids));
    }
    m
}

fn dedup<T: PartialEq>(v: &mut Vec<T>) {
    let mut seen: Vec<T> = Vec::with_capacity(v.len());
    for x in v.drain(..) {
        if !seen.contains(&x) {
            seen.push(x);
        }
    }
    *v = seen;
}

/// RFC 3339 with milliseconds, in the zone `offset_minutes` east of UTC.
pub fn format_time(ms: i64, offset_minutes: i32) -> String {
    let ms = ms.clamp(0, MAX_TIME_MS);
    let offset = FixedOffset::east_opt(offset_minutes.clamp(-MAX_OFFSET_MINUTES, MAX_OFFSET_MINUTES) * 60)
        .unwrap_or_else(|| Utc.fix());
    DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .with_timezone(&offset)
        .to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// `+hh:mm` / `-hh:mm`.
pub fn format_offset(offset_minutes: i32) -> String {
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let m = offset_minutes.unsigned_abs();
    format!("{sign}{:02}:{:02}", m / 60, m % 60)
}

/// The `@context` of every document: GS1's, and our prefix.
pub fn context() -> Value {
    json!([GS1_CONTEXT, { "waymark": uri::WAYMARK_NS }])
}

/// The answer to an EPCIS query: `EPCISQueryDocument` with `events` as the
/// results of a `SimpleEventQuery`, created at `creation_ms`.
pub fn query_document(events: &[EpcisEvent], creation_ms: i64) -> Value {
    json!({
        "@context": context(),
        "type": "EPCISQueryDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": format_time(creation_ms, 0),
        "epcisBody": {
            "queryResults": {
                "queryName": QUERY_NAME,
                "resultsBody": { "eventList": event_list(events) }
            }
        }
    })
}

/// A capture document (`EPCISDocument`) of `events`, created at `creation_ms`.
pub fn capture_document(events: &[EpcisEvent], creation_ms: i64) -> Value {
    json!({
        "@context": context(),
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": format_time(creation_ms, 0),
        "epcisBody": { "eventList": event_list(events) }
    })
}

fn event_list(events: &[EpcisEvent]) -> Vec<Value> {
    events.iter().map(EpcisEvent::to_json).collect()
}
