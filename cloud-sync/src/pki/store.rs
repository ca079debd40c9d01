//! What the PKI keeps in the store: one-time enrollment tokens (by the SHA-256
//! of their secret; consuming one is a single conditional update, so two
//! gateways racing with one token cannot both enroll), and the CA central
//! created itself, so that every central process on the store signs with it.

use serde::{Deserialize, Serialize};

use crate::store::{CentralStore, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollmentToken {
    pub site: String,
    pub created_ms: i64,
    pub expires_ms: i64,
    pub used_ms: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum EnrollmentError {
    #[error("unknown enrollment token")]
    Unknown,
    #[error("this enrollment token expired at {expires}; ask the operator for a new one")]
    Expired { expires: String },
    #[error("this enrollment token was already used at {used}; a token enrolls one gateway once")]
    Used { used: String },
    #[error("this enrollment token is for site `{token_site}`, not `{requested}`; it was not used")]
    OtherSite { token_site: String, requested: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

const CA_CERT: &str = "ca_cert_pem";
const CA_KEY: &str = "ca_key_pem";

impl CentralStore {
    pub fn put_enrollment_token(&self, hash: &[u8; 32], token: &EnrollmentToken) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO enrollment_tokens (hash, site_id, created_ms, expires_ms, used_ms) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (hash) DO NOTHING",
                &[
                    hash.as_slice().into(),
                    token.site.as_str().into(),
                    token.created_ms.into(),
                    token.expires_ms.into(),
                    token.used_ms.into(),
                ],
            )
        })?;
        Ok(())
    }

    /// Every enrollment token, by hash (for `import-sled` and its test).
    pub fn enrollment_tokens(&self) -> Result<Vec<(Vec<u8>, EnrollmentToken)>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT hash, site_id, created_ms, expires_ms, used_ms FROM enrollment_tokens ORDER BY created_ms",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok((
                    r.bytes(0)?.to_vec(),
                    EnrollmentToken {
                        site: r.text(1)?,
                        created_ms: r.i64(2)?,
                        expires_ms: r.i64(3)?,
                        used_ms: r.opt_i64(4)?,
                    },
                ))
            })
            .collect()
        })
    }

    /// Marks the token used and returns its site, or says why it cannot be used.
    /// A token for a site other than `site` is left as it is.
    pub fn consume_enrollment_token(
        &self,
        hash: &[u8; 32],
        site: &str,
        now_ms: i64,
    ) -> Result<String, EnrollmentError> {
        self.write(|tx| {
            let used = tx.execute(
                "UPDATE enrollment_tokens SET used_ms = $3 \
                 WHERE hash = $1 AND site_id = $2 AND used_ms IS NULL AND expires_ms > $3",
                &[hash.as_slice().into(), site.into(), now_ms.into()],
            )?;
            if used == 1 {
                return Ok(site.to_string());
            }
            let Some(r) = tx.query_opt(
                "SELECT site_id, expires_ms, used_ms FROM enrollment_tokens WHERE hash = $1",
                &[hash.as_slice().into()],
            )?
            else {
                return Err(EnrollmentError::Unknown);
            };
            let (token_site, expires_ms, used_ms) = (r.text(0)?, r.i64(1)?, r.opt_i64(2)?);
            Err(if let Some(used) = used_ms {
                EnrollmentError::Used { used: rfc3339(used) }
            } else if token_site != site {
                EnrollmentError::OtherSite {
                    token_site,
                    requested: site.to_string(),
                }
            } else {
                EnrollmentError::Expired {
                    expires: rfc3339(expires_ms),
                }
            })
        })
    }

    /// The CA central created for itself, if it has.
    pub fn stored_ca(&self) -> Result<Option<(String, String)>, StoreError> {
        Ok(self.setting(CA_CERT)?.zip(self.setting(CA_KEY)?))
    }

    /// Keeps `cert` and `key` as central's CA unless one is stored already;
    /// returns the CA stored afterwards (the first process to store one wins).
    pub fn store_ca_if_absent(&self, cert: &str, key: &str) -> Result<(String, String), StoreError> {
        self.write(|tx| {
            // The certificate decides; its key was stored with it.
            let (stored_cert, ours) = crate::store::setting_if_absent(tx, CA_CERT, cert)?;
            let stored_key = if ours {
                crate::store::setting_if_absent(tx, CA_KEY, key)?.0
            } else {
                crate::store::setting(tx, CA_KEY)?
                    .ok_or_else(|| StoreError::Corrupt(format!("setting {CA_KEY} missing")))?
            };
            Ok((stored_cert, stored_key))
        })
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}
