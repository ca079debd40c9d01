//! Enrollment: issuing one-time tokens for a site, and the `Enroll` call that
//! trades a token and a CSR for the site's certificate.

use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use tracing::{info, warn};
use waymark_proto::enrollment::{EnrollmentToken, MAX_TOKEN_LEN};
use waymark_proto::v1::enrollment_server::Enrollment;
use waymark_proto::v1::{EnrollRequest, EnrollResponse};

use super::{EnrollmentError, EnrollmentToken as StoredToken};
use crate::auth::secret::{RandomUnavailable, random_bytes};
use crate::error_code::ErrorCode;
use crate::metrics::{ReasonLabel, SyncMetrics};
use crate::pki::Pki;
use crate::store::{CentralStore, StoreError};

/// Longest CSR accepted (a P-256 or RSA-4096 request is far smaller).
const MAX_CSR_BYTES: usize = 16 * 1024;
pub const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(24 * 3600);
pub const MAX_TOKEN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// A token that was just issued; the secret exists only here and in the reply.
#[derive(Clone)]
pub struct IssuedToken {
    pub token: String,
    pub site: String,
    pub expires_ms: i64,
}

impl std::fmt::Debug for IssuedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedToken")
            .field("site", &self.site)
            .field("expires_ms", &self.expires_ms)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Random(#[from] RandomUnavailable),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Issues a single-use token for `site`, valid for `ttl`.
pub fn issue_token(
    store: &CentralStore,
    pki: &Pki,
    site: &str,
    ttl: Duration,
    now_ms: i64,
) -> Result<IssuedToken, IssueError> {
    let token = EnrollmentToken {
        secret: random_bytes::<16>()?,
        ca_pin: pki.ca_pin(),
    };
    let expires_ms = now_ms + i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX / 2);
    store.put_enrollment_token(
        &secret_hash(&token.secret),
        &StoredToken {
            site: site.to_string(),
            created_ms: now_ms,
            expires_ms,
            used_ms: None,
        },
    )?;
    info!(%site, expires_ms, "enrollment token issued");
    Ok(IssuedToken {
        token: token.to_string(),
        site: site.to_string(),
        expires_ms,
    })
}

fn secret_hash(secret: &[u8]) -> [u8; 32] {
    Sha256::digest(secret).into()
}

pub struct EnrollmentService {
    pub store: Arc<CentralStore>,
    pub pki: Arc<Pki>,
    pub metrics: Arc<SyncMetrics>,
}

impl EnrollmentService {
    fn refuse(&self, reason: &'static str, status: Status) -> Status {
        self.metrics
            .enrollments_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
        warn!(reason, error = %status.message(), "enrollment refused");
        status
    }
}

#[tonic::async_trait]
impl Enrollment for EnrollmentService {
    async fn enroll(&self, request: Request<EnrollRequest>) -> Result<Response<EnrollResponse>, Status> {
        let req = request.into_inner();
        if req.token.len() > MAX_TOKEN_LEN || req.csr_pem.len() > MAX_CSR_BYTES {
            return Err(self.refuse("too_large", ErrorCode::PayloadTooLarge.status("token or CSR too large")));
        }
        let token = EnrollmentToken::parse(&req.token)
            .map_err(|e| self.refuse("malformed_token", ErrorCode::InvalidRequest.status(e.to_string())))?;
        if token.ca_pin != self.pki.ca_pin() {
            return Err(self.refuse(
                "wrong_central",
                ErrorCode::FailedPrecondition
                    .status("this token was issued by another central (its CA pin does not match)"),
            ));
        }
        // The request must be usable before the token is spent on it.
        rcgen::CertificateSigningRequestParams::from_pem(&req.csr_pem).map_err(|e| {
            self.refuse(
                "bad_csr",
                ErrorCode::InvalidRequest.status(format!("the certificate signing request is not usable: {e}")),
            )
        })?;
        let store = self.store.clone();
        let hash = secret_hash(&token.secret);
        let now_ms = chrono::Utc::now().timestamp_millis();
        let requested = req.site_id.clone();
        if !crate::identity::valid_site(&requested) {
            return Err(self.refuse(
                "bad_site",
                ErrorCode::InvalidRequest.status("site_id is not a valid site id"),
            ));
        }
        let consumed = tokio::task::spawn_blocking(move || store.consume_enrollment_token(&hash, &requested, now_ms))
            .await
            .map_err(|e| ErrorCode::Internal.status(format!("worker failed: {e}")))?;
        let site = match consumed {
            Ok(site) => site,
            Err(EnrollmentError::Store(e)) => {
                tracing::error!(error = %e, "central store failure");
                return Err(ErrorCode::Unavailable.status("central store unavailable; retry"));
            }
            Err(e @ EnrollmentError::Unknown) => {
                return Err(self.refuse("unknown_token", ErrorCode::Unauthenticated.status(e.to_string())));
            }
            Err(e @ EnrollmentError::Expired { .. }) => {
                return Err(self.refuse("expired_token", ErrorCode::Unauthenticated.status(e.to_string())));
            }
            Err(e @ EnrollmentError::Used { .. }) => {
                return Err(self.refuse("used_token", ErrorCode::Unauthenticated.status(e.to_string())));
            }
            Err(e @ EnrollmentError::OtherSite { .. }) => {
                return Err(self.refuse("other_site", ErrorCode::Forbidden.status(e.to_string())));
            }
        };
        let signed = self
            .pki
            .sign_site_csr(&req.csr_pem, &site)
            .map_err(|e| self.refuse("bad_csr", ErrorCode::InvalidRequest.status(e.to_string())))?;
        self.metrics.enrollments.inc();
        info!(%site, not_after_ms = signed.not_after_ms, gateway_version = %req.gateway_version.chars().take(64).collect::<String>(), "gateway enrolled");
        Ok(Response::new(EnrollResponse {
            site_id: site,
            certificate_pem: signed.pem,
            ca_certificate_pem: self.pki.ca_cert_pem().to_string(),
            not_after_ms: signed.not_after_ms,
        }))
    }
}
