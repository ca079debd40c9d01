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

/// The front acceptor's login at the embedded broker, made fresh at every start.
/// The broker's loopback ports accept no other login, so a local process cannot
/// connect past the front and publish as a device without its credentials.
#[derive(Clone)]
pub struct BrokerLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for BrokerLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerLogin")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

impl BrokerLogin {
    fn random() -> Result<Self, BrokerError> {
        let mut secret = [0u8; 24];
        rustls::crypto::ring::default_provider()
            .secure_random
            .fill(&mut secret)
            .map_err(|_| BrokerError::Link("the operating system's random source failed".into()))?;
        Ok(Self {
            username: "waymark-front".into(),
            password: waymark_proto::hex(&secret),
        })
    }

    pub fn as_pair(&self) -> (&str, &str) {
        (&self.username, &self.password)
    }
}

/// A running embedded broker. rumqttd has no shutdown: it lives until the process exits.
pub struct EmbeddedBroker {
    /// The MQTT 3.1.1 listener.
    pub internal_addr: SocketAddr,
    /// The MQTT 5 listener.
    pub internal_v5_addr: Option<SocketAddr>,
    /// The only login its listeners accept.
    pub login: BrokerLogin,
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
        let login = BrokerLogin::random()?;
        let mut broker = Broker::new(config(
            internal_addr,
            v5_addr,
            &login,
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
        wait_listening(internal_addr, &login).await?;
        wait_accepting(v5_addr).await?;
        Ok(Self {
            internal_addr,
            internal_v5_addr: Some(v5_addr),
            login,
            link: (tx, rx),
        })
    }
}

async fn wait_listening(addr: SocketAddr, login: &BrokerLogin) -> Result<(), BrokerError> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while tokio::time::Instant::now() < deadline {
        if probe(addr, Some(login)).await.is_ok() {
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

/// A full MQTT 3.1.1 handshake with the broker: CONNECT (with `login`, if any),
/// expect CONNACK accepted, DISCONNECT. Proves the broker serves clients, without
/// making it log an error.
pub async fn probe(addr: SocketAddr, login: Option<&BrokerLogin>) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let field = |out: &mut Vec<u8>, b: &[u8]| {
        out.extend_from_slice(&(b.len() as u16).to_be_bytes());
        out.extend_from_slice(b);
    };
    let mut body = Vec::new();
    field(&mut body, b"MQTT");
    body.push(4);
    body.push(if login.is_some() { 0xc2 } else { 0x02 });
    body.extend_from_slice(&10u16.to_be_bytes());
    field(&mut body, b"waymark-probe");
    if let Some(l) = login {
        field(&mut body, l.username.as_bytes());
        field(&mut body, l.password.as_bytes());
    }
    let mut connect = vec![0x10];
    crate::mqtt_frame::encode_remaining_length(body.len(), &mut connect);
    connect.extend_from_slice(&body);
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
    login: &BrokerLogin,
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
        auth: Some(std::collections::HashMap::from([(
            login.username.clone(),
            login.password.clone(),
        )])),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_internal_ports_accept_only_the_fronts_login() {
        let broker = EmbeddedBroker::start(64 * 1024, 16, 1 << 20).await.expect("broker");
        assert!(probe(broker.internal_addr, Some(&broker.login)).await.is_ok());
        assert!(
            probe(broker.internal_addr, None).await.is_err(),
            "a local process without the login must not get past the front"
        );
        let guess = BrokerLogin {
            username: broker.login.username.clone(),
            password: "guess".into(),
        };
        assert!(probe(broker.internal_addr, Some(&guess)).await.is_err());
        assert!(!format!("{:?}", broker.login).contains(&broker.login.password));
    }
}
