use std::net::{IpAddr, Ipv4Addr};
use std::os::unix::fs::PermissionsExt;

use super::*;

const CLIENT: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

fn open(dir: &Path, provisioned: &[ProvisionedToken], limiter: FailureLimiter) -> Gatekeeper {
    let store = Arc::new(CentralStore::open(&crate::store::StoreOptions::sqlite_in(dir)).expect("open store"));
    Gatekeeper::load(store, provisioned, Arc::new(SyncMetrics::default()), limiter).expect("load")
}

fn header(secret: &str) -> HeaderValue {
    HeaderValue::from_str(&format!("Bearer {secret}")).expect("header")
}

fn check(g: &Gatekeeper, secret: &str) -> Result<Principal, AuthRejection> {
    g.authenticate(Some(&header(secret)), CLIENT)
}

#[test]
fn bootstrap_writes_a_private_admin_token_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = {
        let g = open(dir.path(), &[], FailureLimiter::default());
        let path = g.bootstrap_admin(dir.path()).expect("bootstrap");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let secret = std::fs::read_to_string(&path).expect("read");
        let p = check(&g, secret.trim()).expect("the admin token works");
        assert!(p.allows(Scope::OrdersWrite) && p.allows(Scope::SitesEnroll));
        path
    };
    let before = std::fs::read_to_string(&path).expect("read");
    let g = open(dir.path(), &[], FailureLimiter::default());
    assert_eq!(g.bootstrap_admin(dir.path()).expect("bootstrap"), path);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), before, "not rewritten");
    assert_eq!(g.list().len(), 1);
    check(&g, before.trim()).expect("the admin token survives a restart");
}

#[test]
fn issued_tokens_carry_scopes_and_can_be_revoked_or_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = open(dir.path(), &[], FailureLimiter::default());
    let reader = g.issue("reader", vec![Scope::OrdersRead], None).expect("issue");
    assert!(
        !format!("{reader:?}").contains(&reader.secret),
        "Debug must hide the secret"
    );
    let p = check(&g, &reader.secret).expect("valid");
    assert_eq!(p.name, "reader");
    g.authorize(&p, Scope::OrdersRead).expect("has the scope");
    assert_eq!(
        g.authorize(&p, Scope::OrdersWrite),
        Err(AuthRejection::Forbidden {
            token: "reader".into(),
            scope: Scope::OrdersWrite
        })
    );
    assert!(matches!(g.revoke(&reader.record.id), Ok(Revoked::Revoked(_))));
    assert_eq!(check(&g, &reader.secret).err(), Some(AuthRejection::Revoked));
    assert!(matches!(g.revoke("tok_nope"), Ok(Revoked::NotFound)));

    let past = Utc::now().timestamp_millis() - 1;
    let old = g.issue("old", vec![Scope::Ops], Some(past)).expect("issue");
    assert_eq!(check(&g, &old.secret).err(), Some(AuthRejection::Expired));

    // Revocation and expiry are durable.
    drop(g);
    let g = open(dir.path(), &[], FailureLimiter::default());
    assert_eq!(check(&g, &reader.secret).err(), Some(AuthRejection::Revoked));
    assert_eq!(check(&g, &old.secret).err(), Some(AuthRejection::Expired));
    let listed = serde_json::to_string(&g.list()).expect("json");
    assert!(!listed.contains(&reader.secret) && !listed.contains(&reader.record.sha256));
}

#[test]
fn headers_are_parsed_strictly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = open(dir.path(), &[], FailureLimiter::new(1000, 1.0, 16));
    let t = g.issue("t", vec![Scope::Ops], None).expect("issue");
    let auth = |v: &str| g.authenticate(Some(&HeaderValue::from_str(v).expect("header")), CLIENT);
    assert!(
        auth(&format!("bearer   {}  ", t.secret)).is_ok(),
        "scheme is case-insensitive"
    );
    assert_eq!(g.authenticate(None, CLIENT).err(), Some(AuthRejection::Missing));
    for bad in [
        "Bearer",
        "Bearer ",
        "Basic abc",
        "Bearer a b",
        &format!("Token {}", t.secret),
    ] {
        assert_eq!(auth(bad).err(), Some(AuthRejection::Malformed), "{bad}");
    }
    let long = format!("Bearer {}", "a".repeat(secret::MAX_SECRET_LEN + 1));
    assert_eq!(auth(&long).err(), Some(AuthRejection::Malformed));
    assert_eq!(auth("Bearer wm_0000").err(), Some(AuthRejection::Unknown));
}

#[test]
fn config_tokens_work_and_cannot_be_revoked_through_the_api() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = secret::generate().expect("random");
    let provisioned = ProvisionedToken {
        name: "oms".into(),
        sha256: secret::hash(&secret),
        scopes: vec![Scope::OrdersWrite],
    };
    let g = open(dir.path(), &[provisioned], FailureLimiter::default());
    let p = check(&g, &secret).expect("valid");
    assert!(p.allows(Scope::OrdersWrite) && !p.allows(Scope::OrdersRead));
    assert!(matches!(g.revoke(&p.id), Ok(Revoked::Provisioned(name)) if name == "oms"));
    assert!(check(&g, &secret).is_ok());
    // A config token does not count as a stored one: bootstrap still happens.
    let file = g.bootstrap_admin(dir.path()).expect("bootstrap");
    assert!(file.exists());
}

#[test]
fn failing_credentials_are_limited_per_client_and_valid_tokens_never() {
    let dir = tempfile::tempdir().expect("tempdir");
    let g = open(dir.path(), &[], FailureLimiter::new(3, 0.001, 16));
    let t = g.issue("t", vec![Scope::Ops], None).expect("issue");
    for _ in 0..3 {
        assert_eq!(check(&g, "wm_guess").err(), Some(AuthRejection::Unknown));
    }
    assert!(matches!(check(&g, "wm_guess"), Err(AuthRejection::RateLimited { .. })));
    assert!(
        matches!(check(&g, "wm_another_guess"), Err(AuthRejection::RateLimited { .. })),
        "a blocked client cannot keep guessing with other tokens"
    );
    assert!(
        check(&g, &t.secret).is_ok(),
        "a valid token from the same address is never throttled"
    );
    assert!(matches!(
        g.authenticate(None, CLIENT),
        Err(AuthRejection::RateLimited { .. })
    ));
    let other = IpAddr::V4(Ipv4Addr::new(10, 1, 1, 1));
    assert_eq!(
        g.authenticate(Some(&header("wm_guess")), other).err(),
        Some(AuthRejection::Unknown),
        "another address has its own budget"
    );
    let metrics = g.metrics.render();
    assert!(
        metrics.contains("waymark_sync_api_auth_rejected_total{reason=\"unknown\"} 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("waymark_sync_api_auth_rejected_total{reason=\"rate_limited\"} 3"),
        "{metrics}"
    );
}
