//! Enrollment end to end, as site IT does it: the operator issues a one-time
//! token for the site, `waymark-gateway enroll` gets the certificate, and the
//! gateway replicates over mutual TLS. Tokens are single use and expire.

use std::time::Duration;

use serde_json::json;
use waymark_tests::harness::{Credentials, GatewaySpec, Harness};
use waymark_tests::mqtt::{Publisher, publish_tag_reads};
use waymark_tests::wait;

async fn issue(h: &Harness, http: std::net::SocketAddr, site: &str, ttl_secs: u64) -> String {
    let (code, body) = h
        .post_json(
            format!("http://{http}/api/v1/sites/{site}/enrollment-tokens"),
            &json!({ "ttl_secs": ttl_secs }),
        )
        .await
        .expect("issue token");
    assert_eq!(code, 201, "{body}");
    assert_eq!(body["site"], site);
    body["token"].as_str().expect("token").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_enrolls_once_with_a_token_and_replicates() {
    let h = Harness::new(env!("CARGO_BIN_EXE_waymark-node")).expect("harness");
    let central = h.start_central(None).expect("central");
    let grpc = central.ready.addr("grpc").expect("grpc");
    let http = central.ready.addr("http").expect("http");

    let mut spec = GatewaySpec::site("dock-a").recording_unmatched();
    spec.credentials = Credentials::Enroll;
    let err = h.start_gateway(&spec, grpc, None).err().expect("not enrolled yet");
    assert!(err.to_string().contains("not enrolled"), "{err}");

    let token = issue(&h, http, "dock-a", 600).await;
    let (ok, out) = h.enroll(&spec, grpc, &token, &[]).expect("run enroll");
    assert!(ok, "enroll failed: {out}");
    assert!(out.contains("enrolled as site dock-a"), "{out}");
    let key = h.path("dock-a").join("tls/site.key");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&key).expect("key written").permissions().mode();
    assert_eq!(mode & 0o077, 0, "the private key must be readable by its owner only");

    // The enrolled gateway replicates over mTLS.
    let gw = h
        .start_gateway(&spec, grpc, None)
        .expect("gateway starts with its certificate");
    let publisher = Publisher::connect(gw.ready.addr("mqtt").expect("mqtt"), "door-3");
    publish_tag_reads(&publisher, "waymark/dock-a/door-3/reads", 0, 3, 3)
        .await
        .expect("publish");
    wait::until("events reach central", Duration::from_secs(20), || async {
        let events = h.central_events(http, "dock-a").await.ok()?;
        (events.len() >= 3).then_some(())
    })
    .await
    .expect("replicated");

    // The gateway shows when its certificate runs out (central's default: 397 days).
    let status = h.status(&gw).await.expect("status");
    let days = status["certificate"]["days_left"]
        .as_i64()
        .expect("certificate in status");
    assert!((395..=397).contains(&days), "{status}");

    // The same token again: refused, and the certificate on disk is untouched.
    let cert_before = std::fs::read(h.path("dock-a").join("tls/site.crt")).expect("cert");
    let (ok, out) = h.enroll(&spec, grpc, &token, &["--force"]).expect("run enroll");
    assert!(!ok, "a used token must not enroll again: {out}");
    assert!(out.contains("already used"), "{out}");
    assert_eq!(
        std::fs::read(h.path("dock-a").join("tls/site.crt")).expect("cert"),
        cert_before
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_foreign_tokens_fail_with_a_clear_message() {
    let h = Harness::new(env!("CARGO_BIN_EXE_waymark-node")).expect("harness");
    let central = h.start_central(None).expect("central");
    let grpc = central.ready.addr("grpc").expect("grpc");
    let http = central.ready.addr("http").expect("http");
    let mut spec = GatewaySpec::site("dock-b");
    spec.credentials = Credentials::Enroll;

    let short = issue(&h, http, "dock-b", 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let (ok, out) = h.enroll(&spec, grpc, &short, &[]).expect("run enroll");
    assert!(!ok && out.contains("expired"), "{out}");

    // A token for another site is refused and stays usable for that site.
    let for_c = issue(&h, http, "dock-c", 600).await;
    let (ok, out) = h.enroll(&spec, grpc, &for_c, &[]).expect("run enroll");
    assert!(!ok && out.contains("dock-c"), "{out}");
    let mut spec_c = GatewaySpec::site("dock-c");
    spec_c.credentials = Credentials::Enroll;
    let (ok, out) = h.enroll(&spec_c, grpc, &for_c, &[]).expect("run enroll");
    assert!(ok, "{out}");

    // A token whose CA pin is not this central's: the gateway refuses to trust it.
    let mut forged = for_c.clone();
    let tail = if forged.ends_with("0000") { "1111" } else { "0000" };
    forged.replace_range(forged.len() - 4.., tail);
    let (ok, out) = h.enroll(&spec, grpc, &forged, &[]).expect("run enroll");
    assert!(!ok && out.contains("does not present the CA"), "{out}");

    let (ok, out) = h.enroll(&spec, grpc, "not-a-token", &[]).expect("run enroll");
    assert!(!ok && out.contains("malformed enrollment token"), "{out}");

    // Issuing tokens takes the sites:enroll scope: an order system's token cannot.
    let (code, oms) = h
        .post_json(
            format!("http://{http}/api/v1/tokens"),
            &json!({ "name": "oms", "scopes": ["orders:write"] }),
        )
        .await
        .expect("create token");
    assert_eq!(code, 201, "{oms}");
    let resp = h
        .http
        .post(format!("http://{http}/api/v1/sites/dock-b/enrollment-tokens"))
        .bearer_auth(oms["token"].as_str().expect("secret"))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status().as_u16(), 403);
    let anonymous = h
        .http
        .post(format!("http://{http}/api/v1/sites/dock-b/enrollment-tokens"))
        .send()
        .await
        .expect("request");
    assert_eq!(anonymous.status().as_u16(), 401);
}
