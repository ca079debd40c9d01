//! `waymark-gateway enroll`: gets this site's certificate from central with a
//! one-time token. The key is generated here and never leaves the machine;
//! central sees only a certificate signing request.
//!
//! Trust: the token carries a pin of central's CA. Before sending anything the
//! gateway fetches the certificate chain central presents, accepts it only if
//! it contains the pinned CA, and then makes the enrollment call over TLS
//! verified against that CA (server name included).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::ServerName;
use sha2::{Digest, Sha256};
use tokio::net::TcpStream;
use tonic::transport::{Certificate, ClientTlsConfig};
use waymark_proto::enrollment::EnrollmentToken;
use waymark_proto::hex;
use waymark_proto::v1::EnrollRequest;
use waymark_proto::v1::enrollment_client::EnrollmentClient;

use crate::config::GatewayConfig;

#[derive(Debug, thiserror::Error)]
pub enum EnrollError {
    #[error("central.endpoint is plaintext; enrollment needs an https:// endpoint")]
    Plaintext,
    #[error(transparent)]
    Token(#[from] waymark_proto::enrollment::TokenFormatError),
    #[error("this gateway is already enrolled ({0} exists); pass --force to replace its certificate")]
    AlreadyEnrolled(String),
    #[error("cannot reach central at {endpoint}: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error(
        "central at {endpoint} does not present the CA this token was issued for (pin {pin}); wrong endpoint, or someone is in between"
    )]
    PinMismatch { endpoint: String, pin: String },
    #[error("central refused the enrollment: {0}")]
    Refused(String),
    #[error("the token was issued for site `{token_site}`, but this gateway is configured as `{site}`")]
    WrongSite { token_site: String, site: String },
    #[error("certificate request: {0}")]
    Key(#[from] rcgen::Error),
    #[error("{path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// What enrollment wrote.
#[derive(Debug, Clone)]
pub struct Enrolled {
    pub site: String,
    pub cert: PathBuf,
    pub not_after_ms: i64,
}

pub async fn enroll(config: &GatewayConfig, token: &str, force: bool) -> Result<Enrolled, EnrollError> {
    let tls = config.central.tls.as_ref().ok_or(EnrollError::Plaintext)?;
    let token = EnrollmentToken::parse(token)?;
    if tls.cert.exists() && !force {
        return Err(EnrollError::AlreadyEnrolled(tls.cert.display().to_string()));
    }
    let endpoint = config.central.endpoint.clone();
    let unreachable = |detail: String| EnrollError::Unreachable {
        endpoint: endpoint.clone(),
        detail,
    };
    let uri = endpoint
        .parse::<tonic::transport::Uri>()
        .map_err(|e| unreachable(e.to_string()))?;
    let host = uri.host().unwrap_or_default().trim_matches(['[', ']']).to_string();
    let port = uri.port_u16().unwrap_or(443);
    let server_name = tls.server_name.clone().unwrap_or_else(|| host.clone());

    let chain = presented_chain(&host, port, &server_name).await.map_err(unreachable)?;
    let ca_der = chain
        .iter()
        .find(|der| Sha256::digest(der)[..16] == token.ca_pin)
        .ok_or_else(|| EnrollError::PinMismatch {
            endpoint: endpoint.clone(),
            pin: token.ca_pin_hex(),
        })?;
    let ca_pem = der_to_pem(ca_der);

    let key = rcgen::KeyPair::generate()?;
    let mut params = rcgen::CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, config.site_id.as_str());
    let csr_pem = params.serialize_request(&key)?.pem()?;

    let channel = crate::central_link::endpoint(&config.central)
        .and_then(|e| {
            e.tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(&ca_pem))
                    .domain_name(server_name.clone()),
            )
            .map_err(|e| crate::central_link::LinkError::Endpoint {
                endpoint: endpoint.clone(),
                detail: e.to_string(),
            })
        })
        .map_err(|e| unreachable(e.to_string()))?
        .connect()
        .await
        .map_err(|e| unreachable(format!("{e}: {}", source_chain(&e))))?;
    let reply = EnrollmentClient::new(channel)
        .enroll(EnrollRequest {
            token: token.to_string(),
            csr_pem,
            gateway_version: env!("CARGO_PKG_VERSION").to_string(),
            site_id: config.site_id.clone(),
        })
        .await
        .map_err(|s| EnrollError::Refused(s.message().to_string()))?
        .into_inner();
    if reply.site_id != config.site_id {
        return Err(EnrollError::WrongSite {
            token_site: reply.site_id,
            site: config.site_id.clone(),
        });
    }
    let received_ca = waymark_proto::identity::first_certificate_der(&reply.ca_certificate_pem).unwrap_or_default();
    if Sha256::digest(&received_ca)[..16] != token.ca_pin {
        return Err(EnrollError::PinMismatch {
            endpoint,
            pin: token.ca_pin_hex(),
        });
    }
    write_files(
        &tls.key,
        &key.serialize_pem(),
        &tls.cert,
        &reply.certificate_pem,
        &tls.ca_cert,
        &reply.ca_certificate_pem,
    )?;
    tracing::info!(site = %reply.site_id, cert = %tls.cert.display(), ca_pin = %hex(&token.ca_pin), "enrolled");
    Ok(Enrolled {
        site: reply.site_id,
        cert: tls.cert.clone(),
        not_after_ms: reply.not_after_ms,
    })
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

/// Key first (private), then the certificate, then the CA; each written to a
/// temporary file and renamed, so a crash leaves the old set or the new one.
fn write_files(
    key_path: &Path,
    key: &str,
    cert_path: &Path,
    cert: &str,
    ca_path: &Path,
    ca: &str,
) -> Result<(), EnrollError> {
    for (path, contents, mode) in [(key_path, key, 0o600), (cert_path, cert, 0o644), (ca_path, ca, 0o644)] {
        write_atomic(path, contents, mode).map_err(|source| EnrollError::Write {
            path: path.display().to_string(),
            source,
        })?;
    }
    Ok(())
}

fn write_atomic(path: &Path, contents: &str, mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    // `site.key.tmp`, not `site.tmp`: the key and the certificate must not share a
    // temporary file. A leftover one is removed and the file created afresh, so the
    // key gets `mode` even if an earlier run left a world-readable file behind.
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    let tmp = path.with_file_name(name);
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(&tmp)?;
    f.write_all(contents.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

fn der_to_pem(der: &[u8]) -> String {
    pem::encode(&pem::Pem::new("CERTIFICATE", der.to_vec()))
}

/// The certificates central presents, fetched over a TLS handshake whose only
/// purpose is to see them (nothing is sent over it). The handshake signature is
/// still checked, so the chain belongs to whoever holds the leaf's key.
async fn presented_chain(host: &str, port: u16, server_name: &str) -> Result<Vec<Vec<u8>>, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(waymark_proto::tls::AnyChainVerifier::new(provider)))
        .with_no_client_auth();
    let name = ServerName::try_from(server_name.to_string()).map_err(|e| e.to_string())?;
    let tcp = tokio::time::timeout(Duration::from_secs(10), TcpStream::connect((host, port)))
        .await
        .map_err(|_| "connection timed out".to_string())?
        .map_err(|e| e.to_string())?;
    let tls = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp),
    )
    .await
    .map_err(|_| "TLS handshake timed out".to_string())?
    .map_err(|e| format!("TLS handshake: {e}"))?;
    let chain = tls
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c.iter().map(|c| c.to_vec()).collect())
        .unwrap_or_default();
    Ok(chain)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_private_even_over_a_leftover_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let (key, cert, ca) = (
            dir.path().join("site.key"),
            dir.path().join("site.crt"),
            dir.path().join("ca.crt"),
        );
        // What an interrupted earlier run (or another user) may leave behind.
        for leftover in ["site.tmp", "site.key.tmp"] {
            let path = dir.path().join(leftover);
            std::fs::write(&path, "old").expect("leftover");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        }
        write_files(&key, "KEY", &cert, "CERT", &ca, "CA").expect("written");
        let mode = std::fs::metadata(&key).expect("key").permissions().mode();
        assert_eq!(
            mode & 0o077,
            0,
            "the private key must not be readable by others: {mode:o}"
        );
        assert_eq!(std::fs::read_to_string(&key).expect("key"), "KEY");
        assert_eq!(std::fs::read_to_string(&cert).expect("cert"), "CERT");
    }

    #[test]
    fn pem_round_trips_through_the_parser() {
        for len in [0usize, 1, 2, 3, 64, 100, 511] {
            let der: Vec<u8> = (0..len).map(|i| (i * 7) as u8).collect();
            let pem = der_to_pem(&der);
            if len > 0 {
                assert_eq!(
                    waymark_proto::identity::first_certificate_der(&pem),
                    Some(der),
                    "length {len}"
                );
            }
        }
    }
}
