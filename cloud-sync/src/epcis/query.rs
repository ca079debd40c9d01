//! The query parameters of the EPCIS 2.0 REST bindings that fit Waymark's
//! events, parsed strictly (an unknown or malformed parameter is refused, all
//! problems named at once), and the opaque page token.

use chrono::DateTime;
use waymark_devices::epc;

use super::document::EpcisEvent;
use super::{uri, vocab};

/// `perPage` when the client names none (the bindings' default).
pub const DEFAULT_PER_PAGE: usize = 30;
/// The largest page served; a larger `perPage` is served this many (the
/// bindings let a server cap it).
pub const MAX_PER_PAGE: usize = 1000;

/// Parameters of the bindings' `/events` that this repository does not
/// evaluate: refused by name rather than silently ignored.
const UNSUPPORTED: &[&str] = &[
    "EQ_persistentDisposition_set",
    "EQ_persistentDisposition_unset",
    "WD_readPoint",
    "WD_bizLocation",
    "EQ_transformationID",
    "MATCH_parentID",
    "MATCH_inputEPC",
    "MATCH_outputEPC",
    "MATCH_epcClass",
    "MATCH_inputEPCClass",
    "MATCH_outputEPCClass",
    "MATCH_anyEPCClass",
    "EQ_quantity",
    "GT_quantity",
    "GE_quantity",
    "LT_quantity",
    "LE_quantity",
    "EXISTS_errorDeclaration",
    "GE_errorDeclarationTime",
    "LT_errorDeclarationTime",
    "EQ_errorReason",
    "EQ_correctiveEventID",
    "orderBy",
    "orderDirection",
    "eventCountLimit",
    "maxEventCount",
];

/// A half-open range `[ge, lt)` of unix milliseconds; either end may be open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TimeRange {
    pub ge: Option<i64>,
    pub lt: Option<i64>,
}

impl TimeRange {
    fn contains(&self, ms: i64) -> bool {
        self.ge.is_none_or(|ge| ms >= ge) && self.lt.is_none_or(|lt| ms < lt)
    }
}

/// Where the previous page ended: the store's order is (site, event time, event id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageToken {
    pub site_id: String,
    pub event_time_ms: i64,
    pub event_id: String,
}

impl PageToken {
    /// Opaque to clients: hex of the position, versioned.
    pub fn encode(&self) -> String {
        let raw = format!("v1\x1f{}\x1f{}\x1f{}", self.site_id, self.event_time_ms, self.event_id);
        waymark_proto::hex(raw.as_bytes())
    }

    pub fn decode(token: &str) -> Option<Self> {
        if token.len() > 512 || !token.len().is_multiple_of(2) {
            return None;
        }
        let bytes = (0..token.len())
            .step_by(2)
            .map(|i| token.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
            .collect::<Option<Vec<u8>>>()?;
        let raw = String::from_utf8(bytes).ok()?;
        let mut parts = raw.splitn(4, '\x1f');
        if parts.next()? != "v1" {
            return None;
        }
        Some(Self {
            site_id: parts.next()?.to_string(),
            event_time_ms: parts.next()?.parse().ok()?,
            event_id: parts.next()?.to_string(),
        })
    }
}

/// A parsed `/events` query. `None` for a filter means "any".
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    pub event_types: Option<Vec<String>>,
    /// Evaluated by the store, on the indexed event time.
    pub event_time: TimeRange,
    pub record_time: TimeRange,
    pub actions: Option<Vec<&'static str>>,
    pub biz_steps: Option<Vec<String>>,
    pub dispositions: Option<Vec<String>>,
    pub read_points: Option<Vec<String>>,
    pub biz_locations: Option<Vec<String>>,
    pub match_epc: Option<Vec<String>>,
    pub match_any_epc: Option<Vec<String>>,
    pub event_ids: Option<Vec<String>>,
    pub per_page: usize,
    pub after: Option<PageToken>,
}

impl EventQuery {
    /// Parses the query string's pairs; the error names every problem.
    pub fn parse(params: &[(String, String)]) -> Result<Self, String> {
        let mut q = Self {
            per_page: DEFAULT_PER_PAGE,
            ..Self::default()
        };
        let mut problems = Vec::new();
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in params {
            if seen.contains(&name.as_str()) {
                problems.push(format!("`{name}` is given twice; list values as a|b"));
                continue;
            }
            seen.push(name);
            if let Err(p) = q.set(name, value) {
                problems.push(p);
            }
        }
        if problems.is_empty() {
            Ok(q)
        } else {
            Err(problems.join("; "))
        }
    }

    fn set(&mut self, name: &str, value: &str) -> Result<(), String> {
        let uris = || uri_list(name, value);
        match name {
            "eventType" => self.event_types = Some(list(name, value)?.into_iter().map(str::to_string).collect()),
            "GE_eventTime" => self.event_time.ge = Some(time(name, value)?),
            "LT_eventTime" => self.event_time.lt = Some(time(name, value)?),
            "GE_recordTime" => self.record_time.ge = Some(time(name, value)?),
            "LT_recordTime" => self.record_time.lt = Some(time(name, value)?),
            "EQ_action" => {
                let actions = list(name, value)?
                    .into_iter()
                    .map(|a| match a {
                        "OBSERVE" => Ok("OBSERVE"),
                        "ADD" => Ok("ADD"),
                        "DELETE" => Ok("DELETE"),
                        other => Err(format!("EQ_action: `{}` is not ADD, OBSERVE or DELETE", clip(other))),
                    })
                    .collect::<Result<_, _>>()?;
                self.actions = Some(actions);
            }
            "EQ_bizStep" => self.biz_steps = Some(list(name, value)?.into_iter().filter_map(vocab::biz_step).collect()),
            "EQ_disposition" => {
                self.dispositions = Some(list(name, value)?.into_iter().filter_map(vocab::disposition).collect());
            }
            "EQ_readPoint" => self.read_points = Some(uris()?),
            "EQ_bizLocation" => self.biz_locations = Some(uris()?),
            "MATCH_epc" => self.match_epc = Some(uris()?),
            "MATCH_anyEPC" => self.match_any_epc = Some(uris()?),
            "EQ_eventID" => self.event_ids = Some(uris()?),
            "perPage" => {
                let n: usize = value
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("perPage: `{}` is not a positive integer", clip(value)))?;
                self.per_page = n.min(MAX_PER_PAGE);
            }
            "nextPageToken" => {
                self.after = Some(
                    PageToken::decode(value)
                        .ok_or_else(|| "nextPageToken: not a token this server issued".to_string())?,
                );
            }
            n if UNSUPPORTED.contains(&n) => return Err(format!("`{n}` is not supported by this repository")),
            n => return Err(format!("unknown query parameter `{}`", clip(n))),
        }
        Ok(())
    }

    /// The sites `EQ_bizLocation` confines the query to, sorted; `None` for all.
    /// A location that is not a Waymark site matches no event.
    pub fn sites(&self) -> Option<Vec<String>> {
        let mut sites: Vec<String> = self
            .biz_locations
            .as_ref()?
            .iter()
            .filter_map(|l| uri::site_of(l))
            .collect();
        sites.sort();
        sites.dedup();
        Some(sites)
    }

    /// Whether `e` passes every filter but the event time (the store's).
    pub fn matches(&self, e: &EpcisEvent) -> bool {
        let any = |filter: &Option<Vec<String>>, v: Option<&str>| {
            filter
                .as_ref()
                .is_none_or(|f| v.is_some_and(|v| f.iter().any(|x| x == v)))
        };
        any(&self.event_types, Some(e.event_type.as_str()))
            && self.actions.as_ref().is_none_or(|a| a.contains(&e.action.as_str()))
            && (self.record_time == TimeRange::default()
                || e.record_time_ms.is_some_and(|t| self.record_time.contains(t)))
            && any(&self.biz_steps, e.biz_step.as_deref())
            && any(&self.dispositions, e.disposition.as_deref())
            && any(&self.read_points, e.read_point.as_deref())
            && any(&self.biz_locations, e.biz_location.as_deref())
            && any(&self.event_ids, Some(&e.event_id))
            && self
                .match_epc
                .as_ref()
                .is_none_or(|m| e.objects(false).any(|o| m.iter().any(|p| epc_matches(p, o))))
            && self
                .match_any_epc
                .as_ref()
                .is_none_or(|m| e.objects(true).any(|o| m.iter().any(|p| epc_matches(p, o))))
    }
}

/// EPCIS 2.0 §8.2.7.1.1: the same URI, or a pattern (`urn:epc:idpat:`) whose
/// fields are equal or `*`. An SSCC matches in its EPC URN and its GS1
/// Digital Link forms alike.
pub fn epc_matches(pattern: &str, object: &str) -> bool {
    if let Some(pat) = pattern.strip_prefix("urn:epc:idpat:") {
        let Some(id) = object.strip_prefix("urn:epc:id:") else {
            return false;
        };
        let (Some((ps, pf)), Some((is, ifs))) = (pat.split_once(':'), id.split_once(':')) else {
            return false;
        };
        let (pf, ifs): (Vec<&str>, Vec<&str>) = (pf.split('.').collect(), ifs.split('.').collect());
        return ps == is && pf.len() == ifs.len() && pf.iter().zip(&ifs).all(|(p, i)| *p == "*" || p == i);
    }
    pattern == object || canonical_sscc(pattern).is_some_and(|p| Some(p) == canonical_sscc(object))
}

/// The 18 digits of an SSCC URI in either form.
fn canonical_sscc(u: &str) -> Option<String> {
    if let Some(digits) = u.strip_prefix("https://id.gs1.org/00/") {
        return Some(digits.to_string());
    }
    u.starts_with("urn:epc:id:sscc:")
        .then(|| epc::parse_urn(u, 0).ok())
        .flatten()
        .map(|e| e.gs1_key().value)
}

/// A pipe-delimited list of one or more non-empty values.
fn list<'v>(name: &str, value: &'v str) -> Result<Vec<&'v str>, String> {
    let items: Vec<&str> = value.split('|').collect();
    if items.iter().any(|i| i.is_empty()) {
        return Err(format!("{name}: values must be non-empty, separated by |"));
    }
    Ok(items)
}

fn uri_list(name: &str, value: &str) -> Result<Vec<String>, String> {
    list(name, value)?
        .into_iter()
        .map(|u| {
            if uri::is_plain_uri(u) {
                Ok(u.to_string())
            } else {
                Err(format!("{name}: `{}` is not a URI", clip(u)))
            }
        })
        .collect()
}

/// An RFC 3339 date-time with its offset. A `+` left unencoded in a URL
/// arrives as a space; read it as the `+` it was.
fn time(name: &str, value: &str) -> Result<i64, String> {
    DateTime::parse_from_rfc3339(value)
        .or_else(|e| {
            if value.contains(' ') {
                DateTime::parse_from_rfc3339(&value.replace(' ', "+"))
            } else {
                Err(e)
            }
        })
        .map(|t| t.timestamp_millis())
        .map_err(|_| {
            format!(
                "{name}: `{}` is not an RFC 3339 date-time such as 2026-12-03T00:00:00.000+01:00",
                clip(value)
            )
        })
}

/// Echoed input is cut short: no query makes an error message large.
fn clip(s: &str) -> String {
    s.chars().take(80).collect()
}
