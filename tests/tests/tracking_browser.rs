//! The customer tracking page in a real browser (issue #16's acceptance):
//! headless Chromium at a phone's size, driven over WebDriver against a
//! central process. The lookup form finds a split order and shows both
//! parcels with their statuses; a wrong email gets exactly the page an
//! unknown order gets; signed links open the order and expired or tampered
//! ones do not; German and French pages are translated with localized dates;
//! axe-core finds no serious or critical WCAG 2.1 A/AA violation on the
//! lookup form, the order page and the not-found page.
//!
//! One central and one browser session serve every case (starting Chromium
//! costs seconds). Screenshots and axe reports go to
//! `target/test-artifacts/tracking/` (or `$WAYMARK_ARTIFACTS/tracking/`).
//! Says SKIPPED without Chromium, chromedriver or axe-core, unless
//! `WAYMARK_REQUIRE_BROWSER=1` (CI).

use std::collections::BTreeMap;

use anyhow::Context;
use fantoccini::Locator;
use serde_json::{Value, json};
use waymark_sync::tracking::{LinkKey, mint};
use waymark_tests::browser::Browser;
use waymark_tests::harness::{Harness, Node};

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const KEY_ID: &str = "k1";
/// The link key central is configured with; the test mints expired links with it.
const KEY_SECRET: &str = "browser-test-link-key-0123456789abcdef";
const ORDER: &str = "SO-7001";
const EMAIL: &str = "kim@example.com";
/// What each parcel of [`ORDER`] reads after the corrections below.
const STATUSES: [(&str, &str); 2] = [("SO-7001-1", "in_transit"), ("SO-7001-2", "delivered")];

struct Shop {
    h: Harness,
    _central: Node,
    base: String,
}

impl Shop {
    async fn start() -> anyhow::Result<Self> {
        let h = Harness::new(NODE)?;
        let config = h.path("central.toml");
        std::fs::write(
            &config,
            // The test makes eight failed lookups from one client, near the
            // default burst of ten; rate limits are not its subject.
            format!(
                "[tracking]\nclient_failures_burst = 100\nlink_keys = [{{ id = \"{KEY_ID}\", secret = \"{KEY_SECRET}\" }}]\n"
            ),
        )?;
        let central = h.start_central_with("central", None, &["--config".into(), config.display().to_string()])?;
        let base = format!("http://{}", central.ready.addr("http")?);
        let shop = Self {
            h,
            _central: central,
            base,
        };
        shop.split_order().await?;
        Ok(shop)
    }

    /// A split order of two parcels: one in transit, one delivered, promised
    /// in December (a month every language names differently).
    async fn split_order(&self) -> anyhow::Result<()> {
        let body = json!({
            "order_number": ORDER, "order_type": "routine", "brand": "Acme Outdoor",
            "customer": {"email": EMAIL, "postal_code": "10115", "time_zone": "Europe/Berlin", "language": "en"},
            "shipments": [
                {"site_id": "dc-north", "carrier": "ups", "tracking_number": "1ZNORTH7001",
                 "promised_delivery": "2026-12-09",
                 "parcels": [{"sscc": "106141412345678908", "items": [{"sku": "TENT-2P", "quantity": 1}]}]},
                {"site_id": "dc-south", "carrier": "dhl", "tracking_number": "JDSOUTH7001",
                 "promised_delivery": {"earliest": "2026-12-01", "latest": "2026-12-03"},
                 "parcels": [{"sscc": "106141412345678915", "items": [{"sku": "MAT", "quantity": 2}]}]}
            ]
        });
        let (code, v) = self.h.post_json(self.url("/api/v1/orders"), &body).await?;
        anyhow::ensure!(code == 201, "create order: {code} {v}");
        for ((parcel, milestone), at) in STATUSES.iter().zip(["2026-11-30T08:00:00Z", "2026-12-02T13:30:00Z"]) {
            let (code, v) = self
                .h
                .post_json(
                    self.url(&format!("/api/v1/orders/{ORDER}/parcels/{parcel}/corrections")),
                    &json!({"action": "assert", "milestone": milestone, "reason": "browser test", "event_time": at}),
                )
                .await?;
            anyhow::ensure!(code == 201, "correct {parcel}: {code} {v}");
        }
        Ok(())
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A signed link to [`ORDER`] from the admin API: its path.
    async fn signed_link(&self) -> anyhow::Result<String> {
        let (code, v) = self
            .h
            .post_json(self.url(&format!("/api/v1/orders/{ORDER}/tracking-link")), &json!({}))
            .await?;
        anyhow::ensure!(code == 201, "tracking link: {code} {v}");
        let path = v["url"].as_str().context("tracking link has no url")?;
        anyhow::ensure!(path.starts_with("/track/"), "tracking link url: {v}");
        Ok(path.to_string())
    }

    /// `POST /track` as a form outside the browser: status and body bytes.
    async fn post_lookup(&self, order: &str, email: &str) -> anyhow::Result<(u16, Vec<u8>)> {
        let body = format!("order_number={}&email={}", form_encode(order), form_encode(email));
        let resp = self
            .h
            .http
            .post(self.url("/track"))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await?;
        Ok((resp.status().as_u16(), resp.bytes().await?.to_vec()))
    }

    async fn get_status(&self, path: &str) -> anyhow::Result<u16> {
        Ok(self.h.http.get(self.url(path)).send().await?.status().as_u16())
    }
}

fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Fills the lookup form at `/track` in the browser and submits it.
async fn look_up(browser: &Browser, shop: &Shop, order: &str, email: &str) -> anyhow::Result<()> {
    browser.goto(&shop.url("/track")).await?;
    browser.wait_for("form[action='/track']").await?;
    let form = browser.client.find(Locator::Css("form[action='/track']")).await?;
    form.find(Locator::Id("order_number")).await?.send_keys(order).await?;
    form.find(Locator::Id("email")).await?.send_keys(email).await?;
    form.find(Locator::Css("[type=submit]")).await?.click().await?;
    Ok(())
}

/// Each parcel on the page: its id and `data-status`.
async fn parcels(browser: &Browser) -> anyhow::Result<BTreeMap<String, String>> {
    let v = browser
        .client
        .execute(
            "return [...document.querySelectorAll('[data-parcel]')].map(e => [e.dataset.parcel, e.dataset.status || '']);",
            vec![],
        )
        .await?;
    let pairs: Vec<(String, String)> = serde_json::from_value(v)?;
    Ok(pairs.into_iter().collect())
}

fn expected_parcels() -> BTreeMap<String, String> {
    STATUSES.iter().map(|(p, s)| (p.to_string(), s.to_string())).collect()
}

/// The visible text of the page.
async fn text(browser: &Browser) -> anyhow::Result<String> {
    let v = browser
        .client
        .execute("return document.body.innerText;", vec![])
        .await?;
    v.as_str().map(str::to_string).context("innerText")
}

async fn html_lang(browser: &Browser) -> anyhow::Result<Value> {
    Ok(browser
        .client
        .execute("return document.documentElement.lang;", vec![])
        .await?)
}

/// The order page shows both parcels with their statuses, in a `<main>`
/// landmark with a live `role=status`.
async fn order_page_shows_both_parcels(browser: &Browser) -> anyhow::Result<()> {
    browser.wait_for("[data-parcel]").await?;
    assert_eq!(
        parcels(browser).await?,
        expected_parcels(),
        "on {}",
        browser.url().await
    );
    browser.wait_for("main").await?;
    let live = browser.wait_for("[role=status]").await?.text().await?;
    assert!(
        !live.trim().is_empty(),
        "the live status is empty on {}",
        browser.url().await
    );
    Ok(())
}

#[tokio::test]
async fn a_customer_tracks_a_split_order_in_a_real_browser() -> anyhow::Result<()> {
    let Some(browser) = Browser::start_or_skip("tracking").await? else {
        return Ok(());
    };
    let shop = Shop::start().await?;
    let outcome = acceptance(&browser, &shop).await;
    let closed = browser.close().await;
    outcome?;
    closed
}

async fn acceptance(browser: &Browser, shop: &Shop) -> anyhow::Result<()> {
    // axe-core runs and finds a known violation, so "none found" below means something.
    browser
        .goto("data:text/html,<!doctype html><html lang=en><title>t</title><main><img src=x.png></main></html>")
        .await?;
    let found = browser.axe("self-check").await?;
    anyhow::ensure!(
        found.iter().any(|v| v.id == "image-alt" && v.is_blocking()),
        "axe-core missed an image without alt text: {found:?}"
    );

    let mut accessibility = Vec::new();

    // The lookup form, then the order it finds with the right email.
    browser.goto(&shop.url("/track")).await?;
    for id in ["order_number", "email", "postal_code", "tracking_number"] {
        browser.wait_for(&format!("#{id}")).await?;
    }
    browser.wait_for("form[action='/track/number'] [type=submit]").await?;
    browser.screenshot("lookup").await?;
    accessibility.push(browser.check_accessibility("lookup").await);

    look_up(browser, shop, ORDER, EMAIL).await?;
    order_page_shows_both_parcels(browser).await?;
    browser.screenshot("order").await?;
    accessibility.push(browser.check_accessibility("order").await);

    // A wrong email gets exactly the page an unknown order gets.
    look_up(browser, shop, ORDER, "someone-else@example.com").await?;
    browser.wait_for("#not-found").await?;
    assert!(parcels(browser).await?.is_empty(), "a wrong email shows no parcel");
    let wrong_email = browser.outer_html().await?;
    browser.screenshot("not-found").await?;
    accessibility.push(browser.check_accessibility("not-found").await);
    look_up(browser, shop, "SO-0000-UNKNOWN", EMAIL).await?;
    browser.wait_for("#not-found").await?;
    let unknown = browser.outer_html().await?;
    assert!(
        wrong_email == unknown,
        "a wrong email and an unknown order give different pages:\n--- wrong email\n{wrong_email}\n--- unknown order\n{unknown}"
    );
    let (wrong_code, wrong_body) = shop.post_lookup(ORDER, "someone-else@example.com").await?;
    let (unknown_code, unknown_body) = shop.post_lookup("SO-0000-UNKNOWN", EMAIL).await?;
    assert_eq!((wrong_code, unknown_code), (404, 404));
    assert!(wrong_body == unknown_body, "the not-found bodies differ byte for byte");

    // Signed links: a good one opens the order; expired and tampered ones do not.
    let link = shop.signed_link().await?;
    browser.goto(&shop.url(&link)).await?;
    order_page_shows_both_parcels(browser).await?;
    browser.screenshot("signed-link").await?;
    let token = link.trim_start_matches("/track/");
    let expired = mint(
        &LinkKey::new(KEY_ID, KEY_SECRET.as_bytes()),
        ORDER,
        chrono::Utc::now().timestamp() - 3600,
        None,
    );
    let tampered = tamper(token)?;
    for (what, token) in [("expired", expired.as_str()), ("tampered", tampered.as_str())] {
        let path = format!("/track/{token}");
        browser.goto(&shop.url(&path)).await?;
        browser
            .wait_for("#not-found")
            .await
            .with_context(|| format!("the {what} link"))?;
        assert!(parcels(browser).await?.is_empty(), "the {what} link shows no parcel");
        assert_eq!(shop.get_status(&path).await?, 404, "the {what} link");
    }
    assert_eq!(shop.get_status(&link).await?, 200);

    // Languages from the URL: translated words, localized dates.
    browser.goto(&shop.url(&format!("{link}?lang=en"))).await?;
    order_page_shows_both_parcels(browser).await?;
    let english = text(browser).await?;
    assert!(english.contains("December"), "English dates: {english}");
    for (lang, words) in [
        ("de", ["Dezember", "Unterwegs", "Zugestellt"]),
        ("fr", ["décembre", "En transit", "Livré"]),
    ] {
        browser.goto(&shop.url(&format!("{link}?lang={lang}"))).await?;
        order_page_shows_both_parcels(browser).await?;
        assert_eq!(html_lang(browser).await?, json!(lang));
        let page = text(browser).await?;
        for word in words {
            assert!(page.contains(word), "?lang={lang} page lacks {word:?}:\n{page}");
        }
        assert!(
            !page.contains("December"),
            "?lang={lang} page has an English month:\n{page}"
        );
        browser.screenshot(&format!("order-{lang}")).await?;
    }

    let failures: Vec<String> = accessibility
        .into_iter()
        .filter_map(|r| match r {
            Ok(minor) => {
                for v in minor {
                    eprintln!("axe (not blocking): {v}");
                }
                None
            }
            Err(e) => Some(format!("{e:#}")),
        })
        .collect();
    anyhow::ensure!(failures.is_empty(), "{}", failures.join("\n"));
    eprintln!("screenshots and axe reports in {}", browser.artifacts().display());
    Ok(())
}

/// The same token with its signature's first character changed.
fn tamper(token: &str) -> anyhow::Result<String> {
    let (payload, tag) = token.split_once('.').context("a token is payload.tag")?;
    let first = tag.chars().next().context("empty signature")?;
    let other = if first == 'A' { 'B' } else { 'A' };
    Ok(format!("{payload}.{other}{}", &tag[first.len_utf8()..]))
}
