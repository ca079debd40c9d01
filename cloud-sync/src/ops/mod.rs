//! Ops' view of the sites: marks, lost sequences and gateway status reports.

mod store;

pub use store::{GapRecord, SiteSummary};
pub mod routes;
