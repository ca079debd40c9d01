//! SQLite: one file in WAL mode, one writer connection (writes take turns on it),
//! reader connections of their own so reads never wait behind a commit, and a
//! checkpointer thread that copies the WAL back into the database file so the
//! writer does not do it inside somebody's commit.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, TransactionBehavior};

use super::StoreError;
use super::sql::Tx;

/// Readers kept open between reads; more are opened when needed.
const IDLE_READERS: usize = 8;
/// Another process (`waymark-sync rebuild-projection`, `import-sled`) may hold
/// the write lock for a moment.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the checkpointer looks for new commits to copy back.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL pages after which the writer checkpoints itself: only when the
/// checkpointer falls far behind (SQLite's default is 1,000, done inside
/// whichever commit crosses it).
const WRITER_AUTOCHECKPOINT_PAGES: i64 = 16_000;

pub(super) struct Sqlite {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Commits so far: the checkpointer's sign that there is something to copy.
    commits: Arc<AtomicU64>,
    checkpointer: Option<Checkpointer>,
}

/// How a write's commit reaches the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Durability {
    /// Synced before the commit returns: it survives a power cut.
    Synced,
    /// Not synced by itself (the next synced commit or checkpoint takes it
    /// along): for what is derived from data already synced, and is redone
    /// from it if a power cut loses it.
    Derived,
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
        writer.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT_PAGES)?;
        let commits = Arc::new(AtomicU64::new(0));
        let checkpointer = Checkpointer::start(path, commits.clone())?;
        Ok(Self {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            commits,
            checkpointer: Some(checkpointer),
        })
    }

    pub(super) fn write<T, E: From<StoreError>>(
        &self,
        durability: Durability,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        if durability == Durability::Derived {
            // WAL mode, NORMAL: the commit is not synced by itself; the WAL is
            // appended in order, so the next synced commit (or checkpoint)
            // syncs it too.
            conn.pragma_update(None, "synchronous", "NORMAL")
                .map_err(StoreError::from)?;
        }
        let out = Self::commit_on(&mut conn, f);
        if durability == Durability::Derived {
            conn.pragma_update(None, "synchronous", "FULL")
                .map_err(StoreError::from)?;
        }
        if out.is_ok() {
            self.commits.fetch_add(1, Ordering::Relaxed);
        }
        out
    }

    fn commit_on<T, E: From<StoreError>>(
        conn: &mut Connection,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
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

impl Drop for Sqlite {
    fn drop(&mut self) {
        if let Some(c) = self.checkpointer.take() {
            c.stop();
        }
    }
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Statement cache: every statement the store uses, with room to spare.
    conn.set_prepared_statement_cache_capacity(128);
    // One plan per statement: without this, once `PRAGMA optimize` has
    // gathered STAT4 samples, SQLite recompiles a cached statement whenever a
    // bound value changes (a tenth of a carrier normalizer step went to it).
    conn.set_db_config(rusqlite::config::DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)?;
    Ok(())
}

/// A thread with a connection of its own that checkpoints the WAL (PASSIVE:
/// it never waits for the writer or a reader) after commits, so copying pages
/// back and syncing the database file happen outside the writer's lock.
struct Checkpointer {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

impl Checkpointer {
    fn start(path: &Path, commits: Arc<AtomicU64>) -> Result<Self, StoreError> {
        let conn = Connection::open(path).map_err(StoreError::from)?;
        configure(&conn)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                let mut done = 0;
                let mut failing = false;
                while !flag.load(Ordering::Relaxed) {
                    std::thread::park_timeout(CHECKPOINT_EVERY);
                    let now = commits.load(Ordering::Relaxed);
                    if now == done {
                        continue;
                    }
                    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
                        Ok(()) => {
                            done = now;
                            failing = false;
                        }
                        Err(e) if !failing => {
                            failing = true;
                            tracing::warn!(error = %e, "SQLite checkpoint failed; the writer checkpoints past {WRITER_AUTOCHECKPOINT_PAGES} WAL pages");
                        }
                        Err(_) => {}
                    }
                }
            })
            .map_err(StoreError::Io)?;
        Ok(Self { stop, thread })
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.thread().unpark();
        let _ignored = self.thread.join();
    }
}
