//! Command line: `run`, `check-config`, `status`, `decode` and `hash-password`. Kept in the library so the binary is a
//! one-liner and the test harness runs exactly this in its child processes.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::config::{ConfigError, ENV_KEYS, GatewayConfig, RawConfig};

/// The end of `--help`, as a man page's FILES and EXIT STATUS would say it.
const FILES: &str = "\
Files:
  /etc/waymark/gateway.toml   config (the Debian package's; `check-config` lists every problem)
  /var/lib/waymark-gateway    data_dir: the store, and tls/ after `enroll`
Logs go to stderr (the journal under systemd; WAYMARK_LOG=debug for more), the ready line to stdout.
Exit status: 0 success, 2 invalid config or arguments, 1 any other failure.
Docs: /usr/share/doc/waymark-gateway/INSTALL.md";

/// How long shutdown waits for the pipeline to drain.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Parser)]
#[command(name = "waymark-gateway", version, about = "Waymark site gateway", after_help = FILES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway until SIGINT or SIGTERM.
    Run {
        /// Config file (TOML); see deploy/gateway.example.toml.
        #[arg(long, short)]
        config: PathBuf,
        #[command(flatten)]
        flags: Overrides,
    },
    /// Get this site's certificate from central with a one-time token from the
    /// operator. The private key is generated here and stays here.
    Enroll {
        #[arg(long, short)]
        config: PathBuf,
        /// The token (`wmk_...`); also read from WAYMARK_ENROLL_TOKEN, which keeps it out of `ps`.
        #[arg(long, env = "WAYMARK_ENROLL_TOKEN", hide_env_values = true)]
        token: String,
        /// Replace an existing certificate (renewal, or a new key after a compromise).
        #[arg(long)]
        force: bool,
    },
    /// Validate a config file and print every problem found, without starting.
    CheckConfig { file: PathBuf },
    /// One-screen summary of a running gateway: link, backlog, lag, devices, disk budget.
    Status {
        /// The gateway's config, to find its ops listener.
        #[arg(long, short, default_value = "/etc/waymark/gateway.toml")]
        config: PathBuf,
        /// The ops listener's address, instead of reading the config.
        #[arg(long)]
        ops: Option<std::net::SocketAddr>,
        /// Print the raw JSON.
        #[arg(long)]
        json: bool,
    },
    /// Decode device payloads (or scanner bytes) from FILE or stdin: one JSON line
    /// per read on stdout, errors on stderr. Shows what a device really sends.
    Decode {
        #[arg(long, value_enum)]
        format: crate::decode_cmd::Format,
        file: Option<PathBuf>,
    },
    /// Read a device's MQTT password from stdin (its first line) and print the
    /// argon2id PHC string to put in its `[[devices]]` entry as `password_hash`.
    HashPassword,
}

/// Flags override the environment, which overrides the file.
#[derive(Debug, clap::Args)]
struct Overrides {
    /// Instead of `site_id` in the config (and WAYMARK_SITE_ID).
    #[arg(long)]
    site_id: Option<String>,
    /// Instead of `data_dir` (and WAYMARK_DATA_DIR).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// Instead of `[central] endpoint` (and WAYMARK_CENTRAL_ENDPOINT).
    #[arg(long)]
    central: Option<String>,
    /// Instead of `[mqtt] listen` (and WAYMARK_MQTT_LISTEN).
    #[arg(long)]
    mqtt_listen: Option<String>,
    /// Instead of `[ops] listen` (and WAYMARK_OPS_LISTEN).
    #[arg(long)]
    ops_listen: Option<String>,
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
        Command::Decode { format, file } => decode(format, file.as_deref()),
        Command::HashPassword => hash_password(),
        Command::Status { config, ops, json } => status(&config, ops, json),
        Command::Enroll { config, token, force } => enroll(&config, &token, force),
        Command::CheckConfig { file } => match load(&file, None) {
            Ok(c) => {
                let off = || crate::config::LISTENER_OFF.to_string();
                println!(
                    "{}: ok (site {}, {} devices, mqtt {}, mqtt tls {}, central {})",
                    file.display(),
                    c.site_id,
                    c.devices.len(),
                    c.mqtt.listen.map_or_else(off, |a| a.to_string()),
                    c.mqtt.tls.as_ref().map_or_else(off, |t| t.listen.to_string()),
                    c.central.endpoint
                );
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("{}: {e}", file.display());
                ExitCode::from(2)
            }
        },
        Command::Run { config, flags } => {
            init_tracing();
            let config = match load(&config, Some(flags)) {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("{}: {e}", config.display());
                    return ExitCode::from(2);
                }
            };
            let runtime = match tokio::runtime::Runtime::new() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("cannot start the runtime: {e}");
                    return ExitCode::FAILURE;
                }
            };
            runtime.block_on(run(config))
        }
    }
}

fn status(config: &Path, ops: Option<std::net::SocketAddr>, json: bool) -> ExitCode {
    let addr = match ops {
        Some(a) => a,
        None => match load(config, None) {
            // A wildcard listener is reached on loopback.
            Ok(c) if c.ops_listen.ip().is_unspecified() => {
                std::net::SocketAddr::from(([127, 0, 0, 1], c.ops_listen.port()))
            }
            Ok(c) => c.ops_listen,
            Err(e) => {
                eprintln!("{}: {e}\n(or give the ops address with --ops)", config.display());
                return ExitCode::from(2);
            }
        },
    };
    let fetched = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| rt.block_on(crate::status_cmd::fetch(addr)).map_err(|e| e.to_string()));
    match fetched {
        Ok(v) if json => {
            println!("{v:#}");
            ExitCode::SUCCESS
        }
        Ok(v) => {
            print!(
                "{}",
                crate::status_cmd::render(&v, chrono::Utc::now().timestamp_millis())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("waymark-gateway status: {e}");
            ExitCode::FAILURE
        }
    }
}

fn enroll(config_path: &Path, token: &str, force: bool) -> ExitCode {
    let config = match load(config_path, None) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{}: {e}", config_path.display());
            return ExitCode::from(2);
        }
    };
    let result = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(crate::enroll::enroll(&config, token, force))
                .map_err(|e| e.to_string())
        });
    match result {
        Ok(done) => {
            let until = chrono::DateTime::from_timestamp_millis(done.not_after_ms)
                .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string());
            println!(
                "enrolled as site {}: certificate {} (valid until {until}).\nStart the gateway: waymark-gateway run --config {}",
                done.site,
                done.cert.display(),
                config_path.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("waymark-gateway enroll: {e}");
            ExitCode::FAILURE
        }
    }
}

fn hash_password() -> ExitCode {
    use std::io::BufRead;
    if std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        eprintln!("password (echoed; end with Enter), or pipe it in:");
    }
    let mut line = String::new();
    if let Err(e) = std::io::stdin().lock().read_line(&mut line) {
        eprintln!("cannot read the password from stdin: {e}");
        return ExitCode::from(2);
    }
    let password = line.strip_suffix('\n').unwrap_or(&line);
    let password = password.strip_suffix('\r').unwrap_or(password);
    match crate::device_auth::hash_password(password.as_bytes()) {
        Ok(phc) => {
            println!("{phc}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("waymark-gateway hash-password: {e}");
            ExitCode::from(2)
        }
    }
}

fn decode(format: crate::decode_cmd::Format, file: Option<&Path>) -> ExitCode {
    use std::io::Read;
    let mut input = Vec::new();
    let read = match file {
        Some(f) => std::fs::File::open(f).and_then(|mut f| f.read_to_end(&mut input)),
        None => std::io::stdin().read_to_end(&mut input),
    };
    if let Err(e) = read {
        eprintln!("cannot read the input: {e}");
        return ExitCode::from(2);
    }
    let (stdout, stderr) = (std::io::stdout(), std::io::stderr());
    match crate::decode_cmd::run(format, &input, &mut stdout.lock(), &mut stderr.lock()) {
        Ok(s) => {
            eprintln!("{} reads, {} errors", s.reads, s.errors);
            if s.errors > 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("cannot write the output: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: GatewayConfig) -> ExitCode {
    let shutdown = CancellationToken::new();
    let site = config.site_id.clone();
    let running = match crate::start(config, shutdown.clone()).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "gateway did not start");
            eprintln!("waymark-gateway: {e}");
            return ExitCode::FAILURE;
        }
    };
    // One machine-readable line on stdout: the harness and scripts read the ports from it.
    let tls = running
        .mqtt
        .tls_addr()
        .map(|a| format!(" mqtt_tls={a}"))
        .unwrap_or_default();
    let ready = format!(
        "waymark-gateway ready site={site} mqtt={}{tls} ops={}",
        running.mqtt, running.ops_addr
    );
    let signal = wait_for_signal();
    println!("{ready}");
    waymark_proto::service_manager::ready(&ready);
    signal.await;
    tracing::info!("shutting down");
    waymark_proto::service_manager::stopping();
    shutdown.cancel();
    running.wait(SHUTDOWN_GRACE).await;
    ExitCode::SUCCESS
}

fn load(file: &Path, flags: Option<Overrides>) -> Result<GatewayConfig, ConfigError> {
    let text = std::fs::read_to_string(file).map_err(|e| ConfigError {
        problems: vec![format!("cannot read the file: {e}")],
    })?;
    let mut raw = RawConfig::from_toml(&text)?;
    let env: BTreeMap<String, String> = ENV_KEYS
        .iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k.to_string(), v)))
        .collect();
    raw.apply_env(&env);
    if let Some(f) = flags {
        raw.site_id = f.site_id.or(raw.site_id);
        raw.data_dir = f.data_dir.or(raw.data_dir);
        raw.central.endpoint = f.central.or(raw.central.endpoint);
        raw.mqtt.listen = f.mqtt_listen.or(raw.mqtt.listen);
        raw.ops.listen = f.ops_listen.or(raw.ops.listen);
    }
    raw.validate()
}

/// Logs to stderr; `WAYMARK_LOG` (or `RUST_LOG`) sets the filter. The default keeps
/// the embedded broker quiet: rumqttd logs every connection at info and a clean
/// DISCONNECT at error. `WAYMARK_LOG=info,rumqttd=debug` shows its logs again.
pub fn init_tracing() {
    let filter = std::env::var("WAYMARK_LOG")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info,rumqttd=off".into());
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init()
        .ok();
}

/// SIGTERM or SIGINT. The handlers are installed when this is called, not
/// when the future is first polled: call it before telling anyone the daemon
/// is ready, so a stop that follows READY at once drains instead of killing.
pub fn wait_for_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    let handlers = {
        use tokio::signal::unix::{SignalKind, signal};
        (signal(SignalKind::terminate()), signal(SignalKind::interrupt()))
    };
    async move {
        #[cfg(unix)]
        if let (Ok(mut term), Ok(mut int)) = handlers {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        tokio::signal::ctrl_c().await.ok();
    }
}
