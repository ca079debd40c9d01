//! The embedded MQTT broker (rumqttd). Devices never reach it directly: it listens
//! on a private loopback port behind the front acceptor (`mqtt_front`), which owns
//! the public listener, connection limits and packet-size accounting. Ingest reads
//! from the broker's in-process link.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::Duration;

use rumqttd::local::{LinkRx, LinkTx};
use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Bytes a publish packet carries besides its payload (topic, packet id); generous.
pub const PACKET_OVERHEAD_BYTES: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("could not reserve a loopback port for the broker: {0}")]
    Port(std::io::Error),
    #[error("broker did not start listening on {0} within 5 s")]
    NotListening(SocketAddr),
    #[error("broker link: {0}")]
    Link(String),
}

/// A running embedded broker. rumqttd has no shutdown: it lives until the process exits.
pub struct EmbeddedBroker {
    /// The MQTT 3.1.1 listener.
    pub internal_addr: SocketAddr,
    /// The MQTT 5 listener.
    pub internal_v5_addr: Option<SocketAddr>,
    pub link: (LinkTx, LinkRx),
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("internal_addr", &self.internal_addr)
            .finish_non_exhaustive()
    }
}

impl EmbeddedBroker {
    /// Starts the broker on a free loopback port and opens the ingest link,
    /// subscribed to every topic so that misdirected publishes are counted too.
    /// `inflight_budget_bytes` is what the front acceptor lets through ahead of ingest;
    /// the broker keeps more than that, so it never drops accepted messages.
    pub async fn start(
        max_payload_bytes: usize,
        max_connections: usize,
        inflight_budget_bytes: usize,
    ) -> Result<Self, BrokerError> {
        // rumqttd binds its own listener and cannot report an ephemeral port, so
        // reserve one and hand it over; the window is tiny and a clash is detected below.
        let reserve = || {
            let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(BrokerError::Port)?;
            l.local_addr().map_err(BrokerError::Port)
        };
        let (internal_addr, v5_addr) = (reserve()?, reserve()?);
        let mut broker = Broker::new(config(
            internal_addr,
            v5_addr,
            max_payload_bytes,
            max_connections,
            inflight_budget_bytes,
        ));
        let (mut tx, rx) = broker
            .link("waymark-ingest")
            .map_err(|e| BrokerError::Link(e.to_string()))?;
        tx.subscribe("#").map_err(|e| BrokerError::Link(e.to_string()))?;
        std::thread::Builder::new()
            .name("mqtt-broker".into())
            .spawn(move || {
                if let Err(e) = broker.start() {
                    tracing::error!(error = %e, "embedded mqtt broker stopped");
                }
            })
            .map_err(BrokerError::Port)?;
        wait_listening(internal_addr).await?;
        wait_accepting(v5_addr).await?;
        Ok(Self {
            internal_addr,
            internal_v5_addr: Some(v5_addr),
            link: (tx, rx),
        })
    }
}

async fn wait_listening(addr: SocketAddr) -> Result<(), BrokerError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if probe(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(BrokerError::NotListening(addr))
}

/// The v5 listener is only checked for accepting connections (the v3.1.1 probe
/// already proved the router serves clients).
async fn wait_accepting(addr: SocketAddr) -> Result<(), BrokerError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(BrokerError::NotListening(addr))
}

/// A full MQTT 3.1.1 handshake with the broker: CONNECT, expect CONNACK accepted,
/// DISCONNECT. Proves the broker serves clients, without making it log an error.
pub async fn probe(addr: SocketAddr) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const CLIENT_ID: &[u8] = b"waymark-probe";
    let mut connect = vec![
        0x10,
        (12 + CLIENT_ID.len()) as u8,
        0,
        4,
        b'M',
        b'Q',
        b'T',
        b'T',
        4,
        0x02,
        0,
        10,
    ];
    connect.extend_from_slice(&[0, CLIENT_ID.len() as u8]);
    connect.extend_from_slice(CLIENT_ID);
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(addr).await?;
        s.write_all(&connect).await?;
        let mut connack = [0u8; 4];
        s.read_exact(&mut connack).await?;
        if connack != [0x20, 0x02, 0x00, 0x00] {
            return Err(std::io::Error::other(format!("unexpected connack {connack:02x?}")));
        }
        s.write_all(&[0xe0, 0x00]).await?;
        // Let the broker close first; closing under it makes its router log an error.
        let mut rest = Vec::new();
        s.read_to_end(&mut rest).await?;
        Ok(())
    };
    tokio::time::timeout(Duration::from_secs(2), exchange)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "broker probe timed out"))?
}

fn config(
    listen: SocketAddr,
    listen_v5: SocketAddr,
    max_payload_bytes: usize,
    max_connections: usize,
    inflight_budget: usize,
) -> Config {
    let connections = ConnectionSettings {
        connection_timeout_ms: 10_000,
        // The front acceptor enforces the real limit and counts refusals; the
        // broker's own limit only has to let every accepted packet through.
        max_payload_size: max_payload_bytes + PACKET_OVERHEAD_BYTES,
        max_inflight_count: 256,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let server = |name: &str, listen| ServerSettings {
        name: name.into(),
        listen,
        tls: None,
        next_connection_delay_ms: 0,
        connections: connections.clone(),
    };
    // RouterConfig::default() is all zeros and stalls the router: size it explicitly.
    // The router drops its oldest segments when a link falls further behind than they
    // hold: keep twice the in-flight budget (plus headroom) so that never happens.
    let segment = (max_payload_bytes + PACKET_OVERHEAD_BYTES).max(4 << 20);
    let segments = (2 * inflight_budget).div_ceil(segment) + 4;
    let router = RouterConfig {
        // One extra for the ingest link, a few for connections still closing.
        max_connections: max_connections + 16,
        max_outgoing_packet_count: 1024,
        max_segment_size: segment,
        max_segment_count: segments,
        ..RouterConfig::default()
    };
    Config {
        id: 0,
        router,
        v4: Some(
            [("devices".to_string(), server("devices", listen))]
                .into_iter()
                .collect(),
        ),
        v5: Some(
            [("devices-v5".to_string(), server("devices-v5", listen_v5))]
                .into_iter()
                .collect(),
        ),
        ..Config::default()
    }
}
