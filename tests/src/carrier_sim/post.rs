//! Posting the webhooks: each signed the moment it is sent (Shippo's and
//! Standard Webhooks' timestamps must be fresh), to
//! `{url}/webhooks/carriers/{provider}/{account}`, and counted by reply.

use std::collections::BTreeMap;
use std::fmt;

use anyhow::Context;
use waymark_sync::carriers::{Provider, signature};

use super::{Journey, Scenario, Webhook, webhooks};

/// What the posts got back.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    pub posted: usize,
    /// Replies with a 2xx status.
    pub accepted: usize,
    /// Every other reply, by status code.
    pub refused: BTreeMap<u16, usize>,
    /// Posts that got no reply at all (connection refused, timeout).
    pub unanswered: usize,
    /// Tracking numbers whose journey ends delivered / returned to sender.
    pub delivered: usize,
    pub returned: usize,
}

impl Summary {
    pub fn all_accepted(&self) -> bool {
        self.accepted == self.posted
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} webhooks posted, {} 2xx", self.posted, self.accepted)?;
        for (status, n) in &self.refused {
            write!(f, ", {n} × {status}")?;
        }
        if self.unanswered > 0 {
            write!(f, ", {} unanswered", self.unanswered)?;
        }
        write!(
            f,
            "; journeys: {} delivered, {} returned to sender",
            self.delivered, self.returned
        )
    }
}

/// The webhook URL of `account` of `provider` at central's HTTP API `url`.
pub fn webhook_url(url: &str, provider: Provider, account: &str) -> String {
    format!("{}/webhooks/carriers/{provider}/{account}", url.trim_end_matches('/'))
}

/// Plans the journeys of `tracking_numbers` under `scenario` and posts their
/// webhooks to central at `url` as `provider`'s `account`.
pub async fn deliver(
    url: &str,
    provider: Provider,
    account: &str,
    secret: &str,
    tracking_numbers: &[String],
    scenario: &Scenario,
) -> anyhow::Result<Summary> {
    let journeys: Vec<Journey> = tracking_numbers.iter().map(|n| Journey::plan(n, scenario)).collect();
    let planned = webhooks(provider, &journeys, scenario);
    let mut summary = post_all(
        &webhook_url(url, provider, account),
        provider,
        secret,
        &planned,
        scenario,
    )
    .await?;
    for j in &journeys {
        match j.steps.last().map(|s| s.kind) {
            Some(super::Kind::Delivered) => summary.delivered += 1,
            Some(super::Kind::Returned) => summary.returned += 1,
            _ => {}
        }
    }
    Ok(summary)
}

/// Posts `planned` in order to `endpoint`, pausing `scenario.delay` between
/// posts (and, with `real_time`, until each event's time).
pub async fn post_all(
    endpoint: &str,
    provider: Provider,
    secret: &str,
    planned: &[Webhook],
    scenario: &Scenario,
) -> anyhow::Result<Summary> {
    let http = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .context("building the HTTP client")?;
    let mut summary = Summary::default();
    for (i, w) in planned.iter().enumerate() {
        if i > 0 && !scenario.delay.is_zero() {
            tokio::time::sleep(scenario.delay).await;
        }
        if scenario.real_time
            && let Ok(wait) = (w.event_time - chrono::Utc::now()).to_std()
        {
            tokio::time::sleep(wait).await;
        }
        let now_s = chrono::Utc::now().timestamp();
        let mut req = http
            .post(endpoint)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(w.body.clone());
        for (name, value) in signature::sign(provider, secret, &w.body, now_s, &w.event_id) {
            req = req.header(name, value);
        }
        summary.posted += 1;
        match req.send().await {
            Ok(resp) if resp.status().is_success() => summary.accepted += 1,
            Ok(resp) => {
                let status = resp.status().as_u16();
                let text = resp.text().await.unwrap_or_default();
                tracing::warn!(%provider, tracking_number = %w.tracking_number, step = w.step, status, reply = %text.chars().take(200).collect::<String>(), "webhook refused");
                *summary.refused.entry(status).or_default() += 1;
            }
            Err(e) => {
                tracing::warn!(%provider, tracking_number = %w.tracking_number, step = w.step, error = %e, "webhook not answered");
                summary.unanswered += 1;
            }
        }
    }
    Ok(summary)
}
