//! Central's HTTP ports under slow clients (issue #21, item 2), over real
//! sockets against a started central: half-sent headers and idle keep-alive
//! connections are closed within the header timeout, a stalled body within
//! the body timeout, and one address holding many slow connections leaves
//! room for everyone else (its own budget, below the port's cap).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use waymark_tests::harness::{Harness, Node, metric};

const NODE: &str = env!("CARGO_BIN_EXE_waymark-node");
/// The test's header and body timeouts (the defaults are 10 s and 30 s).
const TIMEOUT_SECS: u64 = 2;
/// Time allowed past a timeout for the close to arrive.
const SLACK: Duration = Duration::from_secs(3);

fn start(h: &Harness, settings: &str) -> anyhow::Result<Node> {
    let config = h.path("limits.toml");
    std::fs::write(&config, settings)?;
    h.start_central_with("central", None, &["--config".to_string(), config.display().to_string()])
}

/// Reads until the server closes; what it sent, or an error if it had not
/// closed by `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> anyhow::Result<String> {
    let mut got = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buf = [0u8; 4096];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let text = String::from_utf8_lossy(&got).into_owned();
    anyhow::ensure!(read.is_ok(), "still open after {within:?}; got {text:?}");
    Ok(text)
}

fn timeouts() -> String {
    format!("http_header_timeout_secs = {TIMEOUT_SECS}\nhttp_body_timeout_secs = {TIMEOUT_SECS}\n")
}

#[tokio::test]
async fn half_sent_headers_and_idle_keep_alive_are_closed_on_both_ports() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = start(&h, &timeouts())?;
    let within = Duration::from_secs(TIMEOUT_SECS) + SLACK;
    for port in ["http", "ops"] {
        let addr = central.ready.addr(port)?;
        let mut half = TcpStream::connect(addr).await?;
        half.write_all(b"GET /healthz HTTP/1.1\r\nHost: central\r\n").await?;
        let started = Instant::now();
        closed_within(&mut half, within).await?;
        assert!(
            started.elapsed() >= Duration::from_secs(TIMEOUT_SECS) - Duration::from_millis(500),
            "{port}: closed before the header timeout"
        );

        let mut silent = TcpStream::connect(addr).await?;
        closed_within(&mut silent, within).await?;

        let mut idle = TcpStream::connect(addr).await?;
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: central\r\n\r\n")
            .await?;
        let answer = closed_within(&mut idle, within).await?;
        assert!(answer.starts_with("HTTP/1.1 200"), "{port}: {answer}");
    }
    let text = h.metrics_of(&central).await?;
    assert!(
        metric(
            &text,
            "waymark_sync_http_connections_closed_total",
            &["reason=\"header_timeout\""]
        ) >= 2.0,
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn a_stalled_body_is_closed_within_the_body_timeout() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    let central = start(&h, &timeouts())?;
    let token = h.api_token().ok_or_else(|| anyhow::anyhow!("no admin token"))?;
    let mut stream = TcpStream::connect(central.ready.addr("http")?).await?;
    // Just under the 1 MiB body limit, so the size alone is not refused.
    let head = format!(
        "POST /api/v1/orders HTTP/1.1\r\nHost: central\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/json\r\nContent-Length: 1000000\r\n\r\n{{\""
    );
    stream.write_all(head.as_bytes()).await?;
    let answer = closed_within(&mut stream, Duration::from_secs(TIMEOUT_SECS) + SLACK).await?;
    // The client learns its body stalled (408), then the connection closes:
    // the rest of the promised body never comes.
    assert!(
        answer.starts_with("HTTP/1.1 408") && answer.contains("\"request_timeout\""),
        "a stalled body got {answer:?}"
    );
    let text = h.metrics_of(&central).await?;
    assert_eq!(
        metric(
            &text,
            "waymark_sync_http_connections_closed_total",
            &["reason=\"body_timeout\""]
        ),
        1.0,
        "{text}"
    );
    Ok(())
}

#[tokio::test]
async fn one_address_holding_slow_connections_leaves_room_for_others() -> anyhow::Result<()> {
    let h = Harness::new(NODE)?;
    // A long header timeout: the budget, not the timeout, must keep room free.
    let central = start(
        &h,
        "http_max_connections = 100\nhttp_max_connections_per_client = 20\nhttp_header_timeout_secs = 60\n",
    )?;
    let addr = central.ready.addr("http")?;
    let mut slow = Vec::new();
    for _ in 0..300 {
        let mut s = TcpStream::connect(addr).await?;
        // Over the budget the server closes at once; the write may then fail.
        s.write_all(b"GET /healthz HTTP/1.1\r\n").await.ok();
        slow.push(s);
    }
    let ops = central.ready.addr("ops")?;
    waymark_tests::wait::until(
        "central to close the connections over budget",
        Duration::from_secs(10),
        || async {
            let text = h.get_text(format!("http://{ops}/metrics")).await.ok()?;
            (metric(
                &text,
                "waymark_sync_http_connections_closed_total",
                &["reason=\"per_client\""],
            ) >= 280.0)
                .then_some(())
        },
    )
    .await?;

    // Another client (127.0.0.2: Linux routes all of 127/8 to loopback).
    let other = TcpSocket::new_v4()?;
    other.bind(SocketAddr::from(([127, 0, 0, 2], 0)))?;
    let mut other = other.connect(addr).await?;
    let started = Instant::now();
    other
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: central\r\nConnection: close\r\n\r\n")
        .await?;
    let answer = closed_within(&mut other, Duration::from_secs(1)).await?;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(1));
    drop(slow);
    Ok(())
}
