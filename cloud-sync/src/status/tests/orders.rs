//! Order status from its parcels: split orders, cancelled shipments, returns.

use super::*;
use Milestone as M;

fn parcel(events: &[ParcelEvent]) -> ParcelStatus {
    status(events)
}

fn packed() -> ParcelStatus {
    parcel(&[intake(0), site(10, M::Picked), site(20, M::Packed)])
}

fn labelled() -> ParcelStatus {
    parcel(&[intake(0), carrier(5, M::LabelCreated)])
}

fn loaded() -> ParcelStatus {
    parcel(&warehouse())
}

fn in_transit() -> ParcelStatus {
    let mut e = warehouse();
    e.extend([carrier(50, M::CarrierAccepted), carrier(90, M::InTransit)]);
    parcel(&e)
}

fn delivered() -> ParcelStatus {
    let mut e = warehouse();
    e.push(carrier(200, M::Delivered));
    parcel(&e)
}

fn cancelled_early() -> ParcelStatus {
    parcel(&[intake(0), site(10, M::Picked), cancelled(15)])
}

fn returning() -> ParcelStatus {
    let mut e = warehouse();
    e.extend([carrier(200, M::Delivered), returns(3000, M::ReturnRequested)]);
    parcel(&e)
}

fn refunded() -> ParcelStatus {
    let mut e = warehouse();
    e.extend([
        carrier(200, M::Delivered),
        returns(3000, M::ReturnRequested),
        site(4000, M::ReturnReceived),
        returns(4300, M::RefundReleased),
        returns(4400, M::Closed),
    ]);
    parcel(&e)
}

#[test]
fn before_anything_ships() {
    assert_eq!(order_status(&[]), OrderStatus::Ordered);
    assert_eq!(order_status(&[parcel(&[intake(0)])]), OrderStatus::Ordered);
    assert_eq!(
        order_status(&[labelled(), labelled()]),
        OrderStatus::Ordered,
        "a label is not shipping"
    );
    assert_eq!(order_status(&[labelled(), packed()]), OrderStatus::Processing);
}

#[test]
fn a_split_order_is_partially_shipped_then_shipped() {
    assert_eq!(order_status(&[loaded(), packed()]), OrderStatus::PartiallyShipped);
    assert_eq!(order_status(&[in_transit(), labelled()]), OrderStatus::PartiallyShipped);
    assert_eq!(order_status(&[loaded(), in_transit()]), OrderStatus::Shipped);
}

#[test]
fn a_split_order_is_partially_delivered_then_delivered() {
    assert_eq!(
        order_status(&[delivered(), in_transit()]),
        OrderStatus::PartiallyDelivered
    );
    assert_eq!(order_status(&[delivered(), packed()]), OrderStatus::PartiallyDelivered);
    assert_eq!(order_status(&[delivered(), delivered()]), OrderStatus::Delivered);
}

#[test]
fn a_cancelled_shipment_is_left_out() {
    assert_eq!(order_status(&[in_transit(), cancelled_early()]), OrderStatus::Shipped);
    assert_eq!(order_status(&[delivered(), cancelled_early()]), OrderStatus::Delivered);
    assert_eq!(
        order_status(&[cancelled_early(), cancelled_early()]),
        OrderStatus::Cancelled
    );
    // Cancelled once on the trailer: it still ships.
    let mut e = warehouse();
    e.push(cancelled(45));
    assert_eq!(order_status(&[parcel(&e), cancelled_early()]), OrderStatus::Shipped);
}

#[test]
fn returns_in_progress_and_returned() {
    assert_eq!(order_status(&[returning(), delivered()]), OrderStatus::ReturnInProgress);
    assert_eq!(order_status(&[returning(), refunded()]), OrderStatus::ReturnInProgress);
    assert_eq!(order_status(&[refunded(), refunded()]), OrderStatus::Returned);
    assert_eq!(order_status(&[refunded(), cancelled_early()]), OrderStatus::Returned);
    // One parcel returned, the other kept: the order was delivered.
    assert_eq!(order_status(&[refunded(), delivered()]), OrderStatus::Delivered);
    let mut e = warehouse();
    e.extend([
        carrier(200, M::Delivered),
        returns(3000, M::ReturnRequested),
        returns(3010, M::ReturnDeclined),
    ]);
    assert_eq!(
        order_status(&[parcel(&e)]),
        OrderStatus::Delivered,
        "a declined return is kept"
    );
}
