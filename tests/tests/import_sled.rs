//! Upgrading a central data directory of the sled release: the new version
//! refuses to start on it until `waymark-sync import-sled` has copied it; the
//! import brings every event, mark, gap, order (with its downlink revision),
//! token and the CA; a second run adds nothing; the old admin token still works.

use std::path::Path;
use std::process::Command;

use waymark_proto::v1::{Event, GatewayStatus, Identifier};
use waymark_sync::legacy_sled::{NewOrder, NewParcel, SledStore, TokenRecord};
use waymark_sync::store::{CentralStore, StoreOptions};
use waymark_tests::harness::Harness;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const ADMIN_SECRET: &str = "wmk_old_release_admin_token_0123456789abcdef";

fn event(site: &str, seq: u64) -> Event {
    Event {
        site_id: site.into(),
        sequence: seq,
        event_id: format!("{site}-{seq}"),
        event_time_ms: 1_700_000_000_000 + seq as i64,
        identifiers: vec![Identifier {
            kind: 1,
            value: format!("urn:epc:id:sscc:0614141.{:010}", seq % 50),
        }],
        order_number: if seq % 50 == 1 {
            "SO-OLD-1".into()
        } else {
            String::new()
        },
        ..Event::default()
    }
}

/// A data directory as the sled release wrote it: two sites' events (one with
/// a gap and an event sent ahead of its mark), orders, tokens, a status
/// report, an enrollment token and central's own CA.
fn old_release(dir: &Path) -> anyhow::Result<()> {
    let sled = SledStore::open(&dir.join("store"), 8 << 20)?;
    let north: Vec<Event> = (1..=3_000).map(|s| event("dc-north", s)).collect();
    for batch in north.chunks(700) {
        sled.apply("dc-north", batch)?;
    }
    sled.apply_expedited("dc-north", &[event("dc-north", 3_010)])?;
    let south: Vec<Event> = (1..=40).map(|s| event("dc-south", s)).collect();
    sled.apply("dc-south", &south)?;
    sled.record_gap("dc-south", 41, 60, "restored from an old backup", 1)?;
    sled.apply("dc-south", &(61..=80).map(|s| event("dc-south", s)).collect::<Vec<_>>())?;
    for (n, site) in [(1, "dc-north"), (2, "dc-south"), (3, "dc-north")] {
        sled.create_order(
            NewOrder {
                order_number: format!("SO-OLD-{n}"),
                site_id: site.into(),
                parcels: vec![NewParcel {
                    sscc: Some(format!("urn:epc:id:sscc:0614141.{n:010}")),
                    ..NewParcel::default()
                }],
            },
            n,
        )?;
    }
    let hash = |s: &str| waymark_proto::hex(&waymark_sync::auth::secret::hash(s));
    sled.insert_token(&TokenRecord {
        id: "tok_admin".into(),
        name: "admin".into(),
        sha256: hash(ADMIN_SECRET),
        scopes: vec![waymark_sync::auth::Scope::Admin],
        created_ms: 1,
        expires_ms: None,
        revoked: false,
    })?;
    sled.insert_token(&TokenRecord {
        id: "tok_gone".into(),
        name: "old-oms".into(),
        sha256: hash("wmk_revoked_token_of_the_old_release_000000"),
        scopes: vec![waymark_sync::auth::Scope::OrdersWrite],
        created_ms: 2,
        expires_ms: None,
        revoked: false,
    })?;
    sled.revoke_token("tok_gone")?;
    sled.put_enrollment_token(
        &[7; 32],
        &waymark_sync::legacy_sled::EnrollmentToken {
            site: "dc-east".into(),
            created_ms: 1,
            expires_ms: i64::MAX,
            used_ms: None,
        },
    )?;
    sled.put_status(&GatewayStatus {
        site_id: "dc-north".into(),
        last_sequence: 3_010,
        reported_ms: 5,
        ..GatewayStatus::default()
    })?;
    drop(sled);
    // Central created its CA in `pki/` on first start.
    let ca = waymark_tests::pki::TestCa::new("old central CA")?;
    ca.write(&dir.join("pki"))?;
    Ok(())
}

fn import(from: &Path, store_url: &Option<String>) -> anyhow::Result<String> {
    let mut cmd = Command::new(NODE);
    cmd.args(["sync", "import-sled", "--from"])
        .arg(from)
        .arg("--data-dir")
        .arg(from);
    if let Some(url) = store_url {
        cmd.args(["--store-url", url]);
    }
    let out = cmd.output()?;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    anyhow::ensure!(out.status.success(), "import-sled failed: {text}");
    Ok(text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_sled_brings_everything_once_and_the_old_admin_token_still_works() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let dir = h.path("central");
    old_release(&dir)?;
    let store_url = h.store_url()?;

    // Not imported yet: the new version says what to do instead of starting empty.
    let err = match h.start_central(None) {
        Ok(_) => anyhow::bail!("central started on an unimported sled data directory"),
        Err(e) => e,
    };
    let log = std::fs::read_to_string(h.path("central.log"))?;
    assert!(log.contains("import-sled --from"), "{err}: {log}");

    let first = import(&dir, &store_url)?;
    assert!(
        first.contains("3061 events of 2 sites") && first.contains("1 gaps") && first.contains("3 orders"),
        "{first}"
    );
    assert!(
        first.contains("2 API tokens") && first.contains("1 enrollment tokens") && first.contains("the CA"),
        "{first}"
    );
    let second = import(&dir, &store_url)?;
    assert!(
        second.contains(": 0 events of 2 sites, 0 gaps, 0 orders, 0 API tokens, 0 enrollment tokens"),
        "a second run adds nothing: {second}"
    );

    let options = match &store_url {
        Some(url) => StoreOptions::postgres(url),
        None => StoreOptions::sqlite_in(&dir),
    };
    waymark_sync::store::testing::off_runtime(|| -> anyhow::Result<()> {
        let store = CentralStore::connect(&options)?;
        assert_eq!(store.high_water_mark("dc-north")?, 3_000);
        assert_eq!(store.high_water_mark("dc-south")?, 80);
        assert_eq!(
            store.site_events("dc-north", 0, 10_000)?.len(),
            3_001,
            "with the one ahead of the mark"
        );
        assert_eq!(store.site_events("dc-south", 0, 10_000)?.len(), 60);
        assert_eq!(store.gaps("dc-south")?.len(), 1);
        let revs: Vec<u64> = store
            .order_revisions("dc-north", 0, 10)?
            .iter()
            .map(|r| r.revision)
            .collect();
        assert_eq!(revs, [1, 2], "the downlink numbering the gateways hold");
        assert!(store.stored_ca()?.is_some());
        assert_eq!(store.tokens()?.iter().filter(|t| t.revoked).count(), 1);
        Ok(())
    })?;

    // Central starts on it now, and the old admin token works.
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let resp = h
        .http
        .get(format!("http://{http}/api/v1/orders/SO-OLD-1"))
        .bearer_auth(ADMIN_SECRET)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    let order: serde_json::Value = resp.json().await?;
    // Every event naming its parcel or its number, at both sites.
    assert_eq!(order["timeline"].as_array().map(Vec::len), Some(61), "{order}");
    Ok(())
}
