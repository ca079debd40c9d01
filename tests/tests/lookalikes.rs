//! Look-alike identifiers (issue #21, item 6): `SO-1001` with a zero-width
//! space or a right-to-left override inside renders like the real order, so
//! central refuses it with a 422 that names the field and the code point,
//! stores nothing, and counts the refusal by reason. Over real HTTP against a
//! started central, through the JSON API and the CSV import.

use serde_json::{Value, json};
use waymark_tests::harness::{Harness, metric};

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");

fn order(number: &str, tracking: &str) -> Value {
    json!({
        "order_number": number,
        "site_id": "dc-north",
        "parcels": [{ "tracking_number": tracking }],
    })
}

#[tokio::test]
async fn an_order_number_with_a_hidden_character_is_refused_and_not_stored() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let ops = central.ready.addr("ops")?;

    let (code, body) = h
        .post_json(format!("http://{http}/api/v1/orders"), &order("SO-1001", "1Z-REAL"))
        .await?;
    assert_eq!(code, 201, "{body}");

    for (spoof, point) in [("SO-10\u{200B}01", "U+200B"), ("SO-\u{202E}1001", "U+202E")] {
        let (code, body) = h
            .post_json(format!("http://{http}/api/v1/orders"), &order(spoof, "1Z-SPOOF"))
            .await?;
        assert_eq!(code, 422, "{spoof:?} was not refused: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("order_number") && message.contains(point),
            "the refusal names neither the field nor {point}: {message}"
        );
    }
    // A hidden character deeper in the order is named with its path.
    let nested = order("SO-1002", "1Z\u{FEFF}-OTHER");
    let (code, body) = h.post_json(format!("http://{http}/api/v1/orders"), &nested).await?;
    assert_eq!(code, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("parcels[0].tracking_number") && message.contains("U+FEFF"),
        "{message}"
    );

    // The CSV import refuses the same row and imports the good one.
    let csv = "order_number,site_id,tracking_number\nSO-2001,dc-north,1Z-CSV-1\nSO-20\u{200B}01,dc-north,1Z-CSV-2\n";
    let resp = h
        .request(reqwest::Method::POST, &format!("http://{http}/api/v1/orders/import"))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await?;
    assert_eq!(resp.status().as_u16(), 200);
    let report: Value = resp.json().await?;
    assert_eq!(report["created"], 1, "{report}");
    assert_eq!(report["rejected_orders"], 1, "{report}");
    assert!(report["problems"].to_string().contains("U+200B"), "{report}");

    // Only the real orders are stored: the spoofs are not in the listing.
    let (code, page) = h.get_json(format!("http://{http}/api/v1/orders?limit=100")).await?;
    assert_eq!(code, 200, "{page}");
    let mut numbers: Vec<String> = page["orders"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .iter()
        .filter_map(|o| o["order_number"].as_str().map(String::from))
        .collect();
    numbers.sort();
    assert_eq!(numbers, ["SO-1001", "SO-2001"]);

    // A look-up by a spoofed number is refused the same way, not a 404.
    let (code, body) = h
        .get_json(format!("http://{http}/api/v1/orders/SO-10%E2%80%8B01"))
        .await?;
    assert_eq!(code, 422, "{body}");

    // Three refused submissions and one refused CSV order.
    let text = h.get_text(format!("http://{ops}/metrics")).await?;
    assert_eq!(
        metric(
            &text,
            "waymark_sync_orders_rejected_total",
            &["reason=\"hidden_character\""]
        ),
        4.0,
        "{text}"
    );
    Ok(())
}
