//! `waymark-gateway status`: one screen for the person at the dock door: is it
//! connected, how big is the backlog, which device is quiet or unplugged.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot reach the gateway's ops endpoint at {addr}: {detail} (is it running? is [ops] listen right?)")]
    Unreachable { addr: SocketAddr, detail: String },
    #[error("the gateway answered something unexpected: {0}")]
    BadAnswer(String),
}

/// GET /status from a gateway's ops listener.
pub async fn fetch(addr: SocketAddr) -> Result<Value, StatusError> {
    let unreachable = |detail: String| StatusError::Unreachable { addr, detail };
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(format!("GET /status HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes())
            .await?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await?;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(Duration::from_secs(5), exchange)
        .await
        .map_err(|_| unreachable("no answer within 5 s".into()))?
        .map_err(|e| unreachable(e.to_string()))?;
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| StatusError::BadAnswer("no HTTP body".into()))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(StatusError::BadAnswer(
            head.lines().next().unwrap_or_default().to_string(),
        ));
    }
    serde_json::from_str(body).map_err(|e| StatusError::BadAnswer(e.to_string()))
}

fn age(secs: f64) -> String {
    match secs {
        s if s < 120.0 => format!("{s:.0} s ago"),
        s if s < 7200.0 => format!("{:.0} min ago", s / 60.0),
        s if s < 172_800.0 => format!("{:.1} h ago", s / 3600.0),
        s => format!("{:.1} days ago", s / 86_400.0),
    }
}

/// The status page as text. `now_ms` makes device ages testable.
pub fn render(v: &Value, now_ms: i64) -> String {
    let mut out = String::new();
    let u = |k: &str| v[k].as_u64().unwrap_or(0);
    let link = v["link"].as_str().unwrap_or("unknown");
    let last_ack = v["last_ack_age_secs"].as_f64().map_or("never".to_string(), age);
    writeln!(
        out,
        "gateway {} (version {})",
        v["site_id"].as_str().unwrap_or("?"),
        v["version"].as_str().unwrap_or("?")
    )
    .ok();
    writeln!(out, "  link         {link}, last ack from central {last_ack}").ok();
    writeln!(
        out,
        "  backlog      {} events, oldest waiting {} (recorded up to #{}, central has #{})",
        u("backlog_events"),
        if u("backlog_events") == 0 {
            "-".to_string()
        } else {
            format!("{:.0} s", v["lag_secs"].as_f64().unwrap_or(0.0))
        },
        u("last_sequence"),
        u("acked_sequence")
    )
    .ok();
    writeln!(out, "  orders held  {}", u("orders_held")).ok();
    let cert = &v["certificate"];
    let cert_line = match cert["days_left"].as_i64() {
        None => "none: plaintext link to central (development)".to_string(),
        Some(d) if d < 30 => format!(
            "expires {} (in {d} days): RENEW NOW with waymark-gateway enroll --force",
            cert["expires_at"].as_str().unwrap_or("?")
        ),
        Some(d) => format!("expires {} (in {d} days)", cert["expires_at"].as_str().unwrap_or("?")),
    };
    writeln!(out, "  certificate  {cert_line}").ok();
    let b = &v["disk_budget"];
    writeln!(
        out,
        "  disk budget  {:.1}% used of {} MiB (store on disk {} MiB)",
        b["used_percent"].as_f64().unwrap_or(0.0),
        b["budget_bytes"].as_u64().unwrap_or(0) >> 20,
        u("store_bytes") >> 20
    )
    .ok();
    if let Some(q) = v.get("quarantine") {
        writeln!(
            out,
            "  quarantine   {} unmatched reads",
            q["count"].as_u64().unwrap_or(0)
        )
        .ok();
    }
    let devices = v["devices"].as_array().cloned().unwrap_or_default();
    writeln!(
        out,
        "  devices      {:<12} {:<8} {:<18} {:>8} {:>8}  last read",
        "id", "kind", "read point", "reads", "rejected"
    )
    .ok();
    for d in devices {
        let last = d["last_read_ms"]
            .as_i64()
            .filter(|t| *t > 0)
            .map_or("never".into(), |t| age((now_ms - t) as f64 / 1000.0));
        let state = match d["connected"].as_bool() {
            Some(false) => " (DISCONNECTED)",
            _ => "",
        };
        writeln!(
            out,
            "               {:<12} {:<8} {:<18} {:>8} {:>8}  {last}{state}",
            d["id"].as_str().unwrap_or("?"),
            d["kind"].as_str().unwrap_or("?"),
            d["read_point"].as_str().unwrap_or("?"),
            d["reads_total"].as_u64().unwrap_or(0),
            d["rejected_total"].as_u64().unwrap_or(0),
        )
        .ok();
        if let Some(alarm) = d["last_alarm"].as_str() {
            writeln!(out, "               {:<12} last alarm: {alarm}", "").ok();
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_screen_shows_link_backlog_and_quiet_devices() {
        let v = serde_json::json!({
            "site_id": "dc-north", "version": "0.1.0", "link": "disconnected",
            "last_sequence": 1500, "acked_sequence": 1200, "backlog_events": 300, "lag_secs": 95.2,
            "last_ack_age_secs": 96.0, "orders_held": 42, "store_bytes": 8_388_608,
            "disk_budget": { "used_bytes": 1_000_000, "budget_bytes": 4_294_967_296_u64, "used_percent": 0.1 },
            "devices": [
                { "id": "door-3", "kind": "zebra", "read_point": "dock-door-3", "reads_total": 9000, "rejected_total": 2, "last_read_ms": 1_000_000 },
                { "id": "scanner-1", "kind": "serial", "read_point": "pack-1", "reads_total": 0, "rejected_total": 0, "last_read_ms": 0, "connected": false }
            ]
        });
        let text = render(&v, 1_000_000 + 3_600_000);
        assert!(
            text.contains("link         disconnected, last ack from central 96 s ago"),
            "{text}"
        );
        assert!(text.contains("300 events, oldest waiting 95 s"), "{text}");
        assert!(text.contains("60 min ago"), "{text}");
        assert!(text.contains("never (DISCONNECTED)"), "{text}");
        assert!(text.contains("4096 MiB"), "{text}");
        assert!(text.contains("certificate  none: plaintext"), "{text}");
    }

    #[test]
    fn a_certificate_near_its_end_says_renew() {
        let with = |days: i64| {
            serde_json::json!({ "site_id": "dc-north",
                "certificate": { "expires_at": "2027-01-01T00:00:00Z", "days_left": days } })
        };
        let ok = render(&with(200), 0);
        assert!(
            ok.contains("expires 2027-01-01T00:00:00Z (in 200 days)") && !ok.contains("RENEW"),
            "{ok}"
        );
        let soon = render(&with(12), 0);
        assert!(soon.contains("RENEW NOW"), "{soon}");
    }
}
