//! One-time enrollment tokens, kept by the SHA-256 of their secret. Consuming
//! one is a compare-and-swap, so two gateways racing with the same token cannot
//! both enroll; the token record stays, marked used, for the audit trail.

use super::{SledStore, StoreError};
pub use crate::pki::EnrollmentToken;

const TREE: &str = "enrollment_tokens";

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

impl SledStore {
    pub fn put_enrollment_token(&self, hash: &[u8; 32], token: &EnrollmentToken) -> Result<(), StoreError> {
        let tree = self.db.open_tree(TREE)?;
        tree.insert(hash, encode(token)?)?;
        self.sync()
    }

    /// Marks the token used and returns its site, or says why it cannot be used.
    /// A token for a site other than `site` is left as it is.
    pub fn consume_enrollment_token(
        &self,
        hash: &[u8; 32],
        site: &str,
        now_ms: i64,
    ) -> Result<String, EnrollmentError> {
        let tree = self.db.open_tree(TREE).map_err(StoreError::from)?;
        loop {
            let Some(current) = tree.get(hash).map_err(StoreError::from)? else {
                return Err(EnrollmentError::Unknown);
            };
            let mut token: EnrollmentToken =
                serde_json::from_slice(&current).map_err(|e| StoreError::Corrupt(format!("enrollment token: {e}")))?;
            if let Some(used) = token.used_ms {
                return Err(EnrollmentError::Used { used: rfc3339(used) });
            }
            if token.site != site {
                return Err(EnrollmentError::OtherSite {
                    token_site: token.site,
                    requested: site.to_string(),
                });
            }
            if now_ms >= token.expires_ms {
                return Err(EnrollmentError::Expired {
                    expires: rfc3339(token.expires_ms),
                });
            }
            token.used_ms = Some(now_ms);
            let swapped = tree
                .compare_and_swap(hash, Some(current), Some(encode(&token)?))
                .map_err(StoreError::from)?;
            if swapped.is_ok() {
                self.sync()?;
                return Ok(token.site);
            }
        }
    }
}

fn encode(token: &EnrollmentToken) -> Result<Vec<u8>, StoreError> {
    serde_json::to_vec(token).map_err(|e| StoreError::Corrupt(format!("enrollment token: {e}")))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).map_or_else(|| ms.to_string(), |t| t.to_rfc3339())
}

impl SledStore {
    /// Every enrollment token, by the SHA-256 of its secret.
    pub fn enrollment_tokens(&self) -> Result<Vec<(Vec<u8>, EnrollmentToken)>, StoreError> {
        let tree = self.db.open_tree(TREE)?;
        tree.iter()
            .map(|item| {
                let (k, v) = item?;
                let token =
                    serde_json::from_slice(&v).map_err(|e| StoreError::Corrupt(format!("enrollment token: {e}")))?;
                Ok((k.to_vec(), token))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_enrolls_once_and_not_after_it_expires() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = SledStore::open(dir.path(), 8 << 20).expect("open");
        let token = EnrollmentToken {
            site: "dock-a".into(),
            created_ms: 1_000,
            expires_ms: 10_000,
            used_ms: None,
        };
        store.put_enrollment_token(&[1; 32], &token).expect("put");
        store.put_enrollment_token(&[2; 32], &token).expect("put");
        assert!(matches!(
            store.consume_enrollment_token(&[1; 32], "dock-b", 5_000),
            Err(EnrollmentError::OtherSite { .. })
        ));
        assert_eq!(
            store
                .consume_enrollment_token(&[1; 32], "dock-a", 5_000)
                .expect("first use"),
            "dock-a",
            "a refusal for another site must not spend the token"
        );
        assert!(matches!(
            store.consume_enrollment_token(&[1; 32], "dock-a", 5_001),
            Err(EnrollmentError::Used { .. })
        ));
        assert!(matches!(
            store.consume_enrollment_token(&[2; 32], "dock-a", 10_000),
            Err(EnrollmentError::Expired { .. })
        ));
        assert!(matches!(
            store.consume_enrollment_token(&[3; 32], "dock-a", 0),
            Err(EnrollmentError::Unknown)
        ));
    }
}
