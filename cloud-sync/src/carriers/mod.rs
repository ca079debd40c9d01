//! Carriers and tracking aggregators: their signed webhooks in, canonical
//! carrier events out, matched to parcels and fed to the status engine.
//!
//! The pure half (no I/O, no clock): [`provider`] names them, [`signature`]
//! checks each provider's own scheme on the raw body bytes, [`normalize`]
//! turns a verified body into [`CarrierEvent`]s in the milestone vocabulary
//! of DESIGN.md. The rest (store, intake worker, routes) keeps the raw body
//! first and normalizes from storage, so acknowledging never waits for it and
//! a normalizer failure loses nothing.

pub mod config;
pub mod event;
pub mod facts;
pub mod intake;
pub mod normalize;
pub mod provider;
pub mod receiver;
pub mod routes;
pub mod signature;
pub mod store;

pub use config::{CarrierAccount, CarrierSettings};
pub use event::{CarrierEvent, Estimate, ExceptionInfo, Location};
pub use normalize::{DecodeError, normalize};
pub use provider::Provider;
