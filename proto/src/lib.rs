//! The wire contract between site gateways and central (`waymark.sync.v1`).
//!
//! Generated from `proto/waymark/sync/v1/sync.proto`; see that file for the
//! replication protocol (hello, resume from central's high-water mark, batches, acks).

#[allow(clippy::all, clippy::pedantic, clippy::unwrap_used, missing_docs)]
pub mod v1 {
    tonic::include_proto!("waymark.sync.v1");
}

/// gRPC metadata key carrying the site id on a development plaintext link.
/// Under mTLS central ignores it and takes the identity from the certificate.
pub const SITE_HEADER: &str = "x-waymark-site";

pub mod chunk;
pub mod enrollment;
pub mod id_runs;
pub mod identity;
pub mod service_manager;
pub mod tls;

pub use v1::{
    CentralMessage, DownlinkRequest, Event, EventBatch, EventKind, GatewayMessage, GatewayStatus, Identifier,
    IdentifierKind, Order, OrderRevision, Parcel,
};

/// Lower-case hex of `bytes`: certificate pins, token secrets and ids, event ids.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
