//! The API's authentication over a real socket: central started as in production,
//! its bootstrap admin token read from the file it writes.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;
use waymark_sync::RunningSync;
use waymark_sync::auth::secret;
use waymark_sync::config::RawConfig;

struct Central {
    running: RunningSync,
    shutdown: CancellationToken,
    api: String,
    admin: String,
    http: Client,
}

impl Central {
    async fn start(dir: &Path, extra_toml: &str) -> Self {
        let toml = format!(
            "data_dir = \"{}\"\ngrpc_listen = \"127.0.0.1:0\"\nhttp_listen = \"127.0.0.1:0\"\nops_listen = \"127.0.0.1:0\"\ncache_capacity_mb = 16\n{extra_toml}",
            dir.display()
        );
        let config = RawConfig::from_toml(&toml)
            .and_then(RawConfig::validate)
            .expect("valid config");
        let shutdown = CancellationToken::new();
        let running = waymark_sync::start(config, shutdown.clone()).await.expect("start");
        let admin = std::fs::read_to_string(&running.admin_token_file)
            .expect("admin token file")
            .trim()
            .to_string();
        Self {
            api: format!("http://{}/api/v1", running.http_addr),
            running,
            shutdown,
            admin,
            http: Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .expect("client"),
        }
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.running.wait(Duration::from_secs(5)).await;
    }

    async fn call(&self, method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.http.request(method, format!("{}{path}", self.api));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn issue(&self, name: &str, scopes: &[&str], ttl_secs: Option<u64>) -> String {
        let (status, body) = self
            .call(
                "POST",
                "/tokens",
                Some(&self.admin),
                Some(json!({ "name": name, "scopes": scopes, "ttl_secs": ttl_secs })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["token"].as_str().expect("token").to_string()
    }
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

fn order(number: &str) -> Value {
    json!({ "order_number": number, "site_id": "dc-1", "parcels": [{ "tracking_number": format!("1Z{number}") }] })
}

#[tokio::test]
async fn scopes_decide_and_tokens_can_be_revoked_or_expire() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Central::start(dir.path(), "").await;

    let resp = c.http.get(format!("{}/sites", c.api)).send().await.expect("send");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    let challenge = resp.headers().get("www-authenticate").expect("challenge");
    assert!(challenge.to_str().expect("ascii").starts_with("Bearer"));
    let body: Value = resp.json().await.expect("json");
    assert_eq!(message(&body), "missing bearer token");

    let oms = c.issue("oms", &["orders:write"], None).await;
    assert!(oms.starts_with("wm_"));
    let (status, body) = c.call("POST", "/orders", Some(&oms), Some(order("SO-1"))).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = c.call("GET", "/orders/SO-1", Some(&oms), None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(message(&body), "token `oms` lacks scope orders:read");

    let reader = c.issue("reader", &["orders:read"], None).await;
    let (status, body) = c.call("GET", "/orders/SO-1", Some(&reader), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        c.call("GET", "/sites", Some(&reader), None).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.call("GET", "/sites/dc-1/events", Some(&c.admin), None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        c.call("GET", "/tokens", Some(&reader), None).await.0,
        StatusCode::FORBIDDEN
    );

    let (status, listed) = c.call("GET", "/tokens", Some(&c.admin), None).await;
    assert_eq!(status, StatusCode::OK);
    let text = listed.to_string();
    for secret in [&oms, &reader, &c.admin] {
        assert!(!text.contains(secret.as_str()));
        assert!(!text.contains(&waymark_proto::hex(&secret::hash(secret))));
    }
    let tokens = listed["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 3, "{listed}");
    let reader_id = tokens
        .iter()
        .find(|t| t["name"] == "reader")
        .and_then(|t| t["id"].as_str())
        .expect("reader id");

    let (status, _) = c
        .call("DELETE", &format!("/tokens/{reader_id}"), Some(&c.admin), None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = c.call("GET", "/orders/SO-1", Some(&reader), None).await;
    assert_eq!(
        (status, message(&body)),
        (StatusCode::UNAUTHORIZED, "unknown or revoked token")
    );
    assert_eq!(
        c.call("DELETE", "/tokens/tok_missing", Some(&c.admin), None).await.0,
        StatusCode::NOT_FOUND
    );

    let brief = c.issue("brief", &["ops"], Some(1)).await;
    assert_eq!(c.call("GET", "/sites", Some(&brief), None).await.0, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (status, body) = c.call("GET", "/sites", Some(&brief), None).await;
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(message(&body), "token expired");
            break;
        }
        assert!(Instant::now() < deadline, "the token did not expire");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let (status, body) = c
        .call(
            "POST",
            "/tokens",
            Some(&c.admin),
            Some(json!({ "name": "x y", "scopes": ["root"], "ttl_secs": 0 })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(message(&body).split("; ").count(), 3, "{body}");

    let big = "x".repeat(waymark_sync::http::MAX_BODY_BYTES + 1);
    let resp = c
        .http
        .post(format!("{}/orders", c.api))
        .bearer_auth(&c.admin)
        .header("content-type", "application/json")
        .body(big)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    let metrics = c
        .http
        .get(format!("http://{}/metrics", c.running.ops_addr))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    for reason in ["missing", "scope", "revoked", "expired"] {
        assert!(
            metrics.contains(&format!("waymark_sync_api_auth_rejected_total{{reason=\"{reason}\"}}")),
            "{reason}: {metrics}"
        );
    }
    c.stop().await;
}

#[tokio::test]
async fn failed_attempts_from_one_client_are_rate_limited_and_valid_tokens_are_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Central::start(dir.path(), "").await;
    let burst = waymark_sync::auth::limiter::DEFAULT_BURST;
    for i in 0..burst {
        let (status, _) = c.call("GET", "/sites", Some(&format!("wm_guess{i}")), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {i}");
    }
    // The next guess is refused without being checked, and says when to retry.
    let resp = c
        .http
        .get(format!("{}/sites", c.api))
        .bearer_auth("wm_guess_next")
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok())
        .expect("Retry-After");
    assert!((1..=60).contains(&retry), "{retry}");
    // A valid token from the same address is never throttled by others' failures
    // (issue 21 item 4: behind a proxy, that address is everyone).
    let resp = c
        .http
        .get(format!("{}/sites", c.api))
        .bearer_auth(&c.admin)
        .send()
        .await
        .expect("send");
    assert_eq!(resp.status(), StatusCode::OK);
    c.stop().await;
}

#[tokio::test]
async fn bootstrap_token_is_private_and_survives_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let c = Central::start(dir.path(), "").await;
    let file = c.running.admin_token_file.clone();
    assert_eq!(file, dir.path().join("admin.token"));
    let mode = std::fs::metadata(&file).expect("stat").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let first = c.admin.clone();
    assert_eq!(c.call("GET", "/sites", Some(&first), None).await.0, StatusCode::OK);
    c.stop().await;

    let c = Central::start(dir.path(), "").await;
    assert_eq!(c.admin, first, "the file is not rewritten on restart");
    assert_eq!(c.call("GET", "/sites", Some(&first), None).await.0, StatusCode::OK);
    c.stop().await;
}

#[tokio::test]
async fn config_provisioned_tokens_work() {
    let dir = tempfile::tempdir().expect("tempdir");
    let secret = secret::generate().expect("random");
    let extra = format!(
        "[[api.tokens]]\nname = \"dashboard\"\nsha256 = \"{}\"\nscopes = [\"ops\"]\n",
        waymark_proto::hex(&secret::hash(&secret))
    );
    let c = Central::start(dir.path(), &extra).await;
    assert_eq!(c.call("GET", "/sites", Some(&secret), None).await.0, StatusCode::OK);
    let (status, body) = c.call("POST", "/orders", Some(&secret), Some(order("SO-2"))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(message(&body), "token `dashboard` lacks scope orders:write");
    let (status, _) = c.call("DELETE", "/tokens/cfg_dashboard", Some(&c.admin), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    c.stop().await;
}
