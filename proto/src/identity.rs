//! The site identity rule shared by both ends of the link: a site certificate
//! names its site in the subject common name, and a site id is 1 to 64 of
//! `a-z 0-9 - _`.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    #[error("the certificate cannot be parsed")]
    Unparseable,
    #[error("the certificate has no subject common name")]
    NoCommonName,
    #[error("the certificate's common name `{0}` is not a site id (1-64 of a-z 0-9 - _)")]
    NotASiteId(String),
}

pub fn valid_site(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

/// The site a DER certificate speaks for. It does not check the signature:
/// TLS verified the chain before anyone asks this.
pub fn site_of_certificate(der: &[u8]) -> Result<String, IdentityError> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).map_err(|_| IdentityError::Unparseable)?;
    let cn = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .ok_or(IdentityError::NoCommonName)?;
    if valid_site(cn) {
        Ok(cn.to_string())
    } else {
        Err(IdentityError::NotASiteId(cn.chars().take(80).collect()))
    }
}

/// The first certificate in a PEM text, as DER (other PEM blocks are skipped).
pub fn first_certificate_der(pem: &str) -> Option<Vec<u8>> {
    certificates_der(pem).next()
}

/// Every certificate in a PEM text (a CA bundle), as DER.
pub fn certificates_der(pem: &str) -> impl Iterator<Item = Vec<u8>> + '_ {
    x509_parser::pem::Pem::iter_from_buffer(pem.as_bytes())
        .map_while(Result::ok)
        .filter(|p| p.label == "CERTIFICATE")
        .map(|p| p.contents)
}
