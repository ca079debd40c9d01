//! Central on SQL, over real processes: two central processes on one
//! PostgreSQL with a gateway moved between them by `kill -9`, a cloned site
//! identity fenced, and a store that cannot be reached or is too new refused
//! at start with what to do. Tests that need PostgreSQL say SKIPPED without it
//! (CI sets `WAYMARK_REQUIRE_PG=1`, which makes that a failure).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use waymark_sync::store::{CentralStore, StoreOptions};
use waymark_tests::harness::{GatewaySpec, Harness, Node, metric};
use waymark_tests::mqtt::{Publisher, publish_tag_reads};
use waymark_tests::proxy::Proxy;
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(120);

/// A harness on PostgreSQL, or `None` (SKIPPED) when there is none to be had.
fn on_postgres() -> anyhow::Result<Option<Harness>> {
    match Harness::new(NODE)?.with_postgres() {
        Ok(h) => Ok(Some(h)),
        Err(e) if std::env::var("WAYMARK_REQUIRE_PG").is_ok_and(|v| v == "1") => Err(e),
        Err(e) => {
            eprintln!("SKIPPED: no PostgreSQL ({e})");
            Ok(None)
        }
    }
}

/// Counts of the site's stored events straight from the database: (rows,
/// distinct event ids, lowest and highest sequence).
fn stored(h: &Harness, site: &str) -> anyhow::Result<(i64, i64, i64, i64)> {
    let url = h.store_url()?.ok_or_else(|| anyhow::anyhow!("not on PostgreSQL"))?;
    let options = StoreOptions {
        pool_size: 1,
        ..StoreOptions::postgres(&url)
    };
    let row = waymark_sync::store::testing::off_runtime(|| {
        CentralStore::connect(&options)?.read(|tx| {
            tx.query_opt(
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT event_id) AS BIGINT), \
                 CAST(COALESCE(MIN(seq), 0) AS BIGINT), CAST(COALESCE(MAX(seq), 0) AS BIGINT) \
                 FROM events WHERE site_id = $1",
                &[site.into()],
            )
        })
    })?;
    let row = row.ok_or_else(|| anyhow::anyhow!("no row"))?;
    Ok((row.i64(0)?, row.i64(1)?, row.i64(2)?, row.i64(3)?))
}

async fn hwm(h: &Harness, http: SocketAddr, site: &str) -> Option<u64> {
    let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
    sites["sites"].as_array()?.iter().find(|s| s["site_id"] == site)?["high_water_mark"].as_u64()
}

async fn last_sequence(h: &Harness, gw: &Node) -> Option<u64> {
    h.status(gw).await?["last_sequence"].as_u64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_moved_between_replicas_by_kill_dash_nine_is_applied_exactly_once() -> anyhow::Result<()> {
    let Some(h) = on_postgres()? else { return Ok(()) };
    let total: usize = std::env::var("WAYMARK_FAILOVER_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200_000);
    let mut first = h.start_central_in("central", None)?;
    let second = h.start_central_in("central-b", None)?;
    let (http_a, http_b) = (first.ready.addr("http")?, second.ready.addr("http")?);
    // The gateway reaches central through a load balancer.
    let lb = Proxy::start(first.ready.addr("grpc")?).await?;

    // An order created through one replica is served by the other.
    let order = json!({ "order_number": "SO-REPLICA", "site_id": "dc-north",
                        "parcels": [{ "tracking_number": "1ZREPLICA01" }] });
    let (code, _) = h.post_json(format!("http://{http_a}/api/v1/orders"), &order).await?;
    anyhow::ensure!(code == 201, "create through the first replica: {code}");
    let (code, body) = h.get_json(format!("http://{http_b}/api/v1/orders/SO-REPLICA")).await?;
    anyhow::ensure!(code == 200, "read through the second replica: {code} {body}");
    assert_eq!(body["parcels"][0]["tracking_number"], "1ZREPLICA01");

    let spec = GatewaySpec {
        max_payload_bytes: 64 * 1024,
        ..GatewaySpec::site("dc-north").recording_unmatched()
    };
    let gw = h.start_gateway(&spec, lb.addr, None)?;
    let mut p = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    let per_payload = 500;
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 0, total, per_payload).await?;
    // Mid-stream: the first replica has some of the events, not all.
    let cut = (total / 5) as u64;
    wait::until("the first replica mid-stream", TIMEOUT, || async {
        (hwm(&h, http_a, "dc-north").await? >= cut).then_some(())
    })
    .await?;
    first.kill();
    lb.retarget(second.ready.addr("grpc")?);
    p.wait_acked(total.div_ceil(per_payload) as u64, TIMEOUT).await?;
    let last = wait::until("every event applied through the second replica", TIMEOUT, || async {
        let last = last_sequence(&h, &gw).await?;
        (last >= total as u64 && hwm(&h, http_b, "dc-north").await? == last).then_some(last)
    })
    .await?;
    let (rows, ids, min, max) = stored(&h, "dc-north")?;
    assert_eq!(last, total as u64, "one event per distinct tag");
    assert_eq!(
        (rows, ids, min, max),
        (total as i64, total as i64, 1, total as i64),
        "every event stored exactly once, sequences 1..=N"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_gateways_with_one_identity_are_fenced_and_never_double_an_event() -> anyhow::Result<()> {
    let Some(h) = on_postgres()? else { return Ok(()) };
    let central = h.start_central(None)?;
    let (grpc, http, ops) = (
        central.ready.addr("grpc")?,
        central.ready.addr("http")?,
        central.ready.addr("ops")?,
    );
    let spec = GatewaySpec::site("dc-north").recording_unmatched();
    let clone = GatewaySpec {
        instance: Some("dc-north-clone".into()),
        ..GatewaySpec::site("dc-north").recording_unmatched()
    };
    let gw = h.start_gateway(&spec, grpc, None)?;
    let gw2 = h.start_gateway(&clone, grpc, None)?;
    let p1 = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    let p2 = Publisher::connect(gw2.ready.addr("mqtt")?, "door-3");
    // Both sites keep sending while both are connected.
    for round in 0..20 {
        publish_tag_reads(&p1, "waymark/dc-north/door-3/reads", round * 1_000, 1_000, 100).await?;
        publish_tag_reads(
            &p2,
            "waymark/dc-north/door-3/reads",
            500_000 + round * 1_000,
            1_000,
            100,
        )
        .await?;
    }
    let fenced = wait::until("the older stream fenced", TIMEOUT, || async {
        let text = h.get_text(format!("http://{ops}/metrics")).await.ok()?;
        let n = metric(&text, "waymark_sync_streams_fenced_total", &["site=\"dc-north\""]);
        (n >= 1.0).then_some(n)
    })
    .await?;
    assert!(fenced >= 1.0);
    wait::until("events applied meanwhile", TIMEOUT, || async {
        (hwm(&h, http, "dc-north").await? >= 1_000).then_some(())
    })
    .await?;
    let log = std::fs::read_to_string(h.path("central.log"))?;
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("replication stream fenced")),
        "the fence is logged at ERROR"
    );
    // Whatever each clone sent, central holds one event per sequence and never
    // one event twice.
    let mark = hwm(&h, http, "dc-north").await.unwrap_or(0);
    let (rows, ids, min, max) = stored(&h, "dc-north")?;
    assert_eq!(rows, ids, "no event stored twice");
    assert!(
        rows > 0 && min == 1 && max >= rows,
        "{rows} rows, sequences {min}..={max}"
    );
    assert!(mark as i64 <= max + 1);
    Ok(())
}

#[tokio::test]
async fn a_store_that_cannot_be_reached_fails_the_start_naming_it_without_its_password() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    // Nothing listens on port 1; a role that does not exist on the local server.
    let unreachable = "postgres://waymark:s3cret-pw@127.0.0.1:1/waymark";
    let no_role = format!(
        "{}?user=no_such_role_waymark&password=zz-secret",
        waymark_sync::store::testing::admin_url()
            .split('?')
            .next()
            .unwrap_or_default()
    );
    for (url, reason) in [
        (unreachable, "connection refused"),
        (no_role.as_str(), "does not exist"),
    ] {
        let out = std::process::Command::new(NODE)
            .args(["sync", "run", "--data-dir"])
            .arg(dir.path())
            .args(["--store-url", url, "--http-listen", "127.0.0.1:0", "--grpc-listen"])
            .args(["127.0.0.1:0", "--ops-listen", "127.0.0.1:0", "--insecure-plaintext"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{url}: started anyway");
        assert!(!text.contains("panicked"), "{text}");
        assert!(
            !text.contains("s3cret-pw") && !text.contains("zz-secret"),
            "a password in the message: {text}"
        );
        assert!(text.contains("***"), "the URL is named, redacted: {text}");
        assert!(text.to_lowercase().contains(reason), "the reason, {reason}: {text}");
    }
    // A URL that is neither SQLite nor PostgreSQL is a config problem, reported as such.
    let out = std::process::Command::new(NODE)
        .args(["sync", "run", "--data-dir"])
        .arg(dir.path())
        .args(["--store-url", "mysql://root:hunter2@db/x"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{text}");
    assert!(text.contains("store.url") && !text.contains("hunter2"), "{text}");
    Ok(())
}

#[tokio::test]
async fn a_schema_newer_than_the_binary_is_refused_at_start() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    {
        let store = CentralStore::open(&StoreOptions::sqlite_in(dir.path()))?;
        store.write(|tx| {
            tx.execute(
                "INSERT INTO schema_migrations (version, name, applied_ms) VALUES ($1, 'from-the-future', 0)",
                &[(waymark_sync::store::SCHEMA_VERSION + 1).into()],
            )
        })?;
    }
    let out = std::process::Command::new(NODE)
        .args(["sync", "run", "--data-dir"])
        .arg(dir.path())
        .args(["--http-listen", "127.0.0.1:0", "--grpc-listen", "127.0.0.1:0"])
        .args(["--ops-listen", "127.0.0.1:0", "--insecure-plaintext"])
        .output()?;
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(text.contains("newer than this waymark-sync"), "{text}");
    assert!(!text.contains("panicked"), "{text}");
    Ok(())
}
