//! The public MQTT listeners (plaintext and TLS). Each device connection is proxied
//! to the embedded broker's loopback port; on the way the acceptor caps connections,
//! terminates TLS (each handshake in the connection's own task, under a timeout, so
//! an idle socket blocks nobody), authenticates the CONNECT against the device
//! registry, checks that every PUBLISH is for the authenticated device and refuses
//! oversized packets. Every refusal is counted by reason. See docs/SECURITY.md.
//!
//! The broker acknowledges a QoS 1 PUBLISH on receipt; the front holds that PUBACK
//! until ingest has settled the message (its reads committed), so a device is never
//! told a read was delivered that a `kill -9` could lose (`mqtt_hold`, `mqtt_settle`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, debug, info_span, warn};

use crate::device_auth::{DeviceCredentials, Identity};
use crate::inflight::InflightBudget;
use crate::metrics::GatewayMetrics;
use crate::mqtt_connect::{self, ConnectError, MAX_CLIENT_ID_LEN, MAX_CONNECT_BYTES, Refusal, Version};
use crate::mqtt_frame::{FrameError, FrameScanner};
use crate::mqtt_hold::{HeldPubacks, HoldError, Packet, PacketSplitter};
use crate::mqtt_settle::{Settlements, Waiter};

/// A device must send its CONNECT this soon after connecting (and after its TLS
/// handshake); the broker's own limit is the same.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// TLS handshakes in progress at once; more are refused (and counted) rather than
/// queued, so a flood of slow handshakes costs bounded CPU and memory.
const MAX_CONCURRENT_HANDSHAKES: usize = 64;

#[derive(Debug, Clone)]
pub struct FrontLimits {
    pub max_connections: usize,
    /// Largest MQTT packet body accepted from a device.
    pub max_packet_bytes: usize,
    /// Publish bytes the broker may hold that ingest has not taken yet.
    pub inflight: Arc<InflightBudget>,
}

/// What every connection needs.
#[derive(Debug)]
pub struct Front {
    /// The embedded broker's MQTT 3.1.1 listener.
    pub broker: SocketAddr,
    /// Its MQTT 5 listener, if it runs one; without it v5 devices are refused.
    pub broker_v5: Option<SocketAddr>,
    /// The front's login at the broker, put in every forwarded CONNECT.
    pub broker_login: crate::broker::BrokerLogin,
    pub limits: FrontLimits,
    pub credentials: Arc<DeviceCredentials>,
    pub metrics: Arc<GatewayMetrics>,
    /// Where ingest tells connections that a publish's reads are recorded.
    pub settlements: Arc<Settlements>,
}

impl Front {
    /// The front of `broker`: its listeners and the login they accept.
    pub fn new(
        broker: &crate::broker::EmbeddedBroker,
        limits: FrontLimits,
        credentials: Arc<DeviceCredentials>,
        metrics: Arc<GatewayMetrics>,
        settlements: Arc<Settlements>,
    ) -> Self {
        Self {
            broker: broker.internal_addr,
            broker_v5: broker.internal_v5_addr,
            broker_login: broker.login.clone(),
            limits,
            credentials,
            metrics,
            settlements,
        }
    }
}

/// The TLS listener and how it does handshakes.
pub struct TlsListener {
    pub listener: TcpListener,
    pub acceptor: tokio_rustls::TlsAcceptor,
    pub handshake_timeout: Duration,
}

impl std::fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsListener")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// A connection's place under `max_connections`, given back when dropped.
struct Slot(Arc<AtomicUsize>, Arc<GatewayMetrics>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
        self.1.mqtt_connections.dec();
    }
}

async fn accept(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

/// Accepts on the plaintext and/or TLS listener until shutdown.
pub async fn run(front: Arc<Front>, plain: Option<TcpListener>, tls: Option<TlsListener>, shutdown: CancellationToken) {
    let open = Arc::new(AtomicUsize::new(0));
    let handshakes = Arc::new(Semaphore::new(MAX_CONCURRENT_HANDSHAKES));
    let tls_listener = tls.as_ref().map(|t| &t.listener);
    loop {
        let (accepted, is_tls) = tokio::select! {
            () = shutdown.cancelled() => return,
            a = accept(plain.as_ref()) => (a, false),
            a = accept(tls_listener) => (a, true),
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                warn!(error = %e, "mqtt accept failed");
                continue;
            }
        };
        if open.load(Ordering::Relaxed) >= front.limits.max_connections {
            front.metrics.reject("too_many_connections", None);
            warn!(%peer, limit = front.limits.max_connections, "mqtt connection refused: connection limit reached");
            continue;
        }
        open.fetch_add(1, Ordering::Relaxed);
        front.metrics.mqtt_connections.inc();
        let slot = Slot(open.clone(), front.metrics.clone());
        let (front, shutdown) = (front.clone(), shutdown.clone());
        let tls = match (is_tls, &tls) {
            (true, Some(t)) => Some((t.acceptor.clone(), t.handshake_timeout, handshakes.clone())),
            _ => None,
        };
        tokio::spawn(
            async move {
                let _slot = slot;
                match tls {
                    None => session(stream, &front, shutdown).await,
                    Some((acceptor, timeout, handshakes)) => {
                        let Ok(permit) = handshakes.try_acquire_owned() else {
                            front.metrics.reject("tls_handshake_busy", None);
                            warn!(
                                limit = MAX_CONCURRENT_HANDSHAKES,
                                "tls handshake refused: too many in progress"
                            );
                            return;
                        };
                        let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
                            Ok(Ok(s)) => s,
                            Ok(Err(e)) => {
                                front.metrics.reject("tls_handshake_failed", None);
                                warn!(error = %e, "tls handshake failed");
                                return;
                            }
                            Err(_) => {
                                front.metrics.reject("tls_handshake_timeout", None);
                                warn!(?timeout, "tls handshake timed out; closing the connection");
                                return;
                            }
                        };
                        drop(permit);
                        session(stream, &front, shutdown).await;
                    }
                }
            }
            .instrument(info_span!("mqtt_conn", %peer, tls = is_tls)),
        );
    }
}

/// Why a device's connection ended before it reached the broker.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("no CONNECT within {0:?}")]
    ConnectTimeout(Duration),
    #[error("CONNECT of {0} bytes exceeds the limit of {MAX_CONNECT_BYTES}")]
    ConnectTooLarge(usize),
    #[error(transparent)]
    Connect(#[from] ConnectError),
    #[error("connection closed before CONNECT: {0}")]
    Io(#[from] std::io::Error),
}

impl SessionError {
    fn reason(&self) -> Option<&'static str> {
        match self {
            Self::ConnectTimeout(_) => Some("connect_timeout"),
            Self::ConnectTooLarge(_) => Some("oversized"),
            Self::Connect(ConnectError::UnsupportedProtocol(_)) => Some("unsupported_protocol"),
            Self::Connect(_) => Some("malformed_connect"),
            // A device going away (or a port scan) is not a rejection.
            Self::Io(_) => None,
        }
    }
}

/// Reads until `buf` holds the whole first packet; returns its length. Bytes after
/// it (a device may send its first PUBLISH right away) stay in `buf`.
async fn read_first_packet<S: AsyncRead + Unpin>(device: &mut S, buf: &mut Vec<u8>) -> Result<usize, SessionError> {
    let mut chunk = [0u8; 4096];
    loop {
        if let Some((header, remaining)) = mqtt_connect::fixed_header(buf)? {
            if remaining > MAX_CONNECT_BYTES {
                return Err(SessionError::ConnectTooLarge(remaining));
            }
            if buf.len() >= header + remaining {
                return Ok(header + remaining);
            }
        }
        let n = device.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Sends a refusing CONNACK (best effort) and closes.
async fn refuse<S: AsyncWrite + Unpin>(device: &mut S, version: Version, refusal: Refusal) {
    let write = async {
        device
            .write_all(&mqtt_connect::connack_refusal(version, refusal))
            .await?;
        device.flush().await?;
        device.shutdown().await
    };
    tokio::time::timeout(Duration::from_secs(1), write).await.ok();
}

/// Broker client ids for connections that sent an empty one.
static ASSIGNED_IDS: AtomicU64 = AtomicU64::new(0);

/// One device connection: CONNECT, authentication, then the proxy.
async fn session<S>(mut device: S, front: &Front, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let mut buf = Vec::with_capacity(512);
    let first = tokio::time::timeout(CONNECT_TIMEOUT, read_first_packet(&mut device, &mut buf))
        .await
        .unwrap_or(Err(SessionError::ConnectTimeout(CONNECT_TIMEOUT)));
    let parsed = first.and_then(|len| Ok((len, mqtt_connect::parse_connect(&buf[..len])?)));
    let (len, connect) = match parsed {
        Ok(c) => c,
        Err(e) => {
            if let SessionError::Connect(ConnectError::UnsupportedProtocol(_)) = e {
                refuse(&mut device, Version::V311, Refusal::UnsupportedProtocol).await;
            }
            match e.reason() {
                Some(reason) => {
                    front.metrics.reject(reason, None);
                    warn!(reason, error = %e, "mqtt connection refused");
                }
                None => debug!(error = %e, "device left before connecting"),
            }
            return;
        }
    };
    let version = connect.version;
    let identity = match front.credentials.authenticate(connect.username, connect.password).await {
        Ok(i) => i,
        Err(r) => {
            refuse(&mut device, version, r.refusal).await;
            front.metrics.reject(r.reason, r.device.as_deref());
            // The username is a device id (or a wrong one); the password is never logged.
            let username: String = connect.username.unwrap_or("").chars().take(64).collect();
            warn!(reason = r.reason, %username, "mqtt connection refused: authentication failed");
            return;
        }
    };
    let device_label = identity.device();
    if connect.client_id.len() > MAX_CLIENT_ID_LEN || (connect.client_id.is_empty() && !connect.clean_start) {
        refuse(&mut device, version, Refusal::ClientIdRejected).await;
        front.metrics.reject("client_id_rejected", device_label);
        warn!(
            len = connect.client_id.len(),
            "mqtt connection refused: client id too long, or empty with a persistent session"
        );
        return;
    }
    if let Some(will) = connect.will_topic
        && !front.credentials.may_publish(&identity, will.as_bytes())
    {
        refuse(&mut device, version, Refusal::NotAuthorized).await;
        front.metrics.reject("device_mismatch", device_label);
        warn!(device = device_label.unwrap_or("anonymous"), topic = %will, "mqtt connection refused: will message for another device");
        return;
    }
    // Broker sessions are per device: `<device>:<client id>`, `:<client id>` when
    // anonymous. Devices cannot take over each other's sessions or the ingest link.
    let client_id = match connect.client_id {
        "" => format!("~{}", ASSIGNED_IDS.fetch_add(1, Ordering::Relaxed)),
        id => id.to_string(),
    };
    let broker = match (version, front.broker_v5) {
        (Version::V311, _) => front.broker,
        (Version::V5, Some(v5)) => v5,
        (Version::V5, None) => {
            refuse(&mut device, version, Refusal::UnsupportedProtocol).await;
            front.metrics.reject("unsupported_protocol", device_label);
            warn!("mqtt connection refused: the embedded broker does not serve MQTT 5");
            return;
        }
    };
    let forwarded = connect.rewrite(
        &buf[..len],
        &format!("{}:{client_id}", device_label.unwrap_or("")),
        front.broker_login.as_pair(),
    );
    let leftover = buf.split_off(len);
    debug!(device = device_label.unwrap_or("anonymous"), %client_id, ?version, "mqtt device connected");
    let handoff = Handoff {
        broker,
        connect: forwarded,
        leftover,
        v5: !matches!(version, Version::V311),
    };
    proxy(device, handoff, &identity, front, shutdown).await;
}

/// What an accepted device connection hands to the broker side.
struct Handoff {
    broker: SocketAddr,
    /// The CONNECT to send the broker.
    connect: Vec<u8>,
    /// Bytes the device sent after its CONNECT, already read.
    leftover: Vec<u8>,
    v5: bool,
}

async fn proxy<S>(device: S, handoff: Handoff, identity: &Identity, front: &Front, shutdown: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let Handoff {
        broker,
        connect,
        leftover,
        v5,
    } = handoff;
    let upstream = match TcpStream::connect(broker).await {
        Ok(s) => s,
        Err(e) => {
            warn!(error = %e, "embedded broker unreachable; closing device connection");
            return;
        }
    };
    upstream.set_nodelay(true).ok();
    let (mut dev_rx, dev_tx) = tokio::io::split(device);
    let (mut up_rx, mut up_tx) = upstream.into_split();
    // QoS 1 publishes forwarded, in order, to the task that holds their PUBACKs; and
    // ingest's verdicts on them (through `front.settlements`).
    let (held_tx, held_rx) = mpsc::channel(MAX_HELD_PER_CONNECTION);
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let inbound = async {
        up_tx.write_all(&connect).await?;
        let mut conn = Inbound {
            scanner: FrameScanner::new(front.limits.max_packet_bytes).mqtt5(v5),
            out: Vec::with_capacity(64 * 1024),
            held: held_tx,
            results: results_tx,
            next_seq: 0,
        };
        let mut buf = vec![0u8; 64 * 1024];
        if let Some(refused) = conn.forward(&leftover, identity, front, &mut up_tx).await? {
            return Ok(Some(refused));
        }
        loop {
            let n = dev_rx.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(None);
            }
            if let Some(refused) = conn.forward(&buf[..n], identity, front, &mut up_tx).await? {
                return Ok(Some(refused));
            }
        }
    };
    let outbound = outbound(&mut up_rx, dev_tx, held_rx, results_rx);
    let device = identity.device();
    tokio::select! {
        () = shutdown.cancelled() => {}
        r = inbound => match r {
            Ok(Some((e, topic))) => {
                front.metrics.reject(e.reason(), device);
                warn!(device = device.unwrap_or("anonymous"), %topic, error = %e, "mqtt packet refused; closing device connection");
            }
            Ok(None) => debug!("device closed the connection"),
            Err(e) => debug!(error = %e, "device connection ended"),
        },
        r = outbound => match r {
            Ok(()) => debug!("broker closed the connection"),
            Err(Outbound::Io(e)) => debug!(error = %e, "device connection ended"),
            Err(Outbound::Malformed(e)) => warn!(error = %e, "broker stream unreadable; closing device connection"),
            Err(Outbound::NotRecorded(e)) => {
                // The recorder has logged and counted why; the device resends after
                // it reconnects, and nothing it was told is delivered is lost.
                warn!(device = device.unwrap_or("anonymous"), error = %e, "closing device connection without acknowledging");
            }
            Err(Outbound::Timeout(held)) => {
                front.metrics.reject("puback_timeout", device);
                warn!(
                    device = device.unwrap_or("anonymous"),
                    held,
                    timeout_s = HOLD_TIMEOUT.as_secs(),
                    "publishes not recorded in time; closing device connection so that it resends them"
                );
            }
        },
    }
}

/// Most QoS 1 publishes of one connection awaiting their PUBACK; a device with more
/// in flight is slowed down (MQTT 5's default receive maximum is far above it, real
/// clients keep 10-100 in flight).
const MAX_HELD_PER_CONNECTION: usize = 1024;
/// A publish not recorded this long after it was forwarded (the broker lost it, or
/// the store is stuck) closes the connection: the device then resends it.
const HOLD_TIMEOUT: Duration = Duration::from_secs(60);

/// A QoS 1 publish forwarded to the broker, on its way to the PUBACK holder.
struct Forwarded {
    seq: u64,
    packet_id: u16,
    at: Instant,
}

/// The device-to-broker half of a connection.
struct Inbound {
    scanner: FrameScanner,
    out: Vec<u8>,
    held: mpsc::Sender<Forwarded>,
    results: mpsc::UnboundedSender<(u64, bool)>,
    next_seq: u64,
}

impl Inbound {
    /// Forwards what the scanner releases of `bytes`, after admitting its publish
    /// bytes to the in-flight budget and registering its QoS 1 publishes, so that
    /// ingest can settle them and their PUBACKs wait for that. `Ok(Some(..))`: a
    /// refused packet and its topic, if any.
    async fn forward<W: AsyncWrite + Unpin>(
        &mut self,
        bytes: &[u8],
        identity: &Identity,
        front: &Front,
        upstream: &mut W,
    ) -> std::io::Result<Option<(FrameError, String)>> {
        let publish_bytes = match scan(&mut self.scanner, bytes, &mut self.out, identity, front) {
            Ok(b) => b,
            Err(refused) => return Ok(Some(refused)),
        };
        for p in self.scanner.take_qos1() {
            self.next_seq += 1;
            let seq = self.next_seq;
            let waiter = Waiter {
                results: self.results.clone(),
                seq,
            };
            front.settlements.expect(p.key, waiter);
            let forwarded = Forwarded {
                seq,
                packet_id: p.packet_id,
                at: Instant::now(),
            };
            if self.held.send(forwarded).await.is_err() {
                return Err(std::io::ErrorKind::BrokenPipe.into());
            }
        }
        let inflight = &front.limits.inflight;
        if !inflight.try_admit(publish_bytes) {
            front.metrics.mqtt_backpressure_waits.inc();
            inflight.admit(publish_bytes).await;
        }
        upstream.write_all(&self.out).await?;
        Ok(None)
    }
}

#[derive(Debug, thiserror::Error)]
enum Outbound {
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Malformed(#[from] FrameError),
    #[error(transparent)]
    NotRecorded(#[from] HoldError),
    #[error("{0} publishes held too long")]
    Timeout(usize),
}

/// The broker-to-device half: passes packets on, except PUBACKs of QoS 1 publishes,
/// which wait until ingest has settled their message, then go out in order.
async fn outbound<R, W>(
    up_rx: &mut R,
    mut dev_tx: W,
    mut forwarded: mpsc::Receiver<Forwarded>,
    mut results: mpsc::UnboundedReceiver<(u64, bool)>,
) -> Result<(), Outbound>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut held = HeldPubacks::default();
    let mut splitter = PacketSplitter::default();
    let mut buf = vec![0u8; 16 * 1024];
    let mut out = Vec::with_capacity(16 * 1024);
    loop {
        out.clear();
        held.release(&mut out)?;
        if !out.is_empty() {
            dev_tx.write_all(&out).await?;
        }
        let deadline = held.oldest().map(|t| tokio::time::Instant::from_std(t + HOLD_TIMEOUT));
        tokio::select! {
            n = up_rx.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    return Ok(());
                }
                // A PUBACK follows its PUBLISH, which was registered before it was
                // forwarded: take in every registration first.
                while let Ok(f) = forwarded.try_recv() {
                    held.published(f.seq, f.packet_id, f.at);
                }
                out.clear();
                splitter.feed(&buf[..n], &mut |p| match p {
                    Packet::Puback { packet_id, bytes } if held.broker_acked(packet_id, bytes) => {}
                    Packet::Puback { bytes, .. } | Packet::Other(bytes) => out.extend_from_slice(bytes),
                })?;
                if !out.is_empty() {
                    dev_tx.write_all(&out).await?;
                }
            }
            Some(f) = forwarded.recv() => held.published(f.seq, f.packet_id, f.at),
            Some((seq, recorded)) = results.recv() => {
                while let Ok(f) = forwarded.try_recv() {
                    held.published(f.seq, f.packet_id, f.at);
                }
                held.settled(seq, recorded);
            }
            () = sleep_until(deadline) => return Err(Outbound::Timeout(held.len())),
        }
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Feeds `bytes` to the scanner, which checks each PUBLISH topic and SUBSCRIBE
/// filter against the connection's identity; what may be forwarded goes to `out`.
/// Returns the publish bytes completed, or the refused packet's error and topic.
fn scan(
    scanner: &mut FrameScanner,
    bytes: &[u8],
    out: &mut Vec<u8>,
    identity: &Identity,
    front: &Front,
) -> Result<u64, (FrameError, String)> {
    let mut refused_topic = String::new();
    out.clear();
    let mut refused_filter = String::new();
    let fed = scanner.feed_checked(
        bytes,
        out,
        &mut |topic| {
            let ok = front.credentials.may_publish(identity, topic);
            if !ok {
                refused_topic = String::from_utf8_lossy(topic).chars().take(200).collect();
            }
            ok
        },
        &mut |filter| {
            let ok = front.credentials.may_subscribe(identity, filter);
            if !ok {
                refused_filter = String::from_utf8_lossy(filter).chars().take(200).collect();
            }
            ok
        },
    );
    if refused_topic.is_empty() {
        refused_topic = refused_filter;
    }
    fed.map_err(|e| (e, refused_topic))
}
