//! The shared milestone vocabulary (DESIGN.md, "Milestones") and the rank that
//! decides which of a parcel's milestones is its status.

use serde::{Deserialize, Serialize};

/// A step in a parcel's life. Declared in the vocabulary's order (outbound
/// steps, then the return chapter), which is what `Ord` follows; the status
/// engine ranks them with [`Milestone::rank`], which differs in two places (see
/// there).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Milestone {
    Ordered,
    Picked,
    Packed,
    Staged,
    /// Through the dock door onto the carrier's trailer (site RFID portal).
    Loaded,
    /// The carrier has shipment data only: never possession.
    LabelCreated,
    /// The carrier's first possession scan.
    CarrierAccepted,
    InTransit,
    OutForDelivery,
    DeliveryAttempted,
    AvailableForPickup,
    /// Terminal for outbound.
    Delivered,
    ReturnedToSender,
    ReturnRequested,
    ReturnApproved,
    ReturnDeclined,
    ReturnLabelIssued,
    ReturnInTransit,
    /// Scanned at a site's returns bench.
    ReturnReceived,
    Inspected,
    DispositionDecided,
    RefundReleased,
    ReplacementReleased,
    Closed,
}

impl Milestone {
    pub const ALL: [Milestone; 24] = [
        Self::Ordered,
        Self::Picked,
        Self::Packed,
        Self::Staged,
        Self::Loaded,
        Self::LabelCreated,
        Self::CarrierAccepted,
        Self::InTransit,
        Self::OutForDelivery,
        Self::DeliveryAttempted,
        Self::AvailableForPickup,
        Self::Delivered,
        Self::ReturnedToSender,
        Self::ReturnRequested,
        Self::ReturnApproved,
        Self::ReturnDeclined,
        Self::ReturnLabelIssued,
        Self::ReturnInTransit,
        Self::ReturnReceived,
        Self::Inspected,
        Self::DispositionDecided,
        Self::RefundReleased,
        Self::ReplacementReleased,
        Self::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ordered => "ordered",
            Self::Picked => "picked",
            Self::Packed => "packed",
            Self::Staged => "staged",
            Self::Loaded => "loaded",
            Self::LabelCreated => "label_created",
            Self::CarrierAccepted => "carrier_accepted",
            Self::InTransit => "in_transit",
            Self::OutForDelivery => "out_for_delivery",
            Self::DeliveryAttempted => "delivery_attempted",
            Self::AvailableForPickup => "available_for_pickup",
            Self::Delivered => "delivered",
            Self::ReturnedToSender => "returned_to_sender",
            Self::ReturnRequested => "return_requested",
            Self::ReturnApproved => "return_approved",
            Self::ReturnDeclined => "return_declined",
            Self::ReturnLabelIssued => "return_label_issued",
            Self::ReturnInTransit => "return_in_transit",
            Self::ReturnReceived => "return_received",
            Self::Inspected => "inspected",
            Self::DispositionDecided => "disposition_decided",
            Self::RefundReleased => "refund_released",
            Self::ReplacementReleased => "replacement_released",
            Self::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether it belongs to the return chapter (which ranks above outbound).
    pub fn is_return(self) -> bool {
        self >= Self::ReturnRequested
    }

    /// Physically out of the warehouse: on the carrier's trailer or in its
    /// network. `label_created` is not possession (DESIGN contract 6).
    pub fn is_possession(self) -> bool {
        matches!(self, Self::Loaded) || (self >= Self::CarrierAccepted && self <= Self::ReturnedToSender)
    }

    /// In the carrier's possession (its own scans), which `loaded` alone is not.
    pub fn is_carrier_possession(self) -> bool {
        self >= Self::CarrierAccepted && self <= Self::ReturnedToSender
    }

    /// Position in the vocabulary (0-based), for tables indexed by milestone.
    pub(crate) fn index(self) -> usize {
        self as usize
    }

    /// How far along a parcel this milestone is; the status is the reached
    /// milestone of highest rank. It follows the vocabulary except:
    ///
    /// - `label_created` ranks just above `ordered`: it is carrier data only,
    ///   so a label never outranks a warehouse step or `loaded` (a label is
    ///   usually created before the parcel is picked, whatever the carrier's
    ///   timestamp says).
    /// - The last mile is a loop, not a line: `out_for_delivery`,
    ///   `delivery_attempted`, `available_for_pickup` and `returned_to_sender`
    ///   share a rank, and the latest of them by event time is the status (out
    ///   for delivery again after an attempt, a return to sender reversed).
    ///   `delivered` ranks above all of them: terminal for outbound.
    /// - In the return chapter, approved/declined and refund/replacement are
    ///   alternatives and share a rank (the latest decision wins).
    pub fn rank(self) -> u8 {
        match self {
            Self::Ordered => 0,
            Self::LabelCreated => 1,
            Self::Picked => 2,
            Self::Packed => 3,
            Self::Staged => 4,
            Self::Loaded => 5,
            Self::CarrierAccepted => 6,
            Self::InTransit => 7,
            Self::OutForDelivery | Self::DeliveryAttempted | Self::AvailableForPickup | Self::ReturnedToSender => 8,
            Self::Delivered => 9,
            Self::ReturnRequested => 20,
            Self::ReturnApproved | Self::ReturnDeclined => 21,
            Self::ReturnLabelIssued => 22,
            Self::ReturnInTransit => 23,
            Self::ReturnReceived => 24,
            Self::Inspected => 25,
            Self::DispositionDecided => 26,
            Self::RefundReleased | Self::ReplacementReleased => 27,
            Self::Closed => 28,
        }
    }
}

impl std::fmt::Display for Milestone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of milestones, one bit each.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct MilestoneSet(u32);

impl MilestoneSet {
    pub(crate) fn insert(&mut self, m: Milestone) {
        self.0 |= 1 << m.index();
    }

    pub(crate) fn remove(&mut self, m: Milestone) {
        self.0 &= !(1 << m.index());
    }

    pub(crate) fn contains(self, m: Milestone) -> bool {
        self.0 & (1 << m.index()) != 0
    }

    pub(crate) fn any(self, f: impl Fn(Milestone) -> bool) -> bool {
        Milestone::ALL.into_iter().any(|m| self.contains(m) && f(m))
    }
}
