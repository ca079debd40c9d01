//! SQLite: one file in WAL mode, one writer connection (writes take turns on it),
//! and reader connections of their own so reads never wait behind a commit.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StoreError;
use super::sql::Tx;

/// Readers kept open between reads; more are opened when needed.
const IDLE_READERS: usize = 8;
/// Another process (`waymark-sync rebuild-projection`, `import-sled`) may hold
/// the write lock for a moment.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

pub(super) struct Sqlite {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
}

impl Sqlite {
    pub(super) fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let writer = Connection::open(path).map_err(|e| StoreError::Unreachable {
            url: format!("sqlite:{}", path.display()),
            reason: e.to_string(),
        })?;
        configure(&writer)?;
        // WAL: readers see the last commit while the writer works. FULL: the WAL
        // is synced at every commit, so a commit survives a power cut (NORMAL
        // would only survive a crash of the process).
        writer.pragma_update(None, "journal_mode", "WAL")?;
        writer.pragma_update(None, "synchronous", "FULL")?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
        })
    }

    pub(super) fn write<T, E: From<StoreError>>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(StoreError::from)?;
        let mut tx = Tx::Sqlite(tx);
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }

    pub(super) fn read<T, E: From<StoreError>>(&self, f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>) -> Result<T, E> {
        let idle = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut conn = match idle {
            Some(c) => c,
            None => {
                let c = Connection::open_with_flags(
                    &self.path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(StoreError::from)?;
                configure(&c)?;
                c
            }
        };
        let out = {
            let tx = conn
                .transaction_with_behavior(TransactionBehavior::Deferred)
                .map_err(StoreError::from)?;
            let mut tx = Tx::Sqlite(tx);
            let out = f(&mut tx);
            // A read transaction has nothing to commit; ending it frees the snapshot.
            drop(tx);
            out
        };
        let mut idle = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_READERS {
            idle.push(conn);
        }
        out
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement cache: every statement the store uses, with room to spare.
    conn.set_prepared_statement_cache_capacity(128);
    Ok(())
}
