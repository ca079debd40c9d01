//! Central's certificate authority: the CA that signs site certificates (created
//! on first start in `<data_dir>/pki`, or given as files from an existing PKI),
//! central's own server certificate, and signing of enrollment requests.
//!
//! A site certificate carries the site id as its subject common name; that is
//! the identity central checks on every call (see `identity.rs`).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateSigningRequestParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SerialNumber,
};
use sha2::{Digest, Sha256};
use time::{Duration as TimeDuration, OffsetDateTime};
use tracing::info;
use waymark_proto::hex;

use crate::auth::secret::{RandomUnavailable, random_bytes};
use crate::config::TlsSettings;
use crate::store::CentralStore;

pub mod enroll;
pub mod routes;
mod store;

pub use store::{EnrollmentError, EnrollmentToken};

/// How long a CA that central creates itself is valid.
const CA_VALIDITY_DAYS: i64 = 3650;
/// Central's own server certificate, issued afresh on every start.
const SERVER_VALIDITY_DAYS: i64 = 397;
/// Bytes of the CA's SHA-256 fingerprint carried in an enrollment token.
pub const PIN_BYTES: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{path}: {detail}")]
    File { path: PathBuf, detail: String },
    #[error("certificate generation failed: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("the certificate request is not usable: {0}")]
    BadRequest(String),
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

pub struct Pki {
    ca_cert_pem: String,
    ca_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
    /// Server certificate followed by the CA, so a client can see the CA it pins.
    server_chain_pem: String,
    server_key_pem: String,
    client_validity: TimeDuration,
}

impl std::fmt::Debug for Pki {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pki")
            .field("ca_pin", &hex(&self.ca_pin()))
            .finish_non_exhaustive()
    }
}

/// A site certificate central signed.
#[derive(Debug, Clone)]
pub struct SignedCert {
    pub pem: String,
    pub not_after_ms: i64,
}

impl Pki {
    /// Loads the CA given in the settings (files from an existing PKI), or the
    /// one central keeps in its store, creating it there on first start; then
    /// issues the server certificate. Every central process on one store thus
    /// signs with the same CA. Blocking.
    pub fn load_or_create(store: &CentralStore, settings: &TlsSettings) -> Result<Self, PkiError> {
        let dir = Path::new("<store>");
        let (ca_cert_pem, ca_key_pem) = match (&settings.ca_cert, &settings.ca_key) {
            (Some(cert), Some(key)) => (read(cert)?, read(key)?),
            _ => match store.stored_ca()? {
                Some(ca) => ca,
                None => {
                    let (cert, key) = create_ca()?;
                    let stored = store.store_ca_if_absent(&cert, &key)?;
                    if stored.0 == cert {
                        info!("created a new certificate authority for site certificates (kept in the store)");
                    }
                    stored
                }
            },
        };
        let bad = |path: &Option<PathBuf>, what: &str, e: rcgen::Error| PkiError::File {
            path: path.clone().unwrap_or_else(|| dir.join(what)),
            detail: format!("not a usable {what}: {e}"),
        };
        let ca_key = KeyPair::from_pem(&ca_key_pem).map_err(|e| bad(&settings.ca_key, "ca.key", e))?;
        let ca_der = waymark_proto::identity::first_certificate_der(&ca_cert_pem).ok_or_else(|| PkiError::File {
            path: settings.ca_cert.clone().unwrap_or_else(|| dir.join("ca.crt")),
            detail: "no PEM certificate in the file".into(),
        })?;
        let issuer = Issuer::from_ca_cert_pem(&ca_cert_pem, ca_key).map_err(|e| bad(&settings.ca_cert, "ca.crt", e))?;
        let (server_chain_pem, server_key_pem) = match (&settings.server_cert, &settings.server_key) {
            (Some(cert), Some(key)) => (read(cert)?, read(key)?),
            _ => {
                let key = KeyPair::generate()?;
                let mut params = CertificateParams::new(settings.server_names.clone())?;
                params.distinguished_name.push(DnType::CommonName, "waymark central");
                params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
                params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
                validity(&mut params, TimeDuration::days(SERVER_VALIDITY_DAYS));
                let cert = params.signed_by(&key, &issuer)?;
                (format!("{}{}", cert.pem(), ca_cert_pem), key.serialize_pem())
            }
        };
        let pki = Self {
            ca_cert_pem,
            ca_der,
            issuer,
            server_chain_pem,
            server_key_pem,
            client_validity: TimeDuration::days(i64::from(settings.client_cert_days)),
        };
        info!(ca_pin = %hex(&pki.ca_pin()), server_names = ?settings.server_names, "central PKI ready");
        Ok(pki)
    }

    pub fn ca_cert_pem(&self) -> &str {
        &self.ca_cert_pem
    }

    /// The first bytes of the CA certificate's SHA-256, hex: what an enrollment
    /// token carries so a gateway knows which central to trust.
    pub fn ca_pin(&self) -> [u8; PIN_BYTES] {
        let mut pin = [0u8; PIN_BYTES];
        pin.copy_from_slice(&Sha256::digest(&self.ca_der)[..PIN_BYTES]);
        pin
    }

    /// The TLS setup of the gRPC port. Client certificates are verified against
    /// the CA when presented, and optional at the TLS layer only so that a gateway
    /// without one can enroll; every other call refuses a caller without one.
    pub fn server_tls(&self) -> tonic::transport::ServerTlsConfig {
        use tonic::transport::{Certificate, Identity, ServerTlsConfig};
        ServerTlsConfig::new()
            .identity(Identity::from_pem(&self.server_chain_pem, &self.server_key_pem))
            .client_ca_root(Certificate::from_pem(&self.ca_cert_pem))
            .client_auth_optional(true)
            .timeout(std::time::Duration::from_secs(10))
    }

    /// Signs a site certificate for the key in `csr_pem`. Nothing else in the
    /// request is trusted: subject, usage and validity are central's.
    pub fn sign_site_csr(&self, csr_pem: &str, site: &str) -> Result<SignedCert, PkiError> {
        let csr =
            CertificateSigningRequestParams::from_pem(csr_pem).map_err(|e| PkiError::BadRequest(e.to_string()))?;
        let mut params = CertificateParams::default();
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, site);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, "waymark-site");
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.use_authority_key_identifier_extension = true;
        params.serial_number = Some(random_serial()?);
        let not_after = validity(&mut params, self.client_validity);
        let cert = params.signed_by(&csr.public_key, &self.issuer)?;
        Ok(SignedCert {
            pem: cert.pem(),
            not_after_ms: (not_after.unix_timestamp_nanos() / 1_000_000) as i64,
        })
    }
}

/// A new CA for site certificates: (certificate, key), PEM.
fn create_ca() -> Result<(String, String), PkiError> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::default();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, "Waymark central CA");
    params.distinguished_name.push(DnType::OrganizationName, "Waymark");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.serial_number = Some(random_serial()?);
    validity(&mut params, TimeDuration::days(CA_VALIDITY_DAYS));
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Valid from an hour ago (clock skew between sites) for `length`; returns the end.
fn validity(params: &mut CertificateParams, length: TimeDuration) -> OffsetDateTime {
    let now = OffsetDateTime::now_utc();
    params.not_before = now - TimeDuration::hours(1);
    params.not_after = now + length;
    params.not_after
}

fn random_serial() -> Result<SerialNumber, PkiError> {
    let mut bytes = random_bytes::<16>()?;
    bytes[0] &= 0x7f;
    Ok(SerialNumber::from_slice(&bytes))
}

fn read(path: &Path) -> Result<String, PkiError> {
    std::fs::read_to_string(path).map_err(|e| PkiError::File {
        path: path.to_path_buf(),
        detail: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> TlsSettings {
        TlsSettings {
            insecure_plaintext: false,
            ca_cert: None,
            ca_key: None,
            server_cert: None,
            server_key: None,
            server_names: vec!["localhost".into(), "127.0.0.1".into()],
            client_cert_days: 30,
        }
    }

    #[test]
    fn the_ca_is_created_once_and_shared_through_the_store() {
        let (_keep, store) = crate::store::testing::open(false).expect("store");
        let first = Pki::load_or_create(&store, &settings()).expect("create");
        let again = Pki::load_or_create(&store, &settings()).expect("load");
        assert_eq!(
            first.ca_pin(),
            again.ca_pin(),
            "a restart (or a second process) must keep the CA"
        );
    }

    #[test]
    fn a_signed_site_certificate_names_the_site_not_what_the_request_asked() {
        let (_keep, store) = crate::store::testing::open(false).expect("store");
        let pki = Pki::load_or_create(&store, &settings()).expect("create");
        let key = KeyPair::generate().expect("key");
        let mut req = CertificateParams::new(vec!["evil.example".to_string()]).expect("params");
        req.distinguished_name.push(DnType::CommonName, "site-b");
        req.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let csr = req.serialize_request(&key).expect("csr").pem().expect("pem");
        let signed = pki.sign_site_csr(&csr, "site-a").expect("sign");
        let der = waymark_proto::identity::first_certificate_der(&signed.pem).expect("der");
        assert_eq!(
            waymark_proto::identity::site_of_certificate(&der).as_deref(),
            Ok("site-a")
        );
        let (_, cert) = x509_parser::parse_x509_certificate(&der).expect("parse");
        assert!(!cert.is_ca(), "a site certificate must never be a CA");
        assert!(signed.not_after_ms > chrono::Utc::now().timestamp_millis());
        assert!(matches!(
            pki.sign_site_csr("garbage", "site-a"),
            Err(PkiError::BadRequest(_))
        ));
    }
}
