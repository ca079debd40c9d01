//! The status engine: a parcel's true status from its events of every source
//! (order intake, sites, carriers, operators, returns), and an order's status
//! from its parcels'. Pure: no I/O, no clock (the time is given in
//! [`Context`]), no store; the projection feeds it and keeps what it returns.
//!
//! DESIGN.md ("Milestones", contract item 6) is the specification; the rules
//! it leaves open are written where they are decided: [`engine`] (ordering,
//! corrections, cancellation), [`milestone`] (rank), [`overlays`] (overlays and
//! estimates), [`customer`] (customer words), [`order`] (order status).

pub mod customer;
pub mod engine;
pub mod event;
pub mod milestone;
pub mod order;
pub mod overlays;

pub use customer::CustomerStatus;
pub use engine::{AppliedCorrection, ClockAnomaly, ParcelStatus, Reached, parcel_status};
pub use event::{Context, Fact, ParcelEvent, Party, Provenance, Source, Window};
pub use milestone::Milestone;
pub use order::{OrderStatus, order_status};
pub use overlays::{EstimateView, Overlay, OverlayState};

#[cfg(test)]
mod tests;
