//! TLS for the device MQTT listener: the rustls server config built from the PEM
//! files in `[mqtt]`, with the ring provider chosen explicitly (no process default).
//! The handshake itself runs in `mqtt_front`, one task per connection, under a timeout.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("mqtt.tls_cert: cannot use {}: {reason}", path.display())]
    Cert { path: PathBuf, reason: String },
    #[error("mqtt.tls_key: cannot use {}: {reason}", path.display())]
    Key { path: PathBuf, reason: String },
    #[error("mqtt.tls_cert and mqtt.tls_key: {} and {} do not make a TLS server: {reason}", cert.display(), key.display())]
    Config {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// Reads the certificate chain and private key (PEM) and checks that they belong
/// together. Errors name the file.
pub fn server_config(cert: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_err = |reason: String| TlsError::Cert {
        path: cert.to_path_buf(),
        reason,
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| cert_err(pem_reason(&e)))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| cert_err(pem_reason(&e)))?;
    if chain.is_empty() {
        return Err(cert_err("no CERTIFICATE block found".into()));
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: pem_reason(&e),
    })?;
    let config_err = |reason: String| TlsError::Config {
        cert: cert.to_path_buf(),
        key: key.to_path_buf(),
        reason,
    };
    let config = ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| config_err(e.to_string()))?;
    Ok(Arc::new(config))
}

fn pem_reason(e: &rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM block of the expected kind found".into(),
        other => format!("not valid PEM: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_a_pair_and_names_the_bad_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(vec!["gateway.local".into()])
            .and_then(|p| p.self_signed(&key))
            .expect("cert");
        let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).expect("write");
        std::fs::write(&key_path, key.serialize_pem()).expect("write");
        server_config(&cert_path, &key_path).expect("a valid pair");

        let missing = dir.path().join("missing.pem");
        let e = server_config(&missing, &key_path).expect_err("no cert file");
        assert!(
            e.to_string().contains("mqtt.tls_cert") && e.to_string().contains("missing.pem"),
            "{e}"
        );
        let e = server_config(&cert_path, &cert_path).expect_err("a cert is not a key");
        assert!(
            e.to_string().contains("mqtt.tls_key") && e.to_string().contains("cert.pem"),
            "{e}"
        );
        let other = rcgen::KeyPair::generate().expect("key");
        std::fs::write(&key_path, other.serialize_pem()).expect("write");
        let e = server_config(&cert_path, &key_path).expect_err("mismatched key");
        assert!(e.to_string().contains("do not make a TLS server"), "{e}");
    }
}
