//! The ops HTTP surface site IT looks at: `/metrics`, `/healthz`, `/readyz`, `/status`.

use std::sync::Arc;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::GatewayMetrics;
use crate::status::StatusSource;

pub struct OpsState {
    pub metrics: Arc<GatewayMetrics>,
    pub status: StatusSource,
    pub broker: BrokerHealth,
}

/// How readiness learns whether devices can publish.
pub enum BrokerHealth {
    /// Our embedded broker's loopback address and the front's login there: probed
    /// with a real MQTT handshake.
    Embedded(std::net::SocketAddr, crate::broker::BrokerLogin),
    /// Whether the subscription to the site broker is connected.
    External(Arc<std::sync::atomic::AtomicBool>),
}

pub async fn serve(listener: TcpListener, state: Arc<OpsState>, shutdown: CancellationToken) -> std::io::Result<()> {
    let app = axum::Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .with_state(state);
    axum::serve(listener, app)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .await
}

async fn metrics(State(s): State<Arc<OpsState>>) -> impl IntoResponse {
    s.status.refresh_metrics(&s.metrics);
    (
        [("content-type", "text/plain; version=0.0.4; charset=utf-8")],
        s.metrics.render(),
    )
}

async fn status(State(s): State<Arc<OpsState>>) -> impl IntoResponse {
    Json(s.status.snapshot())
}

/// Ready when the store is open (it is, while this serves) and the broker accepts
/// connections. The link is reported but does not fail readiness: offline is normal.
async fn readyz(State(s): State<Arc<OpsState>>) -> impl IntoResponse {
    let broker_up = match &s.broker {
        BrokerHealth::Embedded(addr, login) => crate::broker::probe(*addr, Some(login)).await.is_ok(),
        BrokerHealth::External(connected) => connected.load(std::sync::atomic::Ordering::Relaxed),
    };
    let body = serde_json::json!({
        "store": "open",
        "broker": if broker_up { "up" } else { "down" },
        "link": crate::status::link_name(s.status.link.state()),
    });
    let code = if broker_up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}
