//! API tokens: one row per token, holding the SHA-256 of its secret (never the
//! secret). Revoked tokens stay, so an id is never reused; the bootstrap admin
//! token is created once per store, by whichever central process gets there first.

use serde::{Deserialize, Serialize};

use super::Scope;
use crate::store::{CentralStore, Row, StoreError};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    /// Hex SHA-256 of the secret.
    pub sha256: String,
    pub scopes: Vec<Scope>,
    pub created_ms: i64,
    #[serde(default)]
    pub expires_ms: Option<i64>,
    #[serde(default)]
    pub revoked: bool,
}

const COLUMNS: &str = "id, name, sha256, scopes, created_ms, expires_ms, revoked";
/// Set once the bootstrap admin token exists (or tokens were imported).
const BOOTSTRAPPED: &str = "admin_token_bootstrapped";

impl CentralStore {
    /// Every token record, revoked ones included.
    pub fn tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        self.read(|tx| {
            tx.query(
                &format!("SELECT {COLUMNS} FROM api_tokens ORDER BY created_ms, id"),
                &[],
            )?
            .iter()
            .map(decode)
            .collect()
        })
    }

    /// The token whose secret hashes to `sha256` (hex), if any.
    pub fn token_by_hash(&self, sha256: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                &format!("SELECT {COLUMNS} FROM api_tokens WHERE sha256 = $1"),
                &[sha256.into()],
            )?
            .as_ref()
            .map(decode)
            .transpose()
        })
    }

    /// Stores a new token.
    pub fn insert_token(&self, record: &TokenRecord) -> Result<(), StoreError> {
        let scopes = encode_scopes(&record.scopes)?;
        self.write(|tx| insert(tx, record, &scopes))
    }

    /// Stores `record` as the bootstrap admin token unless this store ever had
    /// a token; returns whether it did.
    pub fn insert_bootstrap_token(&self, record: &TokenRecord) -> Result<bool, StoreError> {
        let scopes = encode_scopes(&record.scopes)?;
        self.write(|tx| {
            // The marker first: a second process racing here waits on it, then
            // finds it taken.
            let first = tx.execute(
                "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
                &[BOOTSTRAPPED.into(), record.id.as_str().into()],
            )? == 1;
            if !first || tx.query_opt("SELECT 1 FROM api_tokens LIMIT 1", &[])?.is_some() {
                return Ok(false);
            }
            insert(tx, record, &scopes)?;
            Ok(true)
        })
    }

    /// Marks a token revoked; `None` when no token has that id.
    pub fn revoke_token(&self, id: &str) -> Result<Option<TokenRecord>, StoreError> {
        self.write(|tx| {
            tx.execute("UPDATE api_tokens SET revoked = 1 WHERE id = $1", &[id.into()])?;
            tx.query_opt(&format!("SELECT {COLUMNS} FROM api_tokens WHERE id = $1"), &[id.into()])?
                .as_ref()
                .map(decode)
                .transpose()
        })
    }
}

fn insert(tx: &mut crate::store::Tx<'_>, r: &TokenRecord, scopes: &str) -> Result<(), StoreError> {
    tx.execute(
        &format!("INSERT INTO api_tokens ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING"),
        &[
            r.id.as_str().into(),
            r.name.as_str().into(),
            r.sha256.as_str().into(),
            scopes.into(),
            r.created_ms.into(),
            r.expires_ms.into(),
            i64::from(r.revoked).into(),
        ],
    )?;
    Ok(())
}

fn encode_scopes(scopes: &[Scope]) -> Result<String, StoreError> {
    serde_json::to_string(scopes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

fn decode(r: &Row) -> Result<TokenRecord, StoreError> {
    Ok(TokenRecord {
        id: r.text(0)?,
        name: r.text(1)?,
        sha256: r.text(2)?,
        scopes: serde_json::from_str(&r.text(3)?).map_err(|e| StoreError::Corrupt(format!("token scopes: {e}")))?,
        created_ms: r.i64(4)?,
        expires_ms: r.opt_i64(5)?,
        revoked: r.i64(6)? != 0,
    })
}
