//! A fixed FedEx journey as EasyPost reports it, for full-stack tests that
//! need exact bodies (the simulator's journeys are planned; these are not).

/// One EasyPost tracking detail: (status, status_detail, datetime, carrier_code, message).
pub type Detail<'a> = (&'a str, &'a str, &'a str, &'a str, &'a str);

/// An EasyPost `tracker.updated` Event as EasyPost writes it (the shape of
/// EasyPost/examples `official/fixtures/event-body.json`): the whole tracker,
/// every detail so far. `weight` is written `136.0`, as EasyPost does.
pub fn easypost_event(evt: &str, tracking: &str, details: &[Detail<'_>]) -> String {
    let status = details.last().map_or("unknown", |d| d.0);
    let details: Vec<String> = details
        .iter()
        .map(|(status, detail, at, code, message)| {
            format!(
                r#"{{"object":"TrackingDetail","message":"{message}","description":null,"status":"{status}","status_detail":"{detail}","datetime":"{at}","source":"FedEx","carrier_code":"{code}","tracking_location":{{"object":"TrackingLocation","city":"MEMPHIS","state":"TN","country":"US","zip":null}}}}"#
            )
        })
        .collect();
    format!(
        r#"{{"description":"tracker.updated","mode":"production","previous_attributes":{{}},"created_at":"2026-11-20T09:00:00Z","pending_urls":[],"completed_urls":[],"updated_at":"2026-11-20T09:00:00Z","id":"{evt}","user_id":"user_1","status":"pending","object":"Event","result":{{"id":"trk_{tracking}","object":"Tracker","mode":"production","tracking_code":"{tracking}","status":"{status}","status_detail":"unknown","created_at":"2026-11-19T08:00:00Z","updated_at":"2026-11-20T09:00:00Z","signed_by":null,"weight":136.0,"est_delivery_date":"2026-11-23T00:00:00Z","shipment_id":null,"carrier":"FedEx","tracking_details":[{}],"carrier_detail":null,"finalized":true,"is_return":false,"public_url":"https://track.easypost.com/x","fees":[]}}}}"#,
        details.join(",")
    )
}

pub const LABEL: Detail<'static> = (
    "pre_transit",
    "label_created",
    "2026-11-19T08:00:00Z",
    "OC",
    "Shipment information sent to FedEx",
);
pub const PICKED_UP: Detail<'static> = (
    "in_transit",
    "arrived_at_facility",
    "2026-11-20T10:00:00Z",
    "PU",
    "Picked up",
);
pub const AT_HUB: Detail<'static> = (
    "in_transit",
    "arrived_at_facility",
    "2026-11-21T02:00:00Z",
    "AR",
    "Arrived at FedEx location",
);
pub const DELIVERED: Detail<'static> = (
    "delivered",
    "arrived_at_destination",
    "2026-11-22T14:30:00Z",
    "DL",
    "Delivered",
);
