//! Stores for tests: SQLite in a temporary directory, or a PostgreSQL database
//! created for the test and dropped after it. Tests pick the engine with
//! `WAYMARK_TEST_STORE=postgres`; PostgreSQL is found at `WAYMARK_TEST_PG`
//! (default `postgres://postgres@127.0.0.1:5432/postgres`, trust auth).

use super::{CentralStore, StoreError, StoreOptions, StoreUrl};

pub const DEFAULT_TEST_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The administrative URL tests create their databases through.
pub fn admin_url() -> String {
    std::env::var("WAYMARK_TEST_PG").unwrap_or_else(|_| DEFAULT_TEST_PG.to_string())
}

/// Whether the harness runs central on PostgreSQL (`WAYMARK_TEST_STORE=postgres`).
pub fn postgres_selected() -> bool {
    std::env::var("WAYMARK_TEST_STORE").is_ok_and(|v| v.eq_ignore_ascii_case("postgres"))
}

/// A database of its own for one test, dropped (with its connections) on drop.
#[derive(Debug)]
pub struct TestDatabase {
    pub name: String,
    pub url: String,
    admin: String,
    /// Copies made by [`TestDatabase::snapshot`], dropped with it.
    snapshots: std::sync::Mutex<Vec<String>>,
}

impl TestDatabase {
    pub fn create() -> Result<Self, StoreError> {
        let admin = admin_url();
        let name = format!("waymark_test_{}_{}", std::process::id(), unique_suffix());
        run_admin(&admin, &format!("CREATE DATABASE {name}"))?;
        let (base, query) = match admin.split_once('?') {
            Some((b, q)) => (b.to_string(), format!("?{q}")),
            None => (admin.clone(), String::new()),
        };
        let base = base.rsplit_once('/').map_or(base.clone(), |(b, _)| b.to_string());
        Ok(Self {
            url: format!("{base}/{name}{query}"),
            name,
            admin,
            snapshots: std::sync::Mutex::default(),
        })
    }

    /// A copy of the database as it is now (a backup), under `label`. Nothing
    /// may be connected to it: stop central first.
    pub fn snapshot(&self, label: &str) -> Result<(), StoreError> {
        let copy = format!("{}_{label}", self.name);
        run_admin(&self.admin, &format!("CREATE DATABASE {copy} TEMPLATE {}", self.name))?;
        self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).push(copy);
        Ok(())
    }

    /// Replaces the database with the snapshot `label` (a restore from backup).
    pub fn restore(&self, label: &str) -> Result<(), StoreError> {
        run_admin(
            &self.admin,
            &format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name),
        )?;
        run_admin(
            &self.admin,
            &format!("CREATE DATABASE {} TEMPLATE {}_{label}", self.name, self.name),
        )
    }

    pub fn options(&self) -> StoreOptions {
        StoreOptions {
            pool_size: 8,
            ..StoreOptions::postgres(&self.url)
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        // One statement each: DROP DATABASE cannot share a transaction.
        let snapshots = self.snapshots.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for db in std::iter::once(&self.name).chain(&snapshots) {
            run_admin(&self.admin, &format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)")).ok();
        }
    }
}

/// Runs `f` on a thread of its own: the synchronous PostgreSQL client starts a
/// runtime of its own, which tokio forbids on an async worker thread (an async test).
pub fn off_runtime<T: Send>(f: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| match scope.spawn(f).join() {
        Ok(v) => v,
        Err(panic) => std::panic::resume_unwind(panic),
    })
}

fn run_admin(admin: &str, sql: &str) -> Result<(), StoreError> {
    off_runtime(|| run_admin_here(admin, sql))
}

fn run_admin_here(admin: &str, sql: &str) -> Result<(), StoreError> {
    let mut client = postgres::Client::connect(admin, postgres::NoTls).map_err(|e| StoreError::Unreachable {
        url: StoreUrl::Postgres(admin.to_string()).redacted(),
        reason: e.to_string(),
    })?;
    client.batch_execute(sql)?;
    Ok(())
}

/// A name no other test run picks.
fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    crate::auth::secret::random_bytes::<6>()
        .map(|b| waymark_proto::hex(&b))
        .unwrap_or_else(|_| format!("{nanos:08x}"))
}

/// What keeps a test's store alive: its directory or its database, removed on drop.
#[allow(dead_code)] // held for their Drop
pub enum TestStore {
    Sqlite(tempfile_free::TempDir),
    Postgres(TestDatabase),
}

/// Opens a fresh, migrated store: SQLite, or PostgreSQL when `postgres`.
pub fn open(postgres: bool) -> Result<(TestStore, CentralStore), StoreError> {
    if postgres {
        let db = TestDatabase::create()?;
        let store = CentralStore::open(&db.options())?;
        Ok((TestStore::Postgres(db), store))
    } else {
        let dir = tempfile_free::TempDir::new()?;
        let store = CentralStore::open(&StoreOptions::sqlite_in(dir.path()))?;
        Ok((TestStore::Sqlite(dir), store))
    }
}

mod tempfile_free {
    //! A temporary directory removed on drop (tempfile is a dev-dependency only).

    use std::path::{Path, PathBuf};

    #[derive(Debug)]
    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new() -> std::io::Result<Self> {
            let path = std::env::temp_dir().join(format!("waymark-store-{}", super::unique_suffix()));
            std::fs::create_dir_all(&path)?;
            Ok(Self(path))
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }
}
