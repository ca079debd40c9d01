//! What a canonical carrier event tells the status engine: its milestone, its
//! exception (with the responsible party) and its estimate, each with the
//! carrier's provenance. Pure.

use super::store::StoredEvent;
use crate::status::{Fact, ParcelEvent, Provenance, Source};

/// The facts of one stored carrier event. An event without a time of its own
/// (an estimate revision) counts from when central recorded it.
pub fn facts(stored: &StoredEvent) -> Vec<ParcelEvent> {
    let e = &stored.event;
    let at = |fact| ParcelEvent {
        fact,
        event_time_ms: e.event_time_ms.unwrap_or(stored.recorded_ms),
        offset_minutes: e.offset_minutes.unwrap_or(0),
        record_time_ms: stored.recorded_ms,
        provenance: Provenance {
            source: Source::Carrier,
            actor: if e.carrier.is_empty() {
                e.provider.as_str().to_string()
            } else {
                format!("{}/{}", e.provider, e.carrier)
            },
            event_id: e.event_key.clone(),
            evidence: format!("carrier-webhook/{}", stored.webhook_id),
        },
    };
    let mut out = Vec::new();
    if let Some(milestone) = e.milestone {
        let detail = e
            .location
            .as_ref()
            .map(|l| {
                [&l.city, &l.state, &l.country]
                    .into_iter()
                    .filter_map(|v| v.as_deref())
                    .filter(|v| !v.is_empty())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .filter(|s| !s.is_empty())
            .or_else(|| (!e.description.is_empty()).then(|| e.description.clone()));
        out.push(at(Fact::Reached { milestone, detail }));
    }
    if let Some(x) = &e.exception {
        out.push(at(Fact::Exception {
            reason: x.reason.clone(),
            party: x.party,
        }));
    }
    if let Some((from_ms, to_ms)) = e.estimated_delivery.as_ref().and_then(|x| x.window_ms()) {
        out.push(at(Fact::Estimate { from_ms, to_ms }));
    }
    out
}
