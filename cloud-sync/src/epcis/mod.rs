//! EPCIS 2.0 export: site events as GS1 EPCIS JSON-LD, and the REST binding's
//! `GET /epcis/events` query over them.
//!
//! The conversion (`document`, `uri`, `vocab`) and the query's parameters
//! (`query`) are pure; `store` reads the events in pages; `routes` serves them.
//!
//! How Waymark's events map (see also each function):
//! - Every event is an `ObjectEvent`, action `OBSERVE`: a site observes labels
//!   and tags that exist already; it never commissions them, so `ADD` (which
//!   would claim the EPCs were created here) is not used for ObjectEvents.
//! - An event naming exactly one parcel SSCC together with EPCs (the parcel's
//!   contents) and nothing else is an `AggregationEvent`: `parentID` the SSCC,
//!   `childEPCs` the EPCs, action `ADD` at `packing` (contents go into the
//!   parcel), `OBSERVE` at any other step. Exceptions never aggregate.
//! - SSCCs are GS1 Digital Link URIs (`https://id.gs1.org/00/<sscc>`): the EPC
//!   URN needs the company prefix length, which the 18 digits do not carry.
//!   EPCs are their pure-identity URNs (`urn:epc:id:sgtin:...`) as gateways
//!   record them, or the TDS raw URN (`urn:epc:raw:...`) when they do not decode.
//! - `bizStep` and `disposition` are bare CBV 2.0 terms (older URN forms are
//!   converted; `returns_receiving` is CBV `receiving`); other words become
//!   `urn:waymark:epcis:bizstep:<word>` / `...:disp:<word>`.
//! - `readPoint` is the read point's own URI when it is one (an SGLN), else
//!   `urn:waymark:epcis:site:<site>:rp:<name>`; `bizLocation` is the site,
//!   `urn:waymark:epcis:site:<site>`.
//! - `recordTime` is when the gateway recorded the event (its durable store is
//!   the first to hold it); central keeps no receipt time per event.
//! - `eventID` is a `urn:uuid:` hashed from (site, event id): stable across
//!   exports. (`ni:///` event hashes are for CBV's canonical hash algorithm.)
//! - The order number is a `po` business transaction, a carrier tracking
//!   number one of type `urn:waymark:epcis:btt:tracking_number`.
//! - Exceptions are ObjectEvents with `waymark:exception`: EPCIS's
//!   `errorDeclaration` retracts an event recorded in error, which an
//!   operational exception is not. Milestones, parcels, devices and the like
//!   are `waymark:` extension fields, the prefix declared in `@context`.
//!
//! Against the REST bindings: the answer is `application/json` with
//! `GS1-EPCIS-Version`, pages continue through `Link: <...>; rel="next"`, and
//! `perPage` above 1,000 is served 1,000. A refused query is a 400 in central's
//! own error shape (`invalid_query`, the message starting with EPCIS's
//! `QueryParameterException`), not the bindings' RFC 7807 problem document.
//! `MATCH_epc` / `MATCH_anyEPC` and the other filters are evaluated on the
//! events read in the event-time range, not through an index of their own: a
//! request reads at most `SCAN_BUDGET` rows and then answers a short page with
//! a token to go on from.

pub mod document;
pub mod query;
pub mod routes;
mod store;
pub mod uri;
pub mod vocab;

pub use document::{EpcisEvent, capture_document, query_document};
pub use query::{EventQuery, PageToken};
pub use store::{Page, SCAN_BUDGET};

#[cfg(test)]
mod tests;
