//! Replication: the `SiteSync` gRPC service gateways stream their events to,
//! and the store writes behind it (the acknowledged, exactly-once apply).

mod bulk;
mod service;
mod store;

pub use service::{MAX_BATCH_EVENTS, SyncService, require_site};
pub(crate) use store::event_problem;
pub use store::{Applied, ApplyError, StreamLease};
