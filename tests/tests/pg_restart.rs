//! PostgreSQL restarted in the middle of a catch-up: central notices, answers
//! "unavailable" meanwhile (the gateway keeps its backlog), reconnects by
//! itself, and the catch-up ends with every event applied exactly once.
//!
//! Restarts this machine's PostgreSQL cluster (`pg_ctlcluster`, as root), so it
//! is the only test in its binary; SKIPPED where that cannot be done.

use std::process::Command;
use std::time::Duration;

use waymark_sync::store::{CentralStore, StoreOptions};
use waymark_tests::harness::{GatewaySpec, Harness};
use waymark_tests::mqtt::{Publisher, publish_tag_reads};
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(120);

/// The local cluster's version and name, when PostgreSQL is this machine's.
fn local_cluster() -> Option<(String, String)> {
    let admin = waymark_sync::store::testing::admin_url();
    if !admin.contains("127.0.0.1") && !admin.contains("localhost") {
        return None;
    }
    let out = Command::new("pg_lsclusters").arg("--no-header").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("5432"))?;
    let mut words = line.split_whitespace();
    Some((words.next()?.to_string(), words.next()?.to_string()))
}

fn cluster(action: &str, version: &str, name: &str) -> anyhow::Result<()> {
    let mut cmd = Command::new("pg_ctlcluster");
    cmd.args(["--skip-systemctl-redirect", version, name, action]);
    if action == "stop" {
        cmd.args(["-m", "fast"]);
    }
    let status = cmd.status()?;
    anyhow::ensure!(status.success(), "pg_ctlcluster {action}: {status}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_mid_catch_up_loses_and_doubles_nothing() -> anyhow::Result<()> {
    let required = std::env::var("WAYMARK_REQUIRE_PG").is_ok_and(|v| v == "1");
    let Some((version, name)) = local_cluster() else {
        anyhow::ensure!(!required, "no local PostgreSQL cluster to restart");
        eprintln!("SKIPPED: no local PostgreSQL cluster this test may restart");
        return Ok(());
    };
    let h = match Harness::new(NODE)?.with_postgres() {
        Ok(h) => h,
        Err(e) if !required => {
            eprintln!("SKIPPED: {e}");
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    let central = h.start_central(None)?;
    let (grpc, http) = (central.ready.addr("grpc")?, central.ready.addr("http")?);
    let spec = GatewaySpec {
        max_payload_bytes: 64 * 1024,
        ..GatewaySpec::site("dc-north").recording_unmatched()
    };
    let gw = h.start_gateway(&spec, grpc, None)?;
    let mut p = Publisher::connect(gw.ready.addr("mqtt")?, "door-3");
    let total = 60_000;
    publish_tag_reads(&p, "waymark/dc-north/door-3/reads", 0, total, 500).await?;
    let hwm = || async {
        let (_, sites) = h.get_json(format!("http://{http}/api/v1/sites")).await.ok()?;
        sites["sites"].as_array()?.iter().find(|s| s["site_id"] == "dc-north")?["high_water_mark"].as_u64()
    };
    wait::until("the catch-up under way", TIMEOUT, || async {
        (hwm().await? >= 5_000).then_some(())
    })
    .await?;

    cluster("stop", &version, &name)?;
    let down = async {
        // While the database is down, central says so on its readiness probe.
        let ops = central.ready.addr("ops")?;
        wait::until("readyz to report the store unavailable", TIMEOUT, || async {
            let resp = h.http.get(format!("http://{ops}/readyz")).send().await.ok()?;
            (resp.status().as_u16() == 503).then_some(())
        })
        .await
    }
    .await;
    cluster("start", &version, &name)?;
    down?;

    p.wait_acked((total / 500) as u64, TIMEOUT).await?;
    wait::until("every event applied after the restart", TIMEOUT, || async {
        let last = h.status(&gw).await?["last_sequence"].as_u64()?;
        (last >= total as u64 && hwm().await? == last).then_some(())
    })
    .await?;
    let options = StoreOptions::postgres(&h.store_url()?.unwrap_or_default());
    let row = waymark_sync::store::testing::off_runtime(|| {
        CentralStore::connect(&options)?.read(|tx| {
            tx.query_opt(
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT event_id) AS BIGINT), \
                 CAST(MAX(seq) AS BIGINT) FROM events WHERE site_id = 'dc-north'",
                &[],
            )
        })
    })?
    .ok_or_else(|| anyhow::anyhow!("no row"))?;
    assert_eq!(
        (row.i64(0)?, row.i64(1)?, row.i64(2)?),
        (total as i64, total as i64, total as i64),
        "every event once"
    );
    Ok(())
}
