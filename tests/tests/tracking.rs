//! The customer tracking page end to end over real HTTP against a real
//! central: a split order found by email shows both parcels with their
//! statuses; an unknown order and a wrong email get the same bytes; signed
//! links open the order until they expire or are tampered with; guessing is
//! rate-limited; German and French pages are translated with local dates; a
//! tracking number alone shows no order data; a broken template stops the
//! start.

use std::time::Duration;

use anyhow::Context;
use serde_json::{Value, json};
use waymark_sync::carriers::Provider;
use waymark_sync::carriers::signature::sign;
use waymark_sync::tracking::{LinkKey, mint};
use waymark_tests::carrier_sim::fixtures::{AT_HUB, DELIVERED, PICKED_UP, easypost_event};
use waymark_tests::harness::{Harness, Node, metric};
use waymark_tests::wait;

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
const TIMEOUT: Duration = Duration::from_secs(30);
const SECRET: &str = "sécret-for-tests";
const LINK_KEY_ID: &str = "test-1";
const LINK_SECRET: &str = "0123456789abcdef0123456789abcdef-tracking-tests";
const ORDER: &str = "TR-1001";
const EMAIL: &str = "Ana.Garcia@Example.com";

/// `application/x-www-form-urlencoded`, as a browser writes a form.
fn form(fields: &[(&str, &str)]) -> String {
    let enc = |s: &str| {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => (b as char).to_string(),
                b' ' => "+".to_string(),
                _ => format!("%{b:02X}"),
            })
            .collect::<String>()
    };
    fields
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

struct Page {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
    }
}

struct Central {
    h: Harness,
    node: Node,
    /// No connection pool shared with the harness's API client.
    web: reqwest::Client,
}

impl Central {
    fn url(&self, path: &str) -> anyhow::Result<String> {
        Ok(format!("http://{}{path}", self.node.ready.addr("http")?))
    }

    async fn page(&self, req: reqwest::RequestBuilder) -> anyhow::Result<Page> {
        let resp = req.send().await?;
        Ok(Page {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.text().await?,
        })
    }

    async fn post_form(&self, path: &str, fields: &[(&str, &str)], lang: Option<&str>) -> anyhow::Result<Page> {
        let mut req = self
            .web
            .post(self.url(path)?)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(fields));
        if let Some(l) = lang {
            req = req.header("accept-language", l);
        }
        self.page(req).await
    }

    /// A failed lookup (an unknown order) as a proxy forwards it for `client`.
    async fn guess_from(&self, client: &str, guess: usize) -> anyhow::Result<u16> {
        let req = self
            .web
            .post(self.url("/track")?)
            .header("content-type", "application/x-www-form-urlencoded")
            .header("x-forwarded-for", client)
            .body(form(&[
                ("order_number", &format!("GUESS-{guess}")),
                ("email", "a@example.com"),
            ]));
        Ok(self.page(req).await?.status)
    }

    async fn get(&self, path: &str, lang: Option<&str>) -> anyhow::Result<Page> {
        let mut req = self.web.get(self.url(path)?);
        if let Some(l) = lang {
            req = req.header("accept-language", l);
        }
        self.page(req).await
    }

    async fn api(&self, path: &str, body: &Value) -> anyhow::Result<(u16, Value)> {
        self.h.post_json(self.url(path)?, body).await
    }

    async fn order(&self) -> anyhow::Result<Value> {
        let (code, v) = self.h.get_json(self.url(&format!("/api/v1/orders/{ORDER}"))?).await?;
        anyhow::ensure!(code == 200, "get order: {code} {v}");
        Ok(v)
    }

    /// A split order (two shipments, one parcel each); the first parcel
    /// delivered, the second picked up, both by carrier webhooks.
    async fn split_order_on_its_way(&self) -> anyhow::Result<()> {
        let (code, v) = self
            .api(
                "/api/v1/carriers/accounts",
                &json!({"provider": "easypost", "name": "main", "secret": SECRET}),
            )
            .await?;
        anyhow::ensure!(code == 201, "add account: {code} {v}");
        let body = json!({
            "order_number": ORDER,
            "brand": "acme",
            "customer": {"email": EMAIL, "postal_code": "10115", "time_zone": "Europe/Berlin"},
            "shipments": [
                {"site_id": "dc-north", "carrier": "fedex", "tracking_number": "EZ1001A",
                 "parcels": [{"tracking_number": "EZ1001A", "items": [{"sku": "TENT-2P", "quantity": 1}]}]},
                {"site_id": "dc-south", "carrier": "fedex", "tracking_number": "EZ1001B",
                 "parcels": [{"tracking_number": "EZ1001B", "items": [{"sku": "STOVE-1", "quantity": 1}]}]}
            ]
        });
        let (code, v) = self.api("/api/v1/orders", &body).await?;
        anyhow::ensure!(code == 201, "create order: {code} {v}");
        for (evt, tn, details) in [
            ("evt_a", "EZ1001A", vec![PICKED_UP, DELIVERED]),
            ("evt_b", "EZ1001B", vec![PICKED_UP, AT_HUB]),
        ] {
            let body = easypost_event(evt, tn, &details);
            let headers = sign(
                Provider::EasyPost,
                SECRET,
                body.as_bytes(),
                chrono::Utc::now().timestamp(),
                "m",
            );
            let mut req = self
                .h
                .request(reqwest::Method::POST, &self.url("/webhooks/carriers/easypost/main")?)
                .header("content-type", "application/json")
                .body(body);
            for (k, v) in headers {
                req = req.header(k, v);
            }
            let code = req.send().await?.status().as_u16();
            anyhow::ensure!(code == 200, "webhook: {code}");
        }
        let mut last = Value::Null;
        let settled = wait::until("both parcels' carrier status", TIMEOUT, || async {
            let v = self.order().await.ok()?;
            let customer = |i: usize| {
                v["shipments"][i]["parcels"][0]["status"]["customer"]
                    .as_str()
                    .map(str::to_string)
            };
            (customer(0)?.as_str() == "delivered" && customer(1)?.as_str() == "in_transit").then_some(())
        })
        .await;
        if settled.is_err() {
            last = self.order().await?;
        }
        settled.with_context(|| format!("the order reads: {last}"))
    }

    async fn mint(&self, body: &Value) -> anyhow::Result<String> {
        let (code, v) = self.api(&format!("/api/v1/orders/{ORDER}/tracking-link"), body).await?;
        anyhow::ensure!(code == 201, "mint: {code} {v}");
        anyhow::ensure!(v["expires_at"].is_string(), "{v}");
        v["url"].as_str().map(str::to_string).context("url")
    }
}

fn config(h: &Harness, extra: &str) -> anyhow::Result<Vec<String>> {
    let path = h.path("tracking.toml");
    std::fs::write(
        &path,
        format!(
            "[tracking]\n{extra}\n\
             [[tracking.link_keys]]\nid = \"{LINK_KEY_ID}\"\nsecret = \"{LINK_SECRET}\"\n\
             [[tracking.brands]]\nname = \"acme\"\ndisplay_name = \"ACME Outdoor\"\nprimary_color = \"#ffcc00\"\n\
             support_url = \"https://acme.example/help\"\nsupport_email = \"help@acme.example\"\n"
        ),
    )?;
    Ok(vec!["--config".into(), path.display().to_string()])
}

fn start() -> anyhow::Result<Central> {
    start_with("")
}

/// A central with `extra` lines in its `[tracking]` table.
fn start_with(extra: &str) -> anyhow::Result<Central> {
    let h = Harness::new(NODE)?;
    let args = config(&h, extra)?;
    let node = h.start_central_with("central", None, &args)?;
    Ok(Central {
        h,
        node,
        web: reqwest::Client::builder().timeout(Duration::from_secs(10)).build()?,
    })
}

/// Every header but `date` (the one that may tick between two responses).
fn without_date(headers: &reqwest::header::HeaderMap) -> reqwest::header::HeaderMap {
    let mut h = headers.clone();
    h.remove(reqwest::header::DATE);
    h
}

fn parcel_status(body: &str, parcel: &str) -> Option<String> {
    let at = body.find(&format!("data-parcel=\"{parcel}\""))?;
    let rest = &body[at..body.len().min(at + 200)];
    let s = rest.find("data-status=\"")? + "data-status=\"".len();
    rest[s..].split('"').next().map(str::to_string)
}

#[tokio::test]
async fn the_right_email_shows_both_parcels_and_a_wrong_one_looks_like_no_order() -> anyhow::Result<()> {
    let c = start()?;
    c.split_order_on_its_way().await?;

    // Order number and email, typed as customers type them.
    let found = c
        .post_form(
            "/track",
            &[("order_number", " TR-1001 "), ("email", " ana.garcia@example.COM")],
            None,
        )
        .await?;
    assert_eq!(found.status, 200, "{}", found.body);
    assert_eq!(
        parcel_status(&found.body, "TR-1001-1").as_deref(),
        Some("delivered"),
        "{}",
        found.body
    );
    assert_eq!(
        parcel_status(&found.body, "TR-1001-2").as_deref(),
        Some("in_transit"),
        "{}",
        found.body
    );
    assert!(found.body.contains("1 of 2 parcels delivered"), "{}", found.body);
    assert!(found.body.contains("role=\"status\""));
    assert!(found.body.contains("<section id=\"returns\""));
    assert!(found.body.contains("ACME Outdoor"));
    assert!(found.body.contains("<html lang=\"en\">"));
    assert_eq!(found.header("cache-control"), "private, no-store");
    assert_eq!(found.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(found.header("x-content-type-options"), "nosniff");
    assert_eq!(found.header("referrer-policy"), "no-referrer");
    assert!(found.header("content-security-policy").contains("default-src 'none'"));
    // The postal code works as the second factor too.
    let by_postal = c
        .post_form("/track", &[("order_number", ORDER), ("postal_code", "10 115")], None)
        .await?;
    assert_eq!(by_postal.status, 200);
    let wrong_postal = c
        .post_form("/track", &[("order_number", ORDER), ("postal_code", "10116")], None)
        .await?;
    assert_eq!(wrong_postal.status, 404);

    // One factor counts: the email when given. An order placed without a
    // postal code is found with the right email whatever the postal field
    // says; a ZIP+4 matches however it is typed.
    for (number, customer) in [
        ("TR-2002", json!({"email": "kim@example.com"})),
        ("TR-2003", json!({"postal_code": "12345-6789"})),
    ] {
        let body = json!({
            "order_number": number,
            "customer": customer,
            "shipments": [{"site_id": "dc-north", "carrier": "fedex", "tracking_number": format!("EZ{number}"),
                           "parcels": [{"tracking_number": format!("EZ{number}"), "items": [{"sku": "MAT", "quantity": 1}]}]}]
        });
        let (code, v) = c.api("/api/v1/orders", &body).await?;
        anyhow::ensure!(code == 201, "create order: {code} {v}");
    }
    let both = c
        .post_form(
            "/track",
            &[
                ("order_number", "TR-2002"),
                ("email", "Kim@example.com "),
                ("postal_code", "99999"),
            ],
            None,
        )
        .await?;
    assert_eq!(both.status, 200, "{}", both.body);
    let zip = c
        .post_form(
            "/track",
            &[("order_number", "TR-2003"), ("postal_code", "123456789")],
            None,
        )
        .await?;
    assert_eq!(zip.status, 200, "{}", zip.body);

    // A wrong email and an unknown order: the same status and the same bytes.
    let wrong = c
        .post_form(
            "/track",
            &[("order_number", ORDER), ("email", "someone@example.com")],
            None,
        )
        .await?;
    let unknown = c
        .post_form(
            "/track",
            &[("order_number", "TR-9999"), ("email", "someone@example.com")],
            None,
        )
        .await?;
    assert_eq!(wrong.status, 404);
    assert_eq!(unknown.status, 404);
    assert_eq!(
        wrong.body, unknown.body,
        "an unknown order and a wrong email must read the same"
    );
    assert!(wrong.body.contains("<h1 id=\"not-found\">"));
    assert!(
        !wrong.body.contains(ORDER) && !wrong.body.contains("ACME"),
        "{}",
        wrong.body
    );
    assert_eq!(
        without_date(&wrong.headers),
        without_date(&unknown.headers),
        "an unknown order and a wrong email must carry the same headers"
    );
    // The postal-code path: a wrong postal code and an unknown order too.
    let unknown_postal = c
        .post_form("/track", &[("order_number", "TR-9998"), ("postal_code", "10116")], None)
        .await?;
    assert_eq!(wrong_postal.status, 404);
    assert_eq!(unknown_postal.status, 404);
    assert_eq!(wrong_postal.body, unknown_postal.body);
    assert_eq!(wrong_postal.body, unknown.body, "one not-found page for every failure");
    assert_eq!(
        without_date(&wrong_postal.headers),
        without_date(&unknown_postal.headers)
    );
    assert_eq!(without_date(&wrong_postal.headers), without_date(&unknown.headers));

    let metrics = c.h.metrics_of(&c.node).await?;
    let rejected = |reason: &str| {
        metric(
            &metrics,
            "waymark_tracking_rejections_total",
            &[&format!("reason=\"{reason}\"")],
        )
    };
    assert_eq!(rejected("wrong_factor"), 2.0, "{metrics}");
    assert_eq!(rejected("unknown_order"), 2.0);
    assert!(metric(&metrics, "waymark_tracking_pages_total", &["page=\"order\""]) >= 2.0);

    // The lookup form: labelled inputs with the ids the browser tests use.
    let form_page = c.get("/track", None).await?;
    assert_eq!(form_page.status, 200);
    for id in ["order_number", "email", "postal_code", "tracking_number"] {
        assert!(form_page.body.contains(&format!("<label for=\"{id}\">")), "{id}");
        assert!(form_page.body.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let css = c.get("/track/static/style.css", None).await?;
    assert_eq!(css.status, 200);
    assert!(css.header("cache-control").starts_with("public"));
    Ok(())
}

#[tokio::test]
async fn signed_links_open_the_order_until_expired_or_tampered() -> anyhow::Result<()> {
    let c = start()?;
    c.split_order_on_its_way().await?;
    let url = c.mint(&json!({})).await?;
    assert!(url.starts_with("/track/") && !url.contains(ORDER), "{url}");
    let opened = c.get(&url, None).await?;
    assert_eq!(opened.status, 200, "{}", opened.body);
    assert_eq!(parcel_status(&opened.body, "TR-1001-2").as_deref(), Some("in_transit"));
    assert_eq!(opened.header("cache-control"), "private, no-store");

    let reference = c
        .post_form(
            "/track",
            &[("order_number", "TR-0000"), ("email", "x@example.com")],
            None,
        )
        .await?;
    let key = LinkKey::new(LINK_KEY_ID, LINK_SECRET.as_bytes());
    let expired = format!(
        "/track/{}",
        mint(&key, ORDER, chrono::Utc::now().timestamp() - 60, None)
    );
    let mut tampered = url.clone().into_bytes();
    let last = tampered.len() - 3;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered)?;
    let rotated_out = format!(
        "/track/{}",
        mint(
            &LinkKey::new("old", b"an old key no longer configured"),
            ORDER,
            i64::MAX / 2,
            None
        )
    );
    for bad in [&expired, &tampered, &rotated_out] {
        let page = c.get(bad, None).await?;
        assert_eq!(page.status, 404, "{bad}");
        assert_eq!(
            page.body, reference.body,
            "{bad}: the same not-found page as the lookup's"
        );
    }
    // The minting API refuses what it cannot honour, in the API's JSON errors.
    for (path, body, code) in [
        ("/api/v1/orders/TR-NONE/tracking-link".to_string(), json!({}), 404),
        (
            format!("/api/v1/orders/{ORDER}/tracking-link"),
            json!({"language": "xx"}),
            422,
        ),
        (
            format!("/api/v1/orders/{ORDER}/tracking-link"),
            json!({"ttl_days": 0}),
            422,
        ),
        (format!("/api/v1/orders/{ORDER}/tracking-link"), json!({"ttl": 1}), 400),
    ] {
        let (got, v) = c.api(&path, &body).await?;
        assert_eq!(got, code, "{path} {body}: {v}");
        assert!(v["error"]["code"].is_string(), "{v}");
    }
    let anonymous = c
        .web
        .post(c.url(&format!("/api/v1/orders/{ORDER}/tracking-link"))?)
        .send()
        .await?;
    assert_eq!(anonymous.status().as_u16(), 401, "minting needs a token");
    // A link minted here with the configured key opens the order too.
    let ours = format!(
        "/track/{}",
        mint(&key, ORDER, chrono::Utc::now().timestamp() + 600, None)
    );
    assert_eq!(c.get(&ours, None).await?.status, 200);
    Ok(())
}

#[tokio::test]
async fn german_and_french_pages_are_translated_with_local_dates() -> anyhow::Result<()> {
    let c = start()?;
    c.split_order_on_its_way().await?;
    // The language from the link's minting, and from ?lang= over the browser's.
    let de = c.mint(&json!({"language": "de", "ttl_days": 7})).await?;
    let page = c.get(&de, Some("fr")).await?;
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<html lang=\"de\">"), "{}", page.body);
    assert!(page.body.contains("1 von 2 Paketen zugestellt"), "{}", page.body);
    assert!(page.body.contains("Zugestellt"));
    // Picked up 2026-11-20T10:00Z: 11:00 in Berlin.
    assert!(page.body.contains("20. November 2026, 11:00"), "{}", page.body);

    let plain = c.mint(&json!({})).await?;
    let fr = c.get(&plain, Some("fr-CH, fr;q=0.9, en;q=0.5")).await?;
    assert!(fr.body.contains("<html lang=\"fr\">"), "{}", fr.body);
    assert!(fr.body.contains("1 colis sur 2 livré"), "{}", fr.body);
    assert!(fr.body.contains("20 novembre 2026 11:00"), "{}", fr.body);
    let es = c.get(&format!("{plain}?lang=es"), Some("fr")).await?;
    assert!(es.body.contains("<html lang=\"es\">"));
    assert!(es.body.contains("20 de noviembre de 2026, 11:00"), "{}", es.body);

    // The not-found page in German, from the browser.
    let missing = c
        .post_form("/track", &[("order_number", "X-1"), ("email", "a@b.c")], Some("de"))
        .await?;
    assert!(
        missing.body.contains("Wir konnten diese Bestellung nicht finden"),
        "{}",
        missing.body
    );

    // The lookup form carries its language: a page in German posts German
    // whatever the browser says, on both forms.
    let form_page = c.get("/track?lang=de", Some("en")).await?;
    assert_eq!(
        form_page
            .body
            .matches("<input type=\"hidden\" name=\"lang\" value=\"de\">")
            .count(),
        2,
        "{}",
        form_page.body
    );
    let posted = c
        .post_form(
            "/track",
            &[("order_number", "X-1"), ("email", "a@b.c"), ("lang", "de")],
            Some("en"),
        )
        .await?;
    assert!(posted.body.contains("<html lang=\"de\">"), "{}", posted.body);
    assert!(posted.body.contains("Wir konnten diese Bestellung nicht finden"));
    let found = c
        .post_form(
            "/track",
            &[("order_number", ORDER), ("email", EMAIL), ("lang", "fr")],
            Some("en"),
        )
        .await?;
    assert!(found.body.contains("<html lang=\"fr\">"), "{}", found.body);
    let number = c
        .post_form(
            "/track/number",
            &[("tracking_number", "EZ1001B"), ("lang", "es")],
            Some("en"),
        )
        .await?;
    assert_eq!(number.status, 200, "{}", number.body);
    assert!(number.body.contains("<html lang=\"es\">"), "{}", number.body);
    Ok(())
}

#[tokio::test]
async fn a_tracking_number_alone_shows_progress_but_nothing_of_the_order() -> anyhow::Result<()> {
    let c = start()?;
    c.split_order_on_its_way().await?;
    let page = c
        .post_form("/track/number", &[("tracking_number", "EZ1001B")], None)
        .await?;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("In transit"), "{}", page.body);
    assert!(page.body.contains("November 20, 2026"), "{}", page.body);
    for private in [ORDER, "ana.garcia", "Ana.Garcia", "10115", "TENT", "STOVE", "ACME"] {
        assert!(!page.body.contains(private), "{private} shown: {}", page.body);
    }
    let unknown = c
        .post_form("/track/number", &[("tracking_number", "NOPE123")], None)
        .await?;
    assert_eq!(unknown.status, 404);
    assert!(unknown.body.contains("id=\"not-found\""));
    Ok(())
}

#[tokio::test]
async fn a_thousand_guessed_order_numbers_hit_the_limit() -> anyhow::Result<()> {
    let c = start()?;
    let mut limited = None;
    for i in 0..1000 {
        let number = format!("GUESS-{i:04}");
        let page = c
            .post_form("/track", &[("order_number", &number), ("postal_code", "10115")], None)
            .await?;
        match page.status {
            404 => {}
            429 => {
                limited = Some((i, page));
                break;
            }
            other => anyhow::bail!("guess {i}: {other}"),
        }
    }
    let (at, page) = limited.context("1,000 guesses never hit the rate limit")?;
    assert!(at <= 20, "limited only after {at} guesses");
    let retry: u64 = page.header("retry-after").parse().context("Retry-After in seconds")?;
    // The client's budget ran out (each guess is a new order number): one
    // failure comes back every 60 / client_failures_per_minute (2) seconds.
    assert_eq!(retry, 30, "Retry-After is the client's refill interval");
    assert!(page.body.contains("id=\"rate-limited\""), "{}", page.body);
    // Signed links from the same client are limited too while it is.
    let link = c.get("/track/not-a-token", None).await?;
    assert_eq!(link.status, 429);
    let metrics = c.h.metrics_of(&c.node).await?;
    assert!(
        metric(
            &metrics,
            "waymark_tracking_rejections_total",
            &["reason=\"rate_limited\""]
        ) >= 1.0
    );
    Ok(())
}

#[tokio::test]
async fn guessing_one_orders_email_is_limited_per_order_number() -> anyhow::Result<()> {
    let c = start()?;
    // The client's own budget (10) is not spent: the order number's (5) is.
    let mut codes = Vec::new();
    for i in 0..6 {
        let email = format!("guess{i}@example.com");
        let page = c
            .post_form("/track", &[("order_number", "TR-7777"), ("email", &email)], None)
            .await?;
        codes.push(page);
    }
    assert_eq!(
        codes.iter().map(|p| p.status).collect::<Vec<_>>(),
        [404, 404, 404, 404, 404, 429]
    );
    // One failure per order number comes back every 60 / 0.5 seconds.
    assert_eq!(codes[5].header("retry-after"), "120", "the order's refill interval");
    // Another order number from the same client is still answered.
    let other = c
        .post_form(
            "/track",
            &[("order_number", "TR-7778"), ("email", "a@example.com")],
            None,
        )
        .await?;
    assert_eq!(other.status, 404);
    Ok(())
}

#[tokio::test]
async fn concurrent_guesses_cannot_outrun_the_limit() -> anyhow::Result<()> {
    let c = start()?;
    // Sixty wrong lookups at once from one client against one order number:
    // each takes its failure before the store is read, so only the order's
    // burst (5) is judged and the rest are refused.
    let url = c.url("/track")?;
    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..60 {
        let (web, url) = (c.web.clone(), url.clone());
        let body = form(&[("order_number", "TR-4242"), ("email", &format!("guess{i}@example.com"))]);
        guesses.spawn(async move {
            let resp = web
                .post(url)
                .header("content-type", "application/x-www-form-urlencoded")
                .body(body)
                .send()
                .await?;
            anyhow::Ok(resp.status().as_u16())
        });
    }
    let mut codes = std::collections::BTreeMap::<u16, usize>::new();
    while let Some(code) = guesses.join_next().await {
        *codes.entry(code??).or_default() += 1;
    }
    let judged = codes.get(&404).copied().unwrap_or(0);
    assert!(judged <= 5, "{judged} guesses judged past a burst of 5: {codes:?}");
    assert_eq!(judged + codes.get(&429).copied().unwrap_or(0), 60, "{codes:?}");
    Ok(())
}

#[tokio::test]
async fn behind_a_trusted_proxy_each_forwarded_client_has_its_own_budget() -> anyhow::Result<()> {
    let c = start_with("client_failures_burst = 3\ntrusted_proxies = [\"127.0.0.0/8\"]")?;
    c.split_order_on_its_way().await?;
    let link = c.mint(&json!({})).await?;
    let (a, b) = ("203.0.113.7", "198.51.100.20, 127.0.0.1");
    for i in 0..3 {
        assert_eq!(c.guess_from(a, i).await?, 404, "guess {i}");
    }
    assert_eq!(c.guess_from(a, 3).await?, 429, "the first client's budget is spent");
    assert_eq!(c.guess_from(b, 4).await?, 404, "another client behind the proxy is not");
    // Only failures are limited: a valid link opens while its client is over budget.
    let opened = c.page(c.web.get(c.url(&link)?).header("x-forwarded-for", a)).await?;
    assert_eq!(opened.status, 200, "{}", opened.body);
    let bad = c
        .page(c.web.get(c.url("/track/not-a-token")?).header("x-forwarded-for", a))
        .await?;
    assert_eq!(bad.status, 429, "a bad link from a limited client");

    // Without trusted proxies the header is the client's to write: ignored.
    let direct = start_with("client_failures_burst = 3")?;
    for i in 0..3 {
        assert_eq!(direct.guess_from(a, i).await?, 404, "guess {i}");
    }
    assert_eq!(direct.guess_from(b, 3).await?, 429, "one peer, one budget");
    Ok(())
}

#[tokio::test]
async fn a_broken_override_template_fails_the_start_with_a_clear_message() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let dir = h.path("templates");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("order.html"),
        "{% extends \"base.html\" %}{% block content %}{% if %}{% endblock %}",
    )?;
    let args = config(&h, &format!("template_dir = \"{}\"", dir.display()))?;
    let started = h.start_central_with("central", None, &args);
    assert!(started.is_err(), "central started with a broken template");
    let log = std::fs::read_to_string(h.path("central.log"))?;
    assert!(log.contains("invalid configuration"), "{log}");
    assert!(log.contains("order.html"), "{log}");
    Ok(())
}
