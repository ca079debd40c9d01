//! Which site a gRPC call comes from. Every handler asks here first and refuses
//! any request whose content names another site.

use crate::error_code::ErrorCode;
use tonic::{Request, Status};
use waymark_proto::SITE_HEADER;
use waymark_proto::identity::site_of_certificate;
pub use waymark_proto::identity::valid_site;

/// How central learns a caller's site.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityMode {
    /// The default: the site named by the client certificate that TLS verified
    /// against central's CA. The `x-waymark-site` header is ignored.
    ClientCertificate,
    /// Development only: the caller states its site in the `x-waymark-site` header
    /// on a plaintext link.
    InsecureHeader,
}

impl IdentityMode {
    pub fn site_of<T>(self, req: &Request<T>) -> Result<String, Status> {
        match self {
            Self::ClientCertificate => {
                let certs = req.peer_certs().ok_or_else(|| {
                    ErrorCode::Unauthenticated
                        .status("no client certificate: enroll this gateway first (waymark-gateway enroll)")
                })?;
                let leaf = certs
                    .first()
                    .ok_or_else(|| ErrorCode::Unauthenticated.status("no client certificate"))?;
                site_of_certificate(leaf)
                    .map_err(|e| ErrorCode::Unauthenticated.status(format!("client certificate: {e}")))
            }
            Self::InsecureHeader => {
                let site = req
                    .metadata()
                    .get(SITE_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| ErrorCode::Unauthenticated.status(format!("missing {SITE_HEADER} header")))?;
                if !valid_site(site) {
                    return Err(ErrorCode::Unauthenticated.status(format!("invalid site id in {SITE_HEADER}")));
                }
                Ok(site.to_string())
            }
        }
    }
}

/// Refuses a request body that names a site other than the caller's.
pub fn ensure_same_site(caller: &str, claimed: &str) -> Result<(), Status> {
    if caller == claimed {
        Ok(())
    } else {
        Err(ErrorCode::Forbidden.status(format!("site `{caller}` may not act for site `{claimed}`")))
    }
}
