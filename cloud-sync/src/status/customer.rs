//! What a customer is told: words separate from the internal milestones.
//! "Handed to carrier" comes from `loaded` or a carrier possession scan, never
//! from `label_created` (DESIGN contract 6).

use serde::{Deserialize, Serialize};

use super::milestone::{Milestone, MilestoneSet};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    OrderReceived,
    Preparing,
    HandedToCarrier,
    InTransit,
    OutForDelivery,
    DeliveryAttempted,
    ReadyForPickup,
    Delivered,
    ReturningToSender,
    ReturnStarted,
    /// The merchant declined the return: the customer keeps the item.
    ReturnDeclined,
    ReturnReceived,
    Refunded,
    /// A replacement instead of a refund.
    ReplacementSent,
    Cancelled,
}

impl CustomerStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OrderReceived => "order_received",
            Self::Preparing => "preparing",
            Self::HandedToCarrier => "handed_to_carrier",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::DeliveryAttempted => "delivery_attempted",
            Self::ReadyForPickup => "ready_for_pickup",
            Self::Delivered => "delivered",
            Self::ReturningToSender => "returning_to_sender",
            Self::ReturnStarted => "return_started",
            Self::ReturnDeclined => "return_declined",
            Self::ReturnReceived => "return_received",
            Self::Refunded => "refunded",
            Self::ReplacementSent => "replacement_sent",
            Self::Cancelled => "cancelled",
        }
    }

    /// English words for the tracking page and messages.
    pub fn text(self) -> &'static str {
        match self {
            Self::OrderReceived => "Order received",
            Self::Preparing => "Preparing your order",
            Self::HandedToCarrier => "Handed to carrier",
            Self::InTransit => "In transit",
            Self::OutForDelivery => "Out for delivery",
            Self::DeliveryAttempted => "Delivery attempted",
            Self::ReadyForPickup => "Ready for pickup",
            Self::Delivered => "Delivered",
            Self::ReturningToSender => "Returning to sender",
            Self::ReturnStarted => "Return started",
            Self::ReturnDeclined => "Return declined",
            Self::ReturnReceived => "Return received",
            Self::Refunded => "Refunded",
            Self::ReplacementSent => "Replacement sent",
            Self::Cancelled => "Cancelled",
        }
    }
}

/// The customer's words for a parcel at `current`, given every milestone that
/// counts. A label alone means the merchant is preparing the parcel; the
/// parcel is cancelled for the customer only if it was never handed over.
pub(crate) fn customer_status(current: Option<Milestone>, reached: MilestoneSet, cancelled: bool) -> CustomerStatus {
    use Milestone as M;
    if cancelled && !reached.any(Milestone::is_possession) {
        return CustomerStatus::Cancelled;
    }
    let Some(current) = current else {
        return CustomerStatus::OrderReceived;
    };
    match current {
        M::Ordered => CustomerStatus::OrderReceived,
        M::LabelCreated | M::Picked | M::Packed | M::Staged => CustomerStatus::Preparing,
        M::Loaded | M::CarrierAccepted => CustomerStatus::HandedToCarrier,
        M::InTransit => CustomerStatus::InTransit,
        M::OutForDelivery => CustomerStatus::OutForDelivery,
        M::DeliveryAttempted => CustomerStatus::DeliveryAttempted,
        M::AvailableForPickup => CustomerStatus::ReadyForPickup,
        M::Delivered => CustomerStatus::Delivered,
        M::ReturnedToSender => CustomerStatus::ReturningToSender,
        M::ReturnRequested | M::ReturnApproved | M::ReturnLabelIssued | M::ReturnInTransit => {
            CustomerStatus::ReturnStarted
        }
        M::ReturnDeclined => CustomerStatus::ReturnDeclined,
        M::ReturnReceived | M::Inspected | M::DispositionDecided => CustomerStatus::ReturnReceived,
        M::RefundReleased => CustomerStatus::Refunded,
        M::ReplacementReleased => CustomerStatus::ReplacementSent,
        M::Closed => closed(reached),
    }
}

/// A closed return reads as its outcome.
fn closed(reached: MilestoneSet) -> CustomerStatus {
    use Milestone as M;
    if reached.contains(M::RefundReleased) {
        CustomerStatus::Refunded
    } else if reached.contains(M::ReplacementReleased) {
        CustomerStatus::ReplacementSent
    } else if reached.contains(M::ReturnReceived) {
        CustomerStatus::ReturnReceived
    } else if reached.contains(M::ReturnDeclined) {
        CustomerStatus::ReturnDeclined
    } else {
        CustomerStatus::ReturnStarted
    }
}
