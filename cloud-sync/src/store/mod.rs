//! Central's store: SQLite in the data directory by default, PostgreSQL when the
//! config names one (`[store] url`), with any number of central processes on it.
//!
//! This module owns the engines, their connections, migrations and errors. The
//! domains own their tables and SQL: each adds an `impl CentralStore` block of
//! its own (`replication/store.rs`, `orders/store.rs`, ...). Every call blocks:
//! run it on `spawn_blocking` or a thread of its own.
//!
//! A write is durable when its transaction has committed: SQLite in WAL mode
//! with `synchronous = FULL`, PostgreSQL with its default `synchronous_commit`.

mod migrate;
mod postgres;
pub mod sql;
mod sqlite;
mod url;

use std::path::{Path, PathBuf};
use std::time::Duration;

pub use migrate::{SCHEMA_VERSION, SchemaStatus};
pub use sql::{Engine, Param, Row, Tx, seq_param};
pub use url::StoreUrl;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot reach the store at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("postgresql: {0}")]
    Postgres(#[from] ::postgres::Error),
    #[error("no store connection free within {0:?}; raise [store] pool_size or look for slow queries")]
    PoolTimeout(Duration),
    #[error("stored record is corrupt: {0}")]
    Corrupt(String),
    #[error(
        "the store's schema is version {found}, newer than this waymark-sync knows ({known}): run the newer waymark-sync, or restore a backup taken before the upgrade"
    )]
    SchemaTooNew { found: i64, known: i64 },
    #[error(
        "{dir} holds a store of an earlier Waymark release (sled) that was never imported: run `waymark-sync import-sled --from {data_dir}` once (with the same config), then start again"
    )]
    LegacyNotImported { dir: String, data_dir: String },
    #[error("store i/o: {0}")]
    Io(#[from] std::io::Error),
}

impl StoreError {
    /// Worth retrying: the database is restarting, a connection broke, or the
    /// pool was busy. Callers answer UNAVAILABLE / 503 and the client retries.
    pub fn is_transient(&self) -> bool {
        match self {
            Self::Unreachable { .. } | Self::PoolTimeout(_) => true,
            Self::Postgres(e) => postgres::is_transient(e),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => matches!(
                e.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            ),
            _ => false,
        }
    }

    /// A table being created exists already, or its row type does (PostgreSQL,
    /// two creators racing).
    pub fn is_duplicate_table(&self) -> bool {
        use ::postgres::error::SqlState;
        matches!(self, Self::Postgres(e)
            if e.code() == Some(&SqlState::DUPLICATE_TABLE) || e.code() == Some(&SqlState::DUPLICATE_OBJECT))
    }

    /// A unique or primary key was already taken (a race another transaction won).
    pub fn is_unique_violation(&self) -> bool {
        match self {
            Self::Postgres(e) => e.code() == Some(&::postgres::error::SqlState::UNIQUE_VIOLATION),
            Self::Sqlite(rusqlite::Error::SqliteFailure(e, _)) => e.code == rusqlite::ErrorCode::ConstraintViolation,
            _ => false,
        }
    }
}

/// How to open the store; from `[store]` in the config.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    pub url: StoreUrl,
    /// PostgreSQL connections this process holds at most.
    pub pool_size: usize,
    pub connect_timeout: Duration,
    /// PostgreSQL `statement_timeout`: no query holds a connection longer.
    pub statement_timeout: Duration,
    /// PEM file of the CA that signed PostgreSQL's certificate, for `sslmode=verify-full`.
    pub tls_ca_file: Option<PathBuf>,
}

impl StoreOptions {
    /// SQLite in `data_dir`, the zero-setup default.
    pub fn sqlite_in(data_dir: &Path) -> Self {
        Self {
            url: StoreUrl::sqlite_in(data_dir),
            pool_size: DEFAULT_POOL_SIZE,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            statement_timeout: DEFAULT_STATEMENT_TIMEOUT,
            tls_ca_file: None,
        }
    }

    /// PostgreSQL at `url`, with the default pool and timeouts.
    pub fn postgres(url: &str) -> Self {
        Self {
            url: StoreUrl::Postgres(url.to_string()),
            ..Self::sqlite_in(Path::new("."))
        }
    }
}

pub const DEFAULT_POOL_SIZE: usize = 16;
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_STATEMENT_TIMEOUT: Duration = Duration::from_secs(30);

enum Backend {
    Sqlite(Box<sqlite::Sqlite>),
    Postgres(Box<postgres::Pg>),
}

/// Central's store, on either engine.
pub struct CentralStore {
    backend: Backend,
    url: StoreUrl,
}

impl std::fmt::Debug for CentralStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CentralStore")
            .field("url", &self.url.redacted())
            .finish_non_exhaustive()
    }
}

impl CentralStore {
    /// Connects and brings the schema up to date (migrations run once, whichever
    /// process gets there first; the others wait and find nothing to do).
    pub fn open(options: &StoreOptions) -> Result<Self, StoreError> {
        let store = Self::connect(options)?;
        store.migrate()?;
        Ok(store)
    }

    /// Connects without touching the schema.
    pub fn connect(options: &StoreOptions) -> Result<Self, StoreError> {
        let backend = match &options.url {
            StoreUrl::Sqlite(path) => Backend::Sqlite(Box::new(sqlite::Sqlite::open(path)?)),
            StoreUrl::Postgres(_) => Backend::Postgres(Box::new(postgres::Pg::connect(options)?)),
        };
        Ok(Self {
            backend,
            url: options.url.clone(),
        })
    }

    pub fn engine(&self) -> Engine {
        match self.backend {
            Backend::Sqlite(_) => Engine::Sqlite,
            Backend::Postgres(_) => Engine::Postgres,
        }
    }

    /// Where the store is, without a password.
    pub fn describe(&self) -> String {
        self.url.redacted()
    }

    /// Runs `f` in a write transaction and commits; an error from `f` rolls it
    /// back. SQLite has one writer at a time; on PostgreSQL, transactions run
    /// at READ COMMITTED and take the rows they change in a fixed order, and a
    /// failure the caller may retry says so (`StoreError::is_transient`).
    pub fn write<T, E: From<StoreError>>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        match &self.backend {
            Backend::Sqlite(db) => db.write(sqlite::Durability::Synced, |tx| f(tx)),
            Backend::Postgres(db) => db.transaction(false, |tx| f(tx)),
        }
    }

    /// [`write`](Self::write) for what is derived from data already
    /// committed (normalized carrier events, the timeline projection, and
    /// the statuses they change) and is redone from it when lost: the commit does not wait for its own
    /// sync (SQLite: `synchronous = NORMAL` for it, synced with the next
    /// synced commit; PostgreSQL: `synchronous_commit = off`). A power cut
    /// may lose the last such commits, never tear them, and never lose what
    /// they derive from.
    pub fn write_derived<T, E: From<StoreError>>(
        &self,
        mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        match &self.backend {
            Backend::Sqlite(db) => db.write(sqlite::Durability::Derived, |tx| f(tx)),
            Backend::Postgres(db) => db.transaction(false, |tx| {
                tx.batch("SET LOCAL synchronous_commit TO OFF")?;
                f(tx)
            }),
        }
    }

    /// Runs `f` in a read transaction: one consistent snapshot on SQLite.
    pub fn read<T, E: From<StoreError>>(&self, mut f: impl FnMut(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        match &self.backend {
            Backend::Sqlite(db) => db.read(|tx| f(tx)),
            Backend::Postgres(db) => db.transaction(true, |tx| f(tx)),
        }
    }

    /// Answers when the database does: for `/readyz`.
    pub fn ping(&self) -> Result<(), StoreError> {
        self.read(|tx| tx.query("SELECT 1", &[]).map(|_| ()))
    }
}

/// A small key-value table for store-wide facts (the bootstrap marker, the CA,
/// imports done).
impl CentralStore {
    pub fn setting(&self, name: &str) -> Result<Option<String>, StoreError> {
        self.read(|tx| setting(tx, name))
    }

    /// Stores `value` under `name` unless something is there already; returns
    /// what is stored afterwards (the first writer wins across processes).
    pub fn setting_if_absent(&self, name: &str, value: &str) -> Result<String, StoreError> {
        self.write(|tx| setting_if_absent(tx, name, value).map(|(stored, _)| stored))
    }
}

/// In `tx`: stores `value` under `name` unless something is there; returns what
/// is stored afterwards and whether it is `value` newly stored.
pub(crate) fn setting_if_absent(tx: &mut Tx<'_>, name: &str, value: &str) -> Result<(String, bool), StoreError> {
    let inserted = tx.execute(
        "INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[name.into(), value.into()],
    )? == 1;
    let stored = setting(tx, name)?.ok_or_else(|| StoreError::Corrupt(format!("setting {name} vanished")))?;
    Ok((stored, inserted))
}

/// In `tx`: the value stored under `name`, if any.
pub(crate) fn setting(tx: &mut Tx<'_>, name: &str) -> Result<Option<String>, StoreError> {
    tx.query_opt("SELECT value FROM settings WHERE name = $1", &[name.into()])?
        .map(|r| r.text(0))
        .transpose()
}

pub mod testing;
