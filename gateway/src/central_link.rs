//! Connection setup to central, shared by replication, downlink and status.
//! One lazily connected HTTP/2 channel; tonic reconnects it underneath.
//!
//! Site identity: under mutual TLS (the default) central reads the site from
//! this gateway's certificate. On a development plaintext link the site id
//! travels in the `x-waymark-site` header instead; the tasks using the client
//! are the same either way.

use std::path::Path;
use std::time::Duration;

use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};
use waymark_proto::SITE_HEADER;
use waymark_proto::v1::site_sync_client::SiteSyncClient;

use crate::config::{CentralConfig, CentralTls};

pub type SyncClient = SiteSyncClient<InterceptedService<Channel, SiteMetadata>>;

#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("central endpoint `{endpoint}`: {detail}")]
    Endpoint { endpoint: String, detail: String },
    #[error("{path}: {detail}")]
    TlsFile { path: String, detail: String },
    #[error(
        "no site certificate at {path}: enroll this gateway first with `waymark-gateway enroll --config <file> --token <token from the operator>`"
    )]
    NotEnrolled { path: String },
    #[error("the certificate at {path} is for site `{cert_site}`, but this gateway is configured as `{site}`")]
    WrongSite {
        path: String,
        cert_site: String,
        site: String,
    },
}

/// Adds the site id to every call (read by central only on a plaintext link).
#[derive(Debug, Clone)]
pub struct SiteMetadata(AsciiMetadataValue);

impl Interceptor for SiteMetadata {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        req.metadata_mut().insert(SITE_HEADER, self.0.clone());
        Ok(req)
    }
}

/// The endpoint with the link's timeouts, before TLS.
pub fn endpoint(config: &CentralConfig) -> Result<Endpoint, LinkError> {
    Endpoint::from_shared(config.endpoint.clone())
        .map_err(|e| LinkError::Endpoint {
            endpoint: config.endpoint.clone(),
            detail: e.to_string(),
        })
        .map(|e| {
            e.connect_timeout(Duration::from_secs(5))
                .tcp_nodelay(true)
                .http2_keep_alive_interval(config.keepalive)
                .keep_alive_timeout(config.keepalive)
                .keep_alive_while_idle(true)
        })
}

/// The client for central, and when the site certificate expires (ms since the
/// epoch; `None` on a development plaintext link).
pub fn connect_lazy(config: &CentralConfig, site_id: &str) -> Result<(SyncClient, Option<i64>), LinkError> {
    let err = |detail: String| LinkError::Endpoint {
        endpoint: config.endpoint.clone(),
        detail,
    };
    let mut endpoint = endpoint(config)?;
    let mut not_after_ms = None;
    match &config.tls {
        Some(tls) => {
            let material = SiteTls::load(tls, site_id)?;
            tracing::info!(
                endpoint = %config.endpoint,
                cert = %tls.cert.display(),
                expires = %material.not_after,
                "central link: mutual TLS"
            );
            let days_left = (material.not_after_ms - chrono::Utc::now().timestamp_millis()) / 86_400_000;
            if days_left < 30 {
                tracing::warn!(days_left, cert = %tls.cert.display(), "the site certificate expires soon: enroll again with a new token (waymark-gateway enroll --force)");
            }
            not_after_ms = Some(material.not_after_ms);
            endpoint = endpoint
                .tls_config(material.client_config(tls))
                .map_err(|e| err(e.to_string()))?;
        }
        None => {
            tracing::warn!(endpoint = %config.endpoint, "INSECURE: central link is plaintext and unauthenticated; development only");
        }
    }
    let site: AsciiMetadataValue = MetadataValue::try_from(site_id).map_err(|e| err(e.to_string()))?;
    let channel = endpoint.connect_lazy();
    let client = SiteSyncClient::with_interceptor(channel, SiteMetadata(site))
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20);
    Ok((client, not_after_ms))
}

/// The site's certificate, key and central's CA, checked before first use.
struct SiteTls {
    ca: String,
    cert: String,
    key: String,
    not_after: String,
    not_after_ms: i64,
}

impl SiteTls {
    fn load(tls: &CentralTls, site_id: &str) -> Result<Self, LinkError> {
        if !tls.cert.exists() {
            return Err(LinkError::NotEnrolled {
                path: tls.cert.display().to_string(),
            });
        }
        let cert = read(&tls.cert)?;
        let der = waymark_proto::identity::first_certificate_der(&cert).ok_or_else(|| LinkError::TlsFile {
            path: tls.cert.display().to_string(),
            detail: "no PEM certificate in the file".into(),
        })?;
        let cert_site = waymark_proto::identity::site_of_certificate(&der).map_err(|e| LinkError::TlsFile {
            path: tls.cert.display().to_string(),
            detail: e.to_string(),
        })?;
        if cert_site != site_id {
            return Err(LinkError::WrongSite {
                path: tls.cert.display().to_string(),
                cert_site,
                site: site_id.to_string(),
            });
        }
        let (not_after, not_after_ms) = x509_parser::parse_x509_certificate(&der)
            .map(|(_, c)| {
                let t = c.validity().not_after;
                (t.to_string(), t.timestamp().saturating_mul(1000))
            })
            .unwrap_or_default();
        Ok(Self {
            ca: read(&tls.ca_cert)?,
            key: read(&tls.key)?,
            cert,
            not_after,
            not_after_ms,
        })
    }

    fn client_config(&self, tls: &CentralTls) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&self.ca))
            .identity(Identity::from_pem(&self.cert, &self.key));
        if let Some(name) = &tls.server_name {
            config = config.domain_name(name.clone());
        }
        config
    }
}

fn read(path: &Path) -> Result<String, LinkError> {
    std::fs::read_to_string(path).map_err(|e| LinkError::TlsFile {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}
