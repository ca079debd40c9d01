//! One bad client must not lock out good tokens from the same address (issue
//! #21, item 4): failed authentications are limited for the failing
//! credentials, never for a request that presents a valid token. Over real
//! HTTP against a started central, everything from 127.0.0.1 (behind a reverse
//! proxy, every client shares one address like this).

use std::time::Duration;

use waymark_tests::harness::{Harness, metric};

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");

async fn status(h: &Harness, url: &str, token: &str) -> anyhow::Result<u16> {
    Ok(h.http.get(url).bearer_auth(token).send().await?.status().as_u16())
}

#[tokio::test]
async fn a_bad_token_from_one_address_does_not_lock_out_a_valid_one() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = h.start_central(None)?;
    let http = central.ready.addr("http")?;
    let url = format!("http://{http}/api/v1/tokens");
    let admin = h
        .api_token()
        .ok_or_else(|| anyhow::anyhow!("central wrote no admin token"))?;
    let bad = format!("wm_{}", "0".repeat(64));

    // The attacker spends the address's whole failure budget first (20 in a
    // burst), so every later bad request meets the limit.
    let mut bad_codes = Vec::new();
    for _ in 0..25 {
        bad_codes.push(status(&h, &url, &bad).await?);
    }
    // Then one bad token every 100 ms (the 2 s, compressed), with a
    // request carrying the valid admin token between each two.
    let mut good_codes = Vec::new();
    for _ in 0..20 {
        bad_codes.push(status(&h, &url, &bad).await?);
        good_codes.push(status(&h, &url, &admin).await?);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(good_codes, vec![200; 20], "valid-token requests were refused");
    assert!(
        bad_codes.iter().all(|c| *c == 401 || *c == 429),
        "a bad token was let through: {bad_codes:?}"
    );
    assert!(
        bad_codes.contains(&429),
        "the failing token was never limited: {bad_codes:?}"
    );

    // Guessing stays limited: other bad tokens from the address get 429 too,
    // but for the one failure or two the budget earned back meanwhile (one
    // every 2 s).
    let mut guesses = Vec::new();
    for n in 0..10 {
        guesses.push(status(&h, &url, &format!("wm_{n:064}")).await?);
    }
    let answered = guesses.iter().filter(|c| **c == 401).count();
    assert!(
        guesses.iter().all(|c| *c == 401 || *c == 429) && answered <= 2,
        "guessing with other tokens was not limited: {guesses:?}"
    );

    let text = h.metrics_of(&central).await?;
    assert!(
        metric(
            &text,
            "waymark_sync_api_auth_rejected_total",
            &["reason=\"rate_limited\""]
        ) >= 5.0,
        "{text}"
    );
    Ok(())
}
