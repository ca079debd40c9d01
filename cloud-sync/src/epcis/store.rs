//! Reading events for an EPCIS query: site by site, in the order of the
//! `events_by_id` index (site, event time, event id), in bounded batches, so a
//! day of a busy site is never held in memory and every page is one index
//! range read from where the last one stopped.

use waymark_proto::v1::Event;

use super::document::EpcisEvent;
use super::query::{PageToken, TimeRange};
use crate::store::{CentralStore, StoreError, Tx};
use crate::timeline::decode_event;

/// Rows read per statement.
const BATCH: usize = 500;
/// Rows one request reads at most: a selective filter over a long range
/// answers a short (even empty) page with a token to go on from, rather than
/// one slow response.
pub const SCAN_BUDGET: usize = 20_000;

/// One page of matching events and where the next begins (`None`: the end).
#[derive(Debug)]
pub struct Page {
    pub events: Vec<EpcisEvent>,
    pub next: Option<PageToken>,
}

const RANGE: &str = "SELECT event_time_ms, event_id, body FROM events \
     WHERE site_id = $1 AND event_time_ms >= $2 AND event_time_ms < $3 \
     ORDER BY event_time_ms, event_id LIMIT $4";
const RANGE_AFTER: &str = "SELECT event_time_ms, event_id, body FROM events \
     WHERE site_id = $1 AND event_time_ms >= $2 AND event_time_ms < $3 \
     AND (event_time_ms > $2 OR event_id > $4) \
     ORDER BY event_time_ms, event_id LIMIT $5";

impl CentralStore {
    /// Up to `want` events with event time in `time`, of `sites` (all when
    /// `None`), after `after`, that `keep` turns into EPCIS events.
    pub fn epcis_page(
        &self,
        sites: Option<&[String]>,
        time: TimeRange,
        after: Option<&PageToken>,
        want: usize,
        keep: &dyn Fn(&Event) -> Option<EpcisEvent>,
    ) -> Result<Page, StoreError> {
        self.read(|tx| scan(tx, sites, time, after, want.max(1), keep, SCAN_BUDGET))
    }
}

fn scan(
    tx: &mut Tx<'_>,
    sites: Option<&[String]>,
    time: TimeRange,
    after: Option<&PageToken>,
    want: usize,
    keep: &dyn Fn(&Event) -> Option<EpcisEvent>,
    budget: usize,
) -> Result<Page, StoreError> {
    let (ge, lt) = (time.ge.unwrap_or(i64::MIN), time.lt.unwrap_or(i64::MAX));
    let mut found: Vec<(PageToken, EpcisEvent)> = Vec::new();
    let mut scanned = 0;
    let mut last: Option<PageToken> = None;
    let (mut site, mut cursor) = match after {
        Some(a) if sites.is_none_or(|s| s.contains(&a.site_id)) => {
            (Some(a.site_id.clone()), Some((a.event_time_ms, a.event_id.clone())))
        }
        Some(a) => (next_site(tx, sites, Some(&a.site_id))?, None),
        None => (next_site(tx, sites, None)?, None),
    };
    while let Some(s) = site {
        loop {
            let limit = BATCH.min(budget - scanned);
            if limit == 0 {
                return Ok(Page {
                    events: found.into_iter().map(|(_, e)| e).collect(),
                    next: last,
                });
            }
            let batch = i64::try_from(limit).unwrap_or(i64::MAX);
            // Resume at the cursor: its time is the index range's lower bound,
            // its id skips what was read at that time.
            let rows = match &cursor {
                Some((t, id)) if *t >= ge => tx.query(
                    RANGE_AFTER,
                    &[
                        s.as_str().into(),
                        (*t).into(),
                        lt.into(),
                        id.as_str().into(),
                        batch.into(),
                    ],
                )?,
                _ => tx.query(RANGE, &[s.as_str().into(), ge.into(), lt.into(), batch.into()])?,
            };
            for row in &rows {
                scanned += 1;
                let key = PageToken {
                    site_id: s.clone(),
                    event_time_ms: row.i64(0)?,
                    event_id: row.text(1)?,
                };
                cursor = Some((key.event_time_ms, key.event_id.clone()));
                if let Some(e) = keep(&decode_event(row.bytes(2)?)?) {
                    found.push((key.clone(), e));
                    if found.len() > want {
                        found.truncate(want);
                        let next = found.last().map(|(k, _)| k.clone());
                        return Ok(Page {
                            events: found.into_iter().map(|(_, e)| e).collect(),
                            next,
                        });
                    }
                }
                last = Some(key);
            }
            if rows.len() < limit {
                break;
            }
        }
        site = next_site(tx, sites, Some(&s))?;
        cursor = None;
    }
    Ok(Page {
        events: found.into_iter().map(|(_, e)| e).collect(),
        next: None,
    })
}

/// The first site after `after` (or the first at all) that has events, or is
/// next in `sites`.
fn next_site(tx: &mut Tx<'_>, sites: Option<&[String]>, after: Option<&str>) -> Result<Option<String>, StoreError> {
    if let Some(sites) = sites {
        return Ok(sites.iter().find(|s| after.is_none_or(|a| s.as_str() > a)).cloned());
    }
    let row = match after {
        Some(a) => tx.query_opt(
            "SELECT site_id FROM events WHERE site_id > $1 ORDER BY site_id LIMIT 1",
            &[a.into()],
        )?,
        None => tx.query_opt("SELECT site_id FROM events ORDER BY site_id LIMIT 1", &[])?,
    };
    row.map(|r| r.text(0)).transpose()
}

#[cfg(test)]
mod tests {
    use waymark_proto::v1::{Identifier, IdentifierKind};

    use super::*;
    use crate::store::testing;

    fn event(site: &str, seq: u64) -> Event {
        Event {
            site_id: site.into(),
            sequence: seq,
            event_id: format!("e{seq}"),
            // Pairs of events share a time: the cursor must tell them apart by id.
            event_time_ms: 1_000 + (seq / 2) as i64,
            identifiers: vec![Identifier {
                kind: IdentifierKind::Barcode as i32,
                value: format!("b{seq}"),
            }],
            ..Event::default()
        }
    }

    /// Every page of a query, resumed from each page's token, with `budget` rows a page.
    fn pages(store: &CentralStore, want: usize, budget: usize, every: u64) -> Vec<Vec<u64>> {
        let keep = |e: &Event| e.sequence.is_multiple_of(every).then(|| EpcisEvent::from_event(e));
        let mut after = None;
        let mut out = Vec::new();
        loop {
            let page = store
                .read(|tx| scan(tx, None, TimeRange::default(), after.as_ref(), want, &keep, budget))
                .expect("page");
            out.push(
                page.events
                    .iter()
                    .map(|e| e.extensions["waymark:sequence"].as_u64().expect("seq"))
                    .collect(),
            );
            match page.next {
                Some(next) => after = Some(next),
                None => return out,
            }
            assert!(out.len() < 1000, "paging does not end");
        }
    }

    #[test]
    fn pages_resume_exactly_where_they_stopped_within_the_scan_budget() {
        let (_keep, store) = testing::open(false).expect("store");
        for site in ["a", "b"] {
            let lease = store.open_stream(site, "t", 0).expect("stream");
            let events: Vec<Event> = (1..=30).map(|i| event(site, i)).collect();
            store.apply(&lease, &events).expect("apply");
        }
        let all: Vec<u64> = (1..=30).chain(1..=30).collect();
        // Plenty of budget: full pages, the last one short, no empty page after it.
        let p = pages(&store, 7, SCAN_BUDGET, 1);
        assert_eq!(p.iter().map(Vec::len).collect::<Vec<_>>(), [7, 7, 7, 7, 7, 7, 7, 7, 4]);
        assert_eq!(p.concat(), all);
        // A selective filter with a small budget: short and empty pages, nothing lost or repeated.
        let p = pages(&store, 5, 4, 10);
        assert_eq!(p.concat(), [10, 20, 30, 10, 20, 30]);
        assert!(p.iter().any(Vec::is_empty));
        // 60 rows, 4 a request; the 15th ends on the last row without knowing it is.
        assert_eq!(p.len(), 16);
    }
}
