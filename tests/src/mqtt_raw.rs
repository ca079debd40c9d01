//! A device that speaks MQTT byte by byte, over TCP or TLS: for tests that need to
//! see the exact CONNACK code, send what a real client would not (another device's
//! topic, MQTT 5), or hold a socket idle. Also a throwaway PKI for the TLS listener.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use rustls::pki_types::pem::PemObject;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

/// A CA and a server certificate for 127.0.0.1 / localhost it issued, written as PEM.
pub struct TestPki {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A client config trusting only the CA (ring provider, chosen explicitly).
    pub client: Arc<rustls::ClientConfig>,
}

impl TestPki {
    pub fn generate(dir: &Path) -> anyhow::Result<Self> {
        let ca = crate::pki::TestCa::new("waymark test site CA")?;
        let (leaf_pem, key_pem) = ca.issue_server(&["localhost", "127.0.0.1"])?;
        let (cert_path, key_path) = (dir.join("gateway-mqtt.pem"), dir.join("gateway-mqtt.key"));
        std::fs::write(&cert_path, leaf_pem)?;
        std::fs::write(&key_path, key_pem)?;
        let mut roots = rustls::RootCertStore::empty();
        for cert in rustls::pki_types::CertificateDer::pem_slice_iter(ca.cert_pem.as_bytes()) {
            roots.add(cert?)?;
        }
        let client = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Self {
            cert: cert_path,
            key: key_path,
            client: Arc::new(client),
        })
    }

    /// A TLS connection to the gateway's MQTT TLS listener.
    pub async fn connect(&self, addr: SocketAddr) -> anyhow::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(addr).await?;
        let name = rustls::pki_types::ServerName::try_from("localhost")?;
        Ok(tokio_rustls::TlsConnector::from(self.client.clone())
            .connect(name, tcp)
            .await?)
    }
}

fn field(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

fn packet(first: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![first];
    waymark_gateway::mqtt_frame::encode_remaining_length(body.len(), &mut out);
    out.extend(body);
    out
}

/// What a device sends in its CONNECT.
#[derive(Debug, Clone, Default)]
pub struct Login<'a> {
    pub v5: bool,
    pub client_id: &'a str,
    pub username: Option<&'a str>,
    pub password: Option<&'a str>,
    pub will_topic: Option<&'a str>,
}

impl Login<'_> {
    pub fn packet(&self) -> Vec<u8> {
        let mut body = Vec::new();
        field(&mut body, b"MQTT");
        body.push(if self.v5 { 5 } else { 4 });
        let flags = 0x02
            | if self.will_topic.is_some() { 0x04 } else { 0 }
            | if self.username.is_some() { 0x80 } else { 0 }
            | if self.password.is_some() { 0x40 } else { 0 };
        body.push(flags);
        body.extend_from_slice(&[0, 30]);
        if self.v5 {
            body.push(0);
        }
        field(&mut body, self.client_id.as_bytes());
        if let Some(t) = self.will_topic {
            if self.v5 {
                body.push(0);
            }
            field(&mut body, t.as_bytes());
            field(&mut body, b"gone");
        }
        if let Some(u) = self.username {
            field(&mut body, u.as_bytes());
        }
        if let Some(p) = self.password {
            field(&mut body, p.as_bytes());
        }
        packet(0x10, body)
    }
}

/// One device connection.
pub struct RawDevice<S> {
    pub stream: S,
    v5: bool,
    next_id: u16,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RawDevice<S> {
    /// Sends CONNECT and returns the device with the CONNACK's return (reason) code.
    pub async fn connect(mut stream: S, login: &Login<'_>) -> anyhow::Result<(Self, u8)> {
        stream.write_all(&login.packet()).await?;
        let mut header = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut header))
            .await
            .context("no CONNACK within 10 s")?
            .context("connection closed before CONNACK")?;
        if header[0] != 0x20 {
            bail!("expected CONNACK, got packet type {:#x}", header[0]);
        }
        let mut rest = vec![0u8; usize::from(header[1])];
        stream.read_exact(&mut rest).await?;
        let code = *rest.get(1).context("short CONNACK")?;
        let device = Self {
            stream,
            v5: login.v5,
            next_id: 1,
        };
        Ok((device, code))
    }

    /// Publishes with QoS 1 and waits for the PUBACK.
    pub async fn publish(&mut self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        let id = self.next_id;
        self.next_id += 1;
        let mut body = Vec::new();
        field(&mut body, topic.as_bytes());
        body.extend_from_slice(&id.to_be_bytes());
        if self.v5 {
            body.push(0);
        }
        body.extend_from_slice(payload);
        self.stream.write_all(&packet(0x32, body)).await?;
        let mut header = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut header))
            .await
            .context("no PUBACK within 10 s")?
            .context("connection closed instead of PUBACK")?;
        let mut rest = vec![0u8; usize::from(header[1])];
        self.stream.read_exact(&mut rest).await?;
        if header[0] != 0x40 || rest.get(..2) != Some(&id.to_be_bytes()[..]) {
            bail!("expected PUBACK {id}, got {header:02x?} {rest:02x?}");
        }
        Ok(())
    }

    /// Publishes with QoS 1 without waiting for anything.
    pub async fn send_publish(&mut self, topic: &str, payload: &[u8]) -> anyhow::Result<()> {
        let mut body = Vec::new();
        field(&mut body, topic.as_bytes());
        body.extend_from_slice(&self.next_id.to_be_bytes());
        if self.v5 {
            body.push(0);
        }
        body.extend_from_slice(payload);
        self.next_id += 1;
        self.stream.write_all(&packet(0x32, body)).await?;
        Ok(())
    }

    /// Subscribes to `filter` (QoS 1) and returns the SUBACK's reason code, or an
    /// error if the connection closes instead.
    pub async fn subscribe(&mut self, filter: &str) -> anyhow::Result<u8> {
        let id = self.next_id;
        self.next_id += 1;
        let mut body = id.to_be_bytes().to_vec();
        if self.v5 {
            body.push(0);
        }
        field(&mut body, filter.as_bytes());
        body.push(1);
        self.stream.write_all(&packet(0x82, body)).await?;
        let mut header = [0u8; 2];
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_exact(&mut header))
            .await
            .context("no SUBACK within 10 s")?
            .context("connection closed instead of SUBACK")?;
        let mut rest = vec![0u8; usize::from(header[1])];
        self.stream.read_exact(&mut rest).await?;
        if header[0] != 0x90 {
            bail!("expected SUBACK, got {header:02x?}");
        }
        rest.last().copied().context("empty SUBACK")
    }

    /// Whether the gateway closes the connection within `timeout` (data before the
    /// close is skipped).
    pub async fn closed_within(&mut self, timeout: Duration) -> bool {
        let mut buf = [0u8; 256];
        let wait = async {
            loop {
                match self.stream.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(timeout, wait).await.is_ok()
    }
}
