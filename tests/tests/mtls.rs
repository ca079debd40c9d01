//! The gateway-central link is mutual TLS and central takes a caller's site from
//! its certificate: a gateway cannot act for another site, and a client without
//! a certificate of central's CA gets nothing. Real central process, real TLS.

use std::net::SocketAddr;
use std::time::Duration;

use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use tonic::{Code, Request};
use waymark_proto::v1::site_sync_client::SiteSyncClient;
use waymark_proto::v1::{
    DownlinkRequest, EventBatch, GatewayMessage, GatewayStatus, Hello, central_message, gateway_message,
};
use waymark_proto::{Event, Identifier, IdentifierKind};
use waymark_tests::harness::{Harness, metric};
use waymark_tests::pki::TestCa;

async fn client(grpc: SocketAddr, ca_pem: &str, identity: Option<(String, String)>) -> SiteSyncClient<Channel> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .domain_name("localhost");
    if let Some((cert, key)) = identity {
        tls = tls.identity(Identity::from_pem(cert, key));
    }
    let channel = Endpoint::from_shared(format!("https://{grpc}"))
        .expect("endpoint")
        .tls_config(tls)
        .expect("tls")
        .timeout(Duration::from_secs(10))
        .connect_lazy();
    SiteSyncClient::new(channel)
}

fn event(site: &str, sequence: u64) -> Event {
    Event {
        site_id: site.into(),
        sequence,
        event_id: format!("{site}-ev-{sequence}"),
        event_time_ms: 1_700_000_000_000,
        record_time_ms: 1_700_000_000_000,
        identifiers: vec![Identifier {
            kind: IdentifierKind::Sscc as i32,
            value: format!("00340123450000000{sequence:03}"),
        }],
        read_point: "dock-1".into(),
        device_id: "door-1".into(),
        business_step: "loading".into(),
        disposition: "in_transit".into(),
        ..Default::default()
    }
}

fn hello(site: &str) -> GatewayMessage {
    GatewayMessage {
        body: Some(gateway_message::Body::Hello(Hello {
            site_id: site.into(),
            gateway_version: "test".into(),
            last_sequence: 1,
        })),
    }
}

fn batch(events: Vec<Event>) -> GatewayMessage {
    GatewayMessage {
        body: Some(gateway_message::Body::Batch(EventBatch { events })),
    }
}

/// Opens a replication stream with `messages` and returns what central answered
/// after `Resume`: the ack's high-water mark, or the refusal.
async fn replicate(
    client: &mut SiteSyncClient<Channel>,
    messages: Vec<GatewayMessage>,
    spoof_site: Option<&str>,
) -> Result<u64, tonic::Status> {
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    for m in messages {
        tx.send(m).await.expect("queue");
    }
    let mut req = Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
    if let Some(site) = spoof_site {
        req.metadata_mut()
            .insert(waymark_proto::SITE_HEADER, site.parse().expect("ascii"));
    }
    let mut inbound = client.replicate(req).await?.into_inner();
    loop {
        let msg = inbound
            .message()
            .await?
            .ok_or_else(|| tonic::Status::aborted("stream ended"))?;
        match msg.body {
            Some(central_message::Body::Resume(_)) => continue,
            Some(central_message::Body::Ack(a)) => {
                drop(tx);
                return Ok(a.high_water_mark);
            }
            Some(central_message::Body::Expedited(_)) | None => {
                return Err(tonic::Status::internal("unexpected message"));
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_site_certificate_cannot_act_for_another_site() {
    let h = Harness::new(env!("CARGO_BIN_EXE_waymark-node")).expect("harness");
    let central = h.start_central(None).expect("central");
    let grpc = central.ready.addr("grpc").expect("grpc");
    let ops = central.ready.addr("ops").expect("ops");
    let site_a = h.ca.issue_site("site-a").expect("cert");
    let mut a = client(grpc, &h.ca.cert_pem, Some(site_a)).await;

    // Site A's own data is accepted: the refusals below are about identity.
    let hwm = replicate(&mut a, vec![hello("site-a"), batch(vec![event("site-a", 1)])], None)
        .await
        .expect("site A replicates its own events");
    assert_eq!(hwm, 1);

    // Claiming site B in the hello, in the events, or in the development header.
    let refused = replicate(&mut a, vec![hello("site-b"), batch(vec![event("site-b", 1)])], None).await;
    assert_eq!(refused.expect_err("hello for B").code(), Code::PermissionDenied);
    let refused = replicate(&mut a, vec![hello("site-a"), batch(vec![event("site-b", 1)])], None).await;
    assert_eq!(refused.expect_err("events for B").code(), Code::PermissionDenied);
    let refused = replicate(
        &mut a,
        vec![hello("site-b"), batch(vec![event("site-b", 1)])],
        Some("site-b"),
    )
    .await;
    assert_eq!(
        refused.expect_err("header claiming B").code(),
        Code::PermissionDenied,
        "under mTLS the x-waymark-site header must not matter"
    );
    let down = a
        .downlink(DownlinkRequest {
            site_id: "site-b".into(),
            cursor: 0,
        })
        .await;
    assert_eq!(down.expect_err("downlink for B").code(), Code::PermissionDenied);
    let status = a
        .report_status(GatewayStatus {
            site_id: "site-b".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(status.expect_err("status for B").code(), Code::PermissionDenied);

    // Nothing of B changed at central: its high-water mark is still 0, so a
    // stream as B (with B's own certificate) resumes from the start.
    let site_b = h.ca.issue_site("site-b").expect("cert");
    let mut b = client(grpc, &h.ca.cert_pem, Some(site_b)).await;
    let hwm = replicate(&mut b, vec![hello("site-b"), batch(vec![event("site-b", 1)])], None)
        .await
        .expect("B's own certificate works");
    assert_eq!(hwm, 1, "B's log must have been empty before its own first event");

    let metrics = h.get_text(format!("http://{ops}/metrics")).await.expect("metrics");
    assert!(
        metric(&metrics, "waymark_sync_calls_refused_total", &["wrong_site"]) >= 4.0,
        "refusals are counted:\n{metrics}"
    );
    assert_eq!(
        metric(&metrics, "waymark_sync_batches_refused_total", &["wrong_site"]),
        1.0,
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_certificate_or_another_ca_gets_nothing() {
    let h = Harness::new(env!("CARGO_BIN_EXE_waymark-node")).expect("harness");
    let central = h.start_central(None).expect("central");
    let grpc = central.ready.addr("grpc").expect("grpc");
    let ops = central.ready.addr("ops").expect("ops");

    let mut anonymous = client(grpc, &h.ca.cert_pem, None).await;
    let refused = replicate(
        &mut anonymous,
        vec![hello("site-a"), batch(vec![event("site-a", 1)])],
        Some("site-a"),
    )
    .await;
    let status = refused.expect_err("no certificate");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains("enroll"),
        "tells the caller what to do: {status:?}"
    );
    let report = anonymous
        .report_status(GatewayStatus {
            site_id: "site-a".into(),
            ..Default::default()
        })
        .await;
    assert_eq!(report.expect_err("no certificate").code(), Code::Unauthenticated);

    // A certificate naming site-a, but from a CA central does not trust.
    let rogue = TestCa::new("rogue CA").expect("ca");
    let mut impostor = client(grpc, &h.ca.cert_pem, Some(rogue.issue_site("site-a").expect("cert"))).await;
    let refused = replicate(
        &mut impostor,
        vec![hello("site-a"), batch(vec![event("site-a", 1)])],
        None,
    )
    .await;
    assert!(refused.is_err(), "a certificate from another CA must be refused");

    // Site A's log is untouched: its first real event gets sequence 1 accepted.
    let mut a = client(grpc, &h.ca.cert_pem, Some(h.ca.issue_site("site-a").expect("cert"))).await;
    let hwm = replicate(&mut a, vec![hello("site-a"), batch(vec![event("site-a", 1)])], None)
        .await
        .expect("the real site A");
    assert_eq!(hwm, 1);
    let metrics = h.get_text(format!("http://{ops}/metrics")).await.expect("metrics");
    assert!(
        metric(&metrics, "waymark_sync_calls_refused_total", &["unauthenticated"]) >= 2.0,
        "{metrics}"
    );
    assert_eq!(metric(&metrics, "waymark_sync_events_applied_total", &["site-a"]), 1.0);
}

/// Identity is checked before central reads a request body: a caller without a
/// certificate cannot make central buffer a message up to the decoding limit
/// (16 MiB, 64 calls per connection). An oversized report is refused for its
/// missing certificate, not for its size after the decoder looked at it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_certificate_is_refused_before_the_body_is_read() {
    let h = Harness::new(env!("CARGO_BIN_EXE_waymark-node")).expect("harness");
    let central = h.start_central(None).expect("central");
    let grpc = central.ready.addr("grpc").expect("grpc");
    let mut anonymous = client(grpc, &h.ca.cert_pem, None).await;
    let report = anonymous
        .report_status(GatewayStatus {
            site_id: "site-a".into(),
            gateway_version: "x".repeat(17 << 20),
            ..Default::default()
        })
        .await;
    let status = report.expect_err("no certificate");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
}
