//! API tokens: one record per token, keyed by id, holding the SHA-256 of its
//! secret (never the secret). Revoked tokens stay, so an id is never reused and
//! the bootstrap token is not recreated once any token ever existed.

use super::{SledStore, StoreError};
pub use crate::auth::TokenRecord;

impl SledStore {
    /// Every token record, revoked ones included.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.tokens
            .iter()
            .map(|item| {
                let (_, v) = item?;
                decode_token(&v)
            })
            .collect()
    }

    pub fn has_tokens(&self) -> Result<bool, StoreError> {
        Ok(!self.tokens.is_empty())
    }

    /// Stores a new token durably.
    pub fn insert_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let value = serde_json::to_vec(record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.tokens.insert(record.id.as_bytes(), value)?;
        self.sync()
    }

    /// Marks a token revoked, durably; `None` when no token has that id.
    pub fn revoke_token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        let Some(v) = self.tokens.get(id.as_bytes())? else {
            return Ok(None);
        };
        let mut record = decode_token(&v)?;
        if !record.revoked {
            record.revoked = true;
            let value = serde_json::to_vec(&record).map_err(|e| StoreError::Corrupt(e.to_string()))?;
            self.tokens.insert(id.as_bytes(), value)?;
            self.sync()?;
        }
        Ok(Some(record))
    }
}

fn decode_token(v: &[u8]) -> Result<TokenRecord, StoreError> {
    serde_json::from_slice(v).map_err(|e| StoreError::Corrupt(format!("token record: {e}")))
}
