//! PostgreSQL: a pool of synchronous connections (the `postgres` crate, which is
//! tokio-postgres on a small runtime of its own), each with its prepared
//! statements; TLS by rustls as the URL's `sslmode` asks. Nothing here needs libpq.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, NoTls};
use tokio_postgres_rustls::MakeRustlsConnect;

use super::url::SslMode;
use super::{StoreError, StoreOptions};
use crate::store::sql::Tx;

pub(super) struct Pg {
    config: postgres::Config,
    tls: Option<MakeRustlsConnect>,
    url: String,
    max: usize,
    checkout_timeout: Duration,
    state: Mutex<PoolState>,
    freed: Condvar,
}

#[derive(Default)]
struct PoolState {
    idle: Vec<PgConn>,
    open: usize,
}

struct PgConn {
    client: Client,
    statements: HashMap<String, postgres::Statement>,
}

impl Pg {
    pub(super) fn connect(options: &StoreOptions) -> Result<Self, StoreError> {
        let url = options.url.redacted();
        let unreachable = |reason: String| StoreError::Unreachable {
            url: url.clone(),
            reason,
        };
        let mut config =
            postgres::Config::from_str(&options.url.driver_url()).map_err(|e| unreachable(e.to_string()))?;
        let mode = options.url.ssl_mode().map_err(unreachable)?;
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("waymark-sync");
        }
        config.options(&format!(
            "-c statement_timeout={}",
            options.statement_timeout.as_millis()
        ));
        let tls = match mode {
            SslMode::Disable => {
                config.ssl_mode(postgres::config::SslMode::Disable);
                None
            }
            SslMode::Prefer => {
                config.ssl_mode(postgres::config::SslMode::Prefer);
                Some(tls::unverified())
            }
            SslMode::Require => {
                config.ssl_mode(postgres::config::SslMode::Require);
                Some(tls::unverified())
            }
            SslMode::VerifyCa | SslMode::VerifyFull => {
                config.ssl_mode(postgres::config::SslMode::Require);
                Some(tls::verified(options.tls_ca_file.as_deref()).map_err(unreachable)?)
            }
        };
        let pool = Self {
            config,
            tls,
            url: url.clone(),
            max: options.pool_size.max(1),
            checkout_timeout: options.connect_timeout + Duration::from_secs(5),
            state: Mutex::new(PoolState::default()),
            freed: Condvar::new(),
        };
        // One connection now, so a wrong URL or password fails the start, not the
        // first request.
        let first = pool.open_connection()?;
        let mut state = pool.lock();
        state.idle.push(first);
        state.open = 1;
        drop(state);
        Ok(pool)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn open_connection(&self) -> Result<PgConn, StoreError> {
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone()),
            None => self.config.connect(NoTls),
        }
        .map_err(|e| StoreError::Unreachable {
            url: self.url.clone(),
            reason: describe(&e),
        })?;
        Ok(PgConn {
            client,
            statements: HashMap::new(),
        })
    }

    fn checkout(&self) -> Result<Checkout<'_>, StoreError> {
        let deadline = Instant::now() + self.checkout_timeout;
        let mut state = self.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                if conn.client.is_closed() {
                    state.open -= 1;
                    drop_off_runtime(vec![conn]);
                    continue;
                }
                return Ok(Checkout {
                    pool: self,
                    conn: Some(conn),
                });
            }
            if state.open < self.max {
                state.open += 1;
                drop(state);
                return match self.open_connection() {
                    Ok(conn) => Ok(Checkout {
                        pool: self,
                        conn: Some(conn),
                    }),
                    Err(e) => {
                        self.lock().open -= 1;
                        self.freed.notify_one();
                        Err(e)
                    }
                };
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(StoreError::PoolTimeout(self.checkout_timeout));
            }
            state = self
                .freed
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    pub(super) fn transaction<T, E: From<StoreError>>(
        &self,
        read_only: bool,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        let mut checkout = self.checkout()?;
        let PgConn { client, statements } = checkout.conn();
        let tx = client
            .build_transaction()
            .read_only(read_only)
            .start()
            .map_err(StoreError::from)?;
        let mut tx = Tx::Postgres { tx, statements };
        let out = f(&mut tx)?;
        tx.commit()?;
        Ok(out)
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.lock().idle);
        drop_off_runtime(idle);
    }
}

/// Each connection owns a small tokio runtime, which must not be dropped on an
/// async worker thread (tokio panics there): drop them on a thread of their own.
fn drop_off_runtime(conns: Vec<PgConn>) {
    if conns.is_empty() {
        return;
    }
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::spawn(move || drop(conns));
    } else {
        drop(conns);
    }
}

/// A connection out of the pool, put back (or dropped if broken) when done.
struct Checkout<'a> {
    pool: &'a Pg,
    conn: Option<PgConn>,
}

impl Checkout<'_> {
    fn conn(&mut self) -> &mut PgConn {
        self.conn.as_mut().unwrap_or_else(|| unreachable!("taken only on drop"))
    }
}

impl Drop for Checkout<'_> {
    fn drop(&mut self) {
        let Some(conn) = self.conn.take() else {
            return;
        };
        let mut state = self.pool.lock();
        if conn.client.is_closed() || std::thread::panicking() {
            state.open -= 1;
            drop(state);
            drop_off_runtime(vec![conn]);
        } else {
            state.idle.push(conn);
            drop(state);
        }
        self.pool.freed.notify_one();
    }
}

/// The driver's error with its cause (a refused connection, a bad password).
fn describe(e: &postgres::Error) -> String {
    match (e.as_db_error(), std::error::Error::source(e)) {
        (Some(db), _) => format!("{}: {}", db.severity(), db.message()),
        (None, Some(cause)) => format!("{e}: {cause}"),
        (None, None) => e.to_string(),
    }
}

pub(super) fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    match e.code() {
        None => e.as_db_error().is_none(),
        Some(code) => {
            code.code().starts_with("08")
                || [
                    SqlState::ADMIN_SHUTDOWN,
                    SqlState::CRASH_SHUTDOWN,
                    SqlState::CANNOT_CONNECT_NOW,
                    SqlState::TOO_MANY_CONNECTIONS,
                    SqlState::T_R_SERIALIZATION_FAILURE,
                    SqlState::T_R_DEADLOCK_DETECTED,
                    SqlState::QUERY_CANCELED,
                ]
                .contains(code)
        }
    }
}

mod tls {
    //! rustls client configs for the database link.

    use std::sync::Arc;

    use rustls::pki_types::CertificateDer;
    use tokio_postgres_rustls::MakeRustlsConnect;

    /// The system's CA bundle on Debian and its derivatives.
    const SYSTEM_ROOTS: &str = "/etc/ssl/certs/ca-certificates.crt";

    fn provider() -> Arc<rustls::crypto::CryptoProvider> {
        Arc::new(rustls::crypto::ring::default_provider())
    }

    /// `sslmode=verify-full`: the server's chain against `ca_file` (or the
    /// system's roots) and its name against the host.
    pub(super) fn verified(ca_file: Option<&std::path::Path>) -> Result<MakeRustlsConnect, String> {
        let path = ca_file.unwrap_or(std::path::Path::new(SYSTEM_ROOTS));
        let pem = std::fs::read(path).map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        let mut roots = rustls::RootCertStore::empty();
        for der in waymark_proto::identity::certificates_der(&String::from_utf8_lossy(&pem)) {
            roots.add(CertificateDer::from(der)).ok();
        }
        if roots.is_empty() {
            return Err(format!("no usable CA certificate in {}", path.display()));
        }
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(MakeRustlsConnect::new(config))
    }

    /// `sslmode=require` (and `prefer`) as libpq means it: encrypted, the
    /// certificate not checked. `verify-full` is what checks it.
    pub(super) fn unverified() -> MakeRustlsConnect {
        let provider = provider();
        let config = rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .unwrap_or_else(|_| unreachable!("ring supports the default versions"))
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(waymark_proto::tls::AnyChainVerifier::new(provider)))
            .with_no_client_auth();
        MakeRustlsConnect::new(config)
    }
}
