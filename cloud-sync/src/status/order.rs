//! An order's status, derived from its parcels' statuses.
//!
//! Rules decided here where DESIGN.md is silent:
//!
//! - A parcel cancelled before hand-over (customer status Cancelled) does not
//!   count; one cancelled after it was loaded does (it is on its way). With
//!   every parcel cancelled, the order is Cancelled; with no parcels, Ordered.
//! - Any return still open makes the order ReturnInProgress; Returned needs
//!   every counting parcel's return finished (refund or replacement released,
//!   or closed after being received). Otherwise a finished return, or a
//!   declined one, counts as delivered.
//! - `returned_to_sender` counts as shipped, not delivered.

use serde::{Deserialize, Serialize};

use super::customer::CustomerStatus;
use super::engine::ParcelStatus;
use super::milestone::Milestone;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    Ordered,
    Processing,
    PartiallyShipped,
    Shipped,
    PartiallyDelivered,
    Delivered,
    Cancelled,
    ReturnInProgress,
    Returned,
}

impl OrderStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordered => "ordered",
            Self::Processing => "processing",
            Self::PartiallyShipped => "partially_shipped",
            Self::Shipped => "shipped",
            Self::PartiallyDelivered => "partially_delivered",
            Self::Delivered => "delivered",
            Self::Cancelled => "cancelled",
            Self::ReturnInProgress => "return_in_progress",
            Self::Returned => "returned",
        }
    }
}

/// Where one parcel stands, for its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    NotStarted,
    Processing,
    Shipped,
    Delivered,
    ReturnOpen,
    Returned,
}

fn stage(p: &ParcelStatus) -> Stage {
    use Milestone as M;
    let Some(m) = p.milestone else {
        return Stage::NotStarted;
    };
    match m {
        M::Ordered | M::LabelCreated => Stage::NotStarted,
        M::Picked | M::Packed | M::Staged => Stage::Processing,
        M::Delivered | M::ReturnDeclined => Stage::Delivered,
        M::RefundReleased | M::ReplacementReleased => Stage::Returned,
        M::Closed if p.reached(M::RefundReleased).is_some() || p.reached(M::ReplacementReleased).is_some() => {
            Stage::Returned
        }
        M::Closed if p.reached(M::ReturnReceived).is_some() => Stage::Returned,
        M::Closed => Stage::Delivered,
        m if m.is_return() => Stage::ReturnOpen,
        _ => Stage::Shipped,
    }
}

/// The status of an order from its parcels' statuses.
pub fn order_status(parcels: &[ParcelStatus]) -> OrderStatus {
    let stages: Vec<Stage> = parcels
        .iter()
        .filter(|p| p.customer != CustomerStatus::Cancelled)
        .map(stage)
        .collect();
    if stages.is_empty() {
        return if parcels.is_empty() {
            OrderStatus::Ordered
        } else {
            OrderStatus::Cancelled
        };
    }
    let all = |s: Stage| stages.iter().all(|&x| x >= s);
    let any = |s: Stage| stages.iter().any(|&x| x >= s);
    if stages.contains(&Stage::ReturnOpen) {
        OrderStatus::ReturnInProgress
    } else if stages.iter().all(|&s| s == Stage::Returned) {
        OrderStatus::Returned
    } else if all(Stage::Delivered) {
        OrderStatus::Delivered
    } else if any(Stage::Delivered) {
        OrderStatus::PartiallyDelivered
    } else if all(Stage::Shipped) {
        OrderStatus::Shipped
    } else if any(Stage::Shipped) {
        OrderStatus::PartiallyShipped
    } else if any(Stage::Processing) {
        OrderStatus::Processing
    } else {
        OrderStatus::Ordered
    }
}
