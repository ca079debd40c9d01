//! Orders: what merchant systems submit (an order split into shipments, each
//! shipped by one site), and the per-site revision log each gateway's
//! downlink follows to match reads offline.

pub mod csv;
pub mod input;
pub mod list;
pub mod model;
pub mod status;
mod store;
pub mod view;

pub use model::{OrderRecord, ParcelRecord, ShipmentRecord};
pub(crate) use store::refresh_orders_of;
pub use store::{Correction, NewOrder, NewParcel, OrderError, Submitted, upgrade_schema1_orders};
pub(crate) use store::{order_in, order_owning, refresh_numbers};
pub mod routes;
