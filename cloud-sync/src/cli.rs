//! Command line: `run`, `check-config`, `hash-token`, and the store's
//! `migrate`, `import-sled` and `rebuild-projection`; in the library so the
//! binary is a one-liner and the test harness runs exactly this in its child processes.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, ENV_KEYS, RawConfig, SyncConfig};

const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// The end of `--help`, as a man page's FILES and EXIT STATUS would say it.
const FILES: &str = "\
Files:
  /etc/waymark/sync.toml   config (the Debian package's; `check-config` validates it)
  /var/lib/waymark-sync    data_dir: the store, the CA (pki/), admin.token
Logs go to stderr (the journal under systemd; WAYMARK_LOG=debug for more), the ready line to stdout.
Exit status: 0 success, 2 invalid config or arguments, 1 any other failure.
Docs: /usr/share/doc/waymark-sync/INSTALL.md";

#[derive(Debug, Parser)]
#[command(name = "waymark-sync", version, about = "Waymark central sync service", after_help = FILES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run central until SIGINT or SIGTERM.
    Run {
        /// Config file (TOML); see deploy/sync.example.toml. Optional when --data-dir is given.
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Instead of `data_dir` in the config (and WAYMARK_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
        /// The store: postgres://USER:PASSWORD@HOST/DB[?sslmode=require] or sqlite:PATH
        /// (default: SQLite in the data directory). Instead of `[store] url` (and WAYMARK_STORE_URL).
        #[arg(long)]
        store_url: Option<String>,
        /// Instead of `grpc_listen` (and WAYMARK_GRPC_LISTEN).
        #[arg(long)]
        grpc_listen: Option<String>,
        /// Instead of `http_listen` (and WAYMARK_HTTP_LISTEN).
        #[arg(long)]
        http_listen: Option<String>,
        /// Instead of `ops_listen` (and WAYMARK_OPS_LISTEN).
        #[arg(long)]
        ops_listen: Option<String>,
        /// Development only: plaintext gRPC, the site taken from a header.
        #[arg(long)]
        insecure_plaintext: bool,
        /// Use this CA (PEM) for site certificates instead of central's own.
        #[arg(long, requires = "tls_ca_key")]
        tls_ca_cert: Option<PathBuf>,
        #[arg(long, requires = "tls_ca_cert")]
        tls_ca_key: Option<PathBuf>,
    },
    /// Validate a config file without starting.
    CheckConfig { file: PathBuf },
    /// Bring the store's schema up to date and exit (`run` also does this).
    Migrate(StoreArgs),
    /// Copy a data directory of an earlier release (sled) into the configured
    /// store: events, marks, gaps, orders, tokens and the CA. Running it again adds nothing.
    ImportSled {
        /// The old data directory (the one holding `store/db`).
        #[arg(long)]
        from: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Import orders from a CSV file (columns: docs/orders-csv.md). Every bad
    /// row is printed with its line number and reason; exits 1 when any
    /// order was not imported. Importing the same file again changes nothing.
    ImportOrders {
        file: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Clear a projection and build it again from the events (`timeline`).
    RebuildProjection {
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Carrier tools for support and integration engineers.
    #[command(subcommand)]
    Carrier(CarrierCommand),
    /// Print the SHA-256 of an API token read from stdin, for `[[api.tokens]]`.
    HashToken {
        /// Generate a new token instead and print it with its hash.
        #[arg(long)]
        generate: bool,
    },
}

#[derive(Debug, Subcommand)]
enum CarrierCommand {
    /// Print each canonical event of a provider's webhook body (FILE, or stdin)
    /// as one JSON line: what the carrier really sent, as central reads it.
    /// Exits 1 when the body does not decode.
    Decode {
        /// easypost, aftership, shippo, 17track, ups, fedex, karrio or waymark.
        #[arg(long)]
        provider: String,
        file: Option<PathBuf>,
    },
}

/// Which store a maintenance command works on: the same config, data directory
/// and URL as `run`.
#[derive(Debug, clap::Args)]
struct StoreArgs {
    #[arg(long, short)]
    config: Option<PathBuf>,
    #[arg(long)]
    data_dir: Option<PathBuf>,
    #[arg(long)]
    store_url: Option<String>,
}

impl StoreArgs {
    fn config(self) -> Result<SyncConfig, ConfigError> {
        load(self.config.as_deref()).and_then(|mut raw| {
            raw.data_dir = self.data_dir.or(raw.data_dir);
            raw.store.url = self.store_url.or(raw.store.url);
            raw.validate()
        })
    }
}

pub fn main(args: impl IntoIterator<Item = OsString>) -> ExitCode {
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            e.print().ok();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Carrier(CarrierCommand::Decode { provider, file }) => carrier_decode(&provider, file.as_deref()),
        Command::HashToken { generate } => hash_token(generate),
        Command::CheckConfig { file } => match load(Some(&file)).and_then(RawConfig::validate) {
            Ok(c) => {
                println!(
                    "{}: ok (grpc {}, http {})",
                    file.display(),
                    c.grpc_listen,
                    c.http_listen
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::from(2)
            }
        },
        Command::Migrate(args) => maintenance(args, |store, _| {
            let found = store.schema_version()?;
            let status = store.migrate()?;
            if status.applied.is_empty() {
                println!("{}: schema version {found}, up to date", store.describe());
            } else {
                println!(
                    "{}: schema version {found} -> {} (applied {:?})",
                    store.describe(),
                    crate::store::SCHEMA_VERSION,
                    status.applied
                );
            }
            Ok(())
        }),
        Command::ImportSled { from, store } => maintenance(store, move |store, config| {
            let imported =
                crate::import::import_sled(&from, store, config.cache_capacity_bytes).map_err(|e| e.to_string())?;
            println!(
                "imported from {} into {}: {} events of {} sites, {} gaps, {} orders, {} API tokens, {} enrollment tokens{}",
                from.display(),
                store.describe(),
                imported.events,
                imported.sites,
                imported.gaps,
                imported.orders,
                imported.api_tokens,
                imported.enrollment_tokens,
                if imported.ca { ", the CA" } else { "" }
            );
            Ok(())
        }),
        Command::ImportOrders { file, store } => {
            let mut rejected = 0;
            let code = maintenance(store, |store, _| {
                let data = std::fs::read(&file).map_err(|e| format!("{}: {e}", file.display()))?;
                let report = store
                    .import_orders_csv(&data, crate::orders::csv::progress_bar())
                    .map_err(|e| format!("{}: {e}", file.display()))?;
                for p in &report.problems {
                    println!("{}:{}: {}", file.display(), p.line, p.reason);
                }
                println!(
                    "{}: {} rows, {} orders: {} created, {} updated, {} unchanged, {} not imported",
                    file.display(),
                    report.rows,
                    report.orders,
                    report.created,
                    report.updated,
                    report.unchanged,
                    report.rejected_orders
                );
                rejected = report.rejected_orders;
                Ok(())
            });
            if code == ExitCode::SUCCESS && rejected > 0 {
                ExitCode::from(1)
            } else {
                code
            }
        }
        Command::RebuildProjection { name, store } => maintenance(store, move |store, _| {
            let projection = crate::projection::Projection::parse(&name).ok_or_else(|| {
                let known: Vec<&str> = crate::projection::Projection::ALL.iter().map(|p| p.name()).collect();
                format!("no projection `{name}`; known: {}", known.join(", "))
            })?;
            store.reset_projection(projection)?;
            let total = store.projection_lag(projection)?;
            let mut last_print = std::time::Instant::now();
            store.catch_up(projection, |lag| {
                if last_print.elapsed() >= Duration::from_secs(1) {
                    eprintln!("{name}: {} of {total} events projected", total.saturating_sub(lag));
                    last_print = std::time::Instant::now();
                }
            })?;
            println!("{name}: rebuilt from {total} events");
            Ok(())
        }),
        Command::Run {
            config,
            data_dir,
            store_url,
            grpc_listen,
            http_listen,
            ops_listen,
            insecure_plaintext,
            tls_ca_cert,
            tls_ca_key,
        } => {
            init_tracing();
            let config = load(config.as_deref()).and_then(|mut raw| {
                raw.data_dir = data_dir.or(raw.data_dir);
                raw.store.url = store_url.or(raw.store.url);
                raw.grpc_listen = grpc_listen.or(raw.grpc_listen);
                raw.http_listen = http_listen.or(raw.http_listen);
                raw.ops_listen = ops_listen.or(raw.ops_listen);
                if insecure_plaintext {
                    raw.tls.insecure_plaintext = Some(true);
                }
                raw.tls.ca_cert = tls_ca_cert.or(raw.tls.ca_cert);
                raw.tls.ca_key = tls_ca_key.or(raw.tls.ca_key);
                raw.validate()
            });
            let config = match config {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("waymark-sync: {e}");
                    return ExitCode::from(2);
                }
            };
            match tokio::runtime::Runtime::new() {
                Ok(rt) => rt.block_on(run(config)),
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

/// Opens the configured store (connecting, migrating, refusing an unimported
/// sled directory only for `run`) and runs `f` on it.
fn maintenance(
    args: StoreArgs,
    f: impl FnOnce(&crate::store::CentralStore, &SyncConfig) -> Result<(), String>,
) -> ExitCode {
    init_tracing();
    let config = match args.config() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("waymark-sync: {e}");
            return ExitCode::from(2);
        }
    };
    let store = match crate::store::CentralStore::open(&config.store) {
        Ok(s) => s,
        Err(e) => {
            eprintln!(
                "waymark-sync: cannot open the store {}: {e}",
                config.store.url.redacted()
            );
            return ExitCode::FAILURE;
        }
    };
    match f(&store, &config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("waymark-sync: {e}");
            ExitCode::FAILURE
        }
    }
}

impl From<crate::store::StoreError> for String {
    fn from(e: crate::store::StoreError) -> Self {
        e.to_string()
    }
}

async fn run(config: SyncConfig) -> ExitCode {
    // Listening for signals before anything else: a SIGTERM right after the
    // ready line must stop central cleanly, not kill it.
    let signal = wait_for_signal();
    let shutdown = CancellationToken::new();
    let running = match crate::start(config, shutdown.clone()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("waymark-sync: {e}");
            return ExitCode::FAILURE;
        }
    };
    let tls = if running.pki.is_some() { "mtls" } else { "plaintext" };
    let ready = format!(
        "waymark-sync ready grpc={} http={} ops={} tls={tls} store={} admin_token_file={}",
        running.grpc_addr,
        running.http_addr,
        running.ops_addr,
        running.store,
        running.admin_token_file.display()
    );
    println!("{ready}");
    waymark_proto::service_manager::ready(&ready);
    signal.await;
    tracing::info!("shutting down");
    waymark_proto::service_manager::stopping();
    shutdown.cancel();
    running.wait(SHUTDOWN_GRACE).await;
    ExitCode::SUCCESS
}

/// Secrets shorter than this are refused: a token must not be guessable.
const MIN_SECRET_LEN: usize = 32;

fn carrier_decode(provider: &str, file: Option<&Path>) -> ExitCode {
    use std::io::{Read, Write};
    let Some(provider) = crate::carriers::Provider::parse(provider) else {
        eprintln!(
            "error: unknown provider `{provider}` (easypost, aftership, shippo, 17track, ups, fedex, karrio, waymark)"
        );
        return ExitCode::from(2);
    };
    let mut body = Vec::new();
    let read = match file {
        Some(f) => std::fs::File::open(f).and_then(|mut h| h.read_to_end(&mut body)),
        None => std::io::stdin().read_to_end(&mut body),
    };
    if let Err(e) = read {
        eprintln!("error: cannot read the body: {e}");
        return ExitCode::from(2);
    }
    match crate::carriers::normalize(provider, &body) {
        Ok(events) => {
            let mut out = std::io::stdout().lock();
            for e in &events {
                if writeln!(out, "{}", crate::carriers::event::decode_line(e)).is_err() {
                    return ExitCode::FAILURE;
                }
            }
            if events.is_empty() {
                eprintln!("no tracking events in this body (not a tracking event type?)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {provider}: {e}");
            ExitCode::FAILURE
        }
    }
}

fn hash_token(generate: bool) -> ExitCode {
    use crate::auth::secret;
    if generate {
        match secret::generate() {
            Ok(token) => {
                println!("token:  {token}");
                println!("sha256: {}", waymark_proto::hex(&secret::hash(&token)));
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("waymark-sync: {e}");
                ExitCode::FAILURE
            }
        }
    } else {
        let mut text = String::new();
        let read = std::io::Read::read_to_string(&mut std::io::Read::take(std::io::stdin(), 4096), &mut text);
        if let Err(e) = read {
            eprintln!("waymark-sync: cannot read the token from stdin: {e}");
            return ExitCode::FAILURE;
        }
        match check_secret(text.trim()) {
            Ok(token) => {
                println!("{}", waymark_proto::hex(&secret::hash(token)));
                ExitCode::SUCCESS
            }
            Err(problem) => {
                eprintln!("waymark-sync: {problem}");
                ExitCode::from(2)
            }
        }
    }
}

fn check_secret(token: &str) -> Result<&str, String> {
    if token.len() < MIN_SECRET_LEN || token.len() > crate::auth::secret::MAX_SECRET_LEN {
        return Err(format!(
            "a token must be {MIN_SECRET_LEN}-{} characters (got {}); `hash-token --generate` makes one",
            crate::auth::secret::MAX_SECRET_LEN,
            token.len()
        ));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err("a token must be printable ASCII without spaces".into());
    }
    Ok(token)
}

fn load(file: Option<&Path>) -> Result<RawConfig, ConfigError> {
    let mut raw = match file {
        Some(f) => {
            let text = std::fs::read_to_string(f).map_err(|e| ConfigError {
                problems: vec![format!("cannot read {}: {e}", f.display())],
            })?;
            RawConfig::from_toml(&text)?
        }
        None => RawConfig::default(),
    };
    let env: BTreeMap<String, String> = ENV_KEYS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    raw.apply_env(&env);
    Ok(raw)
}

fn init_tracing() {
    let filter = std::env::var("WAYMARK_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .ok();
}

/// Registers SIGINT and SIGTERM handlers now; the future ends on either.
fn wait_for_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = int.recv() => {}
                    _ = term.recv() => {}
                }
            }
            _ => {
                tokio::signal::ctrl_c().await.ok();
            }
        }
    }
}
