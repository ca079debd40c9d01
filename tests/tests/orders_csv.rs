//! CSV intake of 10,000 orders with 37 bad rows: the good orders are imported
//! over HTTP, every bad row is reported by line and reason, and importing the
//! same file again with `waymark-sync import-orders` changes nothing.

use std::process::Command;

use waymark_tests::harness::Harness;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const ORDERS: usize = 10_000;

/// The file, and the lines (1 is the header) that are bad.
fn file() -> (String, Vec<u64>) {
    let mut csv = String::from(
        "order_number,order_type,email,site_id,carrier,shipment_tracking_number,promised_delivery,sscc,tracking_number,sku,quantity\n",
    );
    let mut bad = Vec::new();
    for i in 0..ORDERS {
        let line = i as u64 + 2;
        let mut row = [
            format!("SO-{i:05}"),
            "routine".to_string(),
            format!("buyer{i}@example.com"),
            format!("dc-{}", i % 40),
            "ups".to_string(),
            format!("1Z{i:08}"),
            "2026-12-10".to_string(),
            String::new(),
            format!("P{i:08}"),
            format!("SKU-{}", i % 97),
            "1".to_string(),
        ];
        // 37 rows, each wrong in one of the ways people get CSVs wrong.
        if i % 270 == 13 && bad.len() < 37 {
            match bad.len() % 6 {
                0 => row[3] = "DC 7".into(),
                1 => row[10] = "two".into(),
                2 => row[7] = "106141412345678900".into(),
                3 => row[2] = "not-an-email".into(),
                4 => row[6] = "10/12/2026".into(),
                _ => row[1] = "Priority!".into(),
            }
            bad.push(line);
        }
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    assert_eq!(bad.len(), 37);
    (csv, bad)
}

#[tokio::test]
async fn ten_thousand_orders_with_37_bad_rows_import_once() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let (csv, bad) = file();
    let url = format!("http://{}/api/v1/orders/import", central.ready.addr("http")?);
    let resp = h
        .request(reqwest::Method::POST, &url)
        .header("content-type", "text/csv")
        // 10,000 orders on PostgreSQL in a debug build take longer than the client's default.
        .timeout(std::time::Duration::from_secs(300))
        .body(csv.clone())
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    let report: serde_json::Value = resp.json().await?;
    assert_eq!(report["created"], 9_963, "{}", report["problems"]);
    assert_eq!(report["rejected_orders"], 37);
    let problems = report["problems"].as_array().cloned().unwrap_or_default();
    let lines: Vec<u64> = problems.iter().filter_map(|p| p["line"].as_u64()).collect();
    assert_eq!(lines, bad);
    assert!(
        problems
            .iter()
            .all(|p| !p["reason"].as_str().unwrap_or_default().is_empty())
    );
    assert!(
        problems[0]["reason"].as_str().unwrap_or_default().contains("site_id"),
        "{}",
        problems[0]
    );

    let (code, v) = h
        .get_json(format!("http://{}/api/v1/orders/SO-00000", central.ready.addr("http")?))
        .await?;
    assert_eq!(
        (code, &v["customer"]["email"]),
        (200, &serde_json::json!("buyer0@example.com"))
    );
    let (code, _) = h
        .get_json(format!("http://{}/api/v1/orders/SO-00013", central.ready.addr("http")?))
        .await?;
    assert_eq!(code, 404, "a bad row's order is not imported");

    // The same file again, by the command an operator runs.
    let path = h.path("orders.csv");
    std::fs::write(&path, &csv)?;
    let mut cmd = Command::new(NODE);
    cmd.args(["sync", "import-orders"])
        .arg(&path)
        .arg("--data-dir")
        .arg(h.path("central"));
    if let Some(url) = h.store_url()? {
        cmd.args(["--store-url", &url]);
    }
    let out = cmd.output()?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "exit 1: some orders were not imported\n{stdout}"
    );
    assert!(
        stdout.contains("10000 rows, 10000 orders: 0 created, 0 updated, 9963 unchanged, 37 not imported"),
        "{stdout}"
    );
    for line in &bad {
        assert!(
            stdout.contains(&format!("orders.csv:{line}: ")),
            "line {line} reported:\n{stdout}"
        );
    }
    Ok(())
}
