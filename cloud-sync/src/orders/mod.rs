//! Orders: what merchant systems submit, and the per-site revision log each
//! gateway's downlink follows to match reads offline.

mod store;

pub use store::{NewOrder, NewParcel, OrderError, order_identifiers};
pub mod routes;
