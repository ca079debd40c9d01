//! The public MQTT listener. Each device connection is proxied to the embedded
//! broker's loopback port; on the way the acceptor caps connections and refuses
//! oversized packets, counting both. (The TLS handshake, with a timeout, goes here too.)

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use crate::inflight::InflightBudget;
use crate::metrics::GatewayMetrics;
use crate::mqtt_frame::{FrameError, FrameScanner};

#[derive(Debug, Clone)]
pub struct FrontLimits {
    pub max_connections: usize,
    /// Largest MQTT packet body accepted from a device.
    pub max_packet_bytes: usize,
    /// Publish bytes the broker may hold that ingest has not taken yet.
    pub inflight: Arc<InflightBudget>,
}

pub async fn run(
    listener: TcpListener,
    broker: SocketAddr,
    limits: FrontLimits,
    metrics: Arc<GatewayMetrics>,
    shutdown: CancellationToken,
) {
    let open = Arc::new(AtomicUsize::new(0));
    loop {
        let (stream, peer) = tokio::select! {
            () = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    warn!(error = %e, "mqtt accept failed");
                    continue;
                }
            },
        };
        if open.load(Ordering::Relaxed) >= limits.max_connections {
            metrics.reject("too_many_connections", None);
            warn!(%peer, limit = limits.max_connections, "mqtt connection refused: connection limit reached");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        metrics.mqtt_connections.inc();
        let (open, metrics, limits, shutdown) = (open.clone(), metrics.clone(), limits.clone(), shutdown.clone());
        tokio::spawn(
            async move {
                proxy(stream, broker, &limits, &metrics, shutdown).await;
                open.fetch_sub(1, Ordering::Relaxed);
                metrics.mqtt_connections.dec();
            }
            .instrument(info_span!("mqtt_conn", %peer)),
        );
    }
}

async fn proxy(
    device: TcpStream,
    broker: SocketAddr,
    limits: &FrontLimits,
    metrics: &GatewayMetrics,
    shutdown: CancellationToken,
) {
    let upstream = match TcpStream::connect(broker).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "embedded broker unreachable; closing device connection");
            return;
        }
    };
    device.set_nodelay(true).ok();
    upstream.set_nodelay(true).ok();
    let (mut dev_rx, mut dev_tx) = device.into_split();
    let (mut up_rx, mut up_tx) = upstream.into_split();
    let inbound = async {
        let mut scanner = FrameScanner::new(limits.max_packet_bytes);
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = dev_rx.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            let publish_bytes = match scanner.feed(&buf[..n]) {
                Ok(b) => b,
                Err(e) => return Ok(Some(e)),
            };
            if !limits.inflight.try_admit(publish_bytes) {
                metrics.mqtt_backpressure_waits.inc();
                limits.inflight.admit(publish_bytes).await;
            }
            up_tx.write_all(&buf[..n]).await?;
        }
    };
    let outbound = tokio::io::copy(&mut up_rx, &mut dev_tx);
    tokio::select! {
        () = shutdown.cancelled() => {}
        r = inbound => match r {
            Ok(Some(e)) => {
                let reason = match e {
                    FrameError::TooLarge { .. } => "oversized",
                    FrameError::Malformed => "malformed_packet",
                };
                metrics.reject(reason, None);
                warn!(error = %e, "mqtt packet refused; closing device connection");
            }
            Ok(None) => debug!("device closed the connection"),
            Err(e) => debug!(error = %e, "device connection ended"),
        },
        r = outbound => debug!(result = ?r, "broker closed the connection"),
    }
}
