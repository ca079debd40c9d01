//! The README's first command: the demo starts everything, prints where to look
//! (and where the API token is, and the split order's tracking page), and the
//! example order it prints gets its pack and load events.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use waymark_tests::harness::KillOnDrop;
use waymark_tests::wait;

#[tokio::test]
async fn demo_prints_where_to_look_and_its_example_order_fills_in() -> anyhow::Result<()> {
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_waymark-demo"))
            .args(["--duration-secs", "60"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            tx.send(line).ok();
        }
    });
    let mut url = None;
    let mut token_file = None;
    let mut tracking = None;
    while url.is_none() || tracking.is_none() {
        let line = rx.recv_timeout(Duration::from_secs(60))?;
        if let Some(path) = line.trim_start().strip_prefix("API token file") {
            token_file = Some(path.trim().to_string());
        }
        if let Some(rest) = line.trim_start().strip_prefix("tracking page") {
            tracking = rest.split_whitespace().next().map(String::from);
        }
        if let Some(found) = line
            .split_whitespace()
            .find(|w| w.starts_with("http://") && w.ends_with("/api/v1/orders/SO-1001"))
        {
            url = Some(found.to_string());
        }
    }
    let url = url.ok_or_else(|| anyhow::anyhow!("no example order printed"))?;
    let token_file = token_file.ok_or_else(|| anyhow::anyhow!("no API token file printed"))?;
    let token = std::fs::read_to_string(&token_file)?.trim().to_string();
    let http = reqwest::Client::new();
    // The printed tracking link opens the split order's page: both parcels.
    let tracking = tracking.ok_or_else(|| anyhow::anyhow!("no tracking page printed"))?;
    let page = http.get(&tracking).send().await?;
    assert_eq!(page.status(), 200, "{tracking}");
    let page = page.text().await?;
    assert_eq!(page.matches("data-parcel=").count(), 2, "{page}");
    let timeline = wait::until(
        "the example order's pack and load events",
        Duration::from_secs(45),
        || async {
            let order: serde_json::Value = http
                .get(&url)
                .bearer_auth(&token)
                .send()
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            let steps: Vec<String> = order["timeline"]
                .as_array()?
                .iter()
                .filter_map(|e| e["business_step"].as_str().map(String::from))
                .collect();
            (steps.len() >= 2).then_some(steps)
        },
    )
    .await?;
    assert_eq!(timeline, ["packing", "loading"]);
    Ok(())
}
