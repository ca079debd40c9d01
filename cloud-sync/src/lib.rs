//! Waymark central sync service: applies every site's events exactly once, holds
//! orders and their timelines, serves each site its orders, and answers the API.

pub mod auth;
pub mod carriers;
pub mod cli;
pub mod config;
pub mod conn_limit;
pub mod epcis;
pub mod error_code;
pub mod http;
pub mod identifier;
pub mod identity;
pub mod import;
pub mod legacy_sled;
pub mod metrics;
pub mod ops;
pub mod orders;
pub mod pki;
pub mod projection;
pub mod replication;
pub mod status;
pub mod store;
pub mod timeline;
pub mod tracking;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::service::interceptor::InterceptedService;
use tracing::{Instrument, info, info_span, warn};
use waymark_proto::v1::enrollment_server::EnrollmentServer;
use waymark_proto::v1::site_sync_server::SiteSyncServer;

use crate::auth::Gatekeeper;
use crate::auth::limiter::FailureLimiter;
use crate::config::SyncConfig;
use crate::identity::IdentityMode;
use crate::metrics::SyncMetrics;
use crate::store::CentralStore;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("cannot open the store {url}: {source}")]
    Store { url: String, source: store::StoreError },
    #[error("a start-up task failed: {0}")]
    Worker(String),
    #[error("TLS setup: {0}")]
    Pki(#[from] pki::PkiError),
    #[error("TLS setup: {0}")]
    Tls(String),
    #[error("cannot listen on {addr} for {what}: {source}")]
    Listen {
        what: &'static str,
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot set up API tokens: {0}")]
    Tokens(#[from] auth::TokenError),
    #[error("tracking pages: {0}")]
    Tracking(#[from] tracking::NoRandomness),
}

pub struct RunningSync {
    pub grpc_addr: SocketAddr,
    pub http_addr: SocketAddr,
    pub ops_addr: SocketAddr,
    /// `None` on a development plaintext link.
    pub pki: Option<Arc<pki::Pki>>,
    /// Holds the admin API token created on first start (mode 0600).
    pub admin_token_file: PathBuf,
    /// Where the store is (no password).
    pub store: String,
    tasks: Vec<(&'static str, JoinHandle<()>)>,
}

impl std::fmt::Debug for RunningSync {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningSync")
            .field("grpc_addr", &self.grpc_addr)
            .field("http_addr", &self.http_addr)
            .field("admin_token_file", &self.admin_token_file)
            .finish_non_exhaustive()
    }
}

pub async fn start(config: SyncConfig, shutdown: CancellationToken) -> Result<RunningSync, SyncError> {
    let store = open_store(&config).await?;
    let metrics = Arc::new(SyncMetrics::default());
    let (gatekeeper, admin_token_file) = {
        let (store, metrics) = (store.clone(), metrics.clone());
        let (tokens, data_dir) = (config.api_tokens.clone(), config.data_dir.clone());
        tokio::task::spawn_blocking(move || {
            let gatekeeper = Gatekeeper::load(store, &tokens, metrics, FailureLimiter::default())?;
            let file = gatekeeper.bootstrap_admin(&data_dir)?;
            Ok::<_, auth::TokenError>((Arc::new(gatekeeper), file))
        })
        .await
        .map_err(|e| SyncError::Worker(e.to_string()))??
    };
    let (order_writes, order_writes_rx) = watch::channel(0u64);

    let grpc_listener = bind("grpc", config.grpc_listen).await?;
    let http_listener = bind("http", config.http_listen).await?;
    let grpc_addr = local_addr("grpc", &grpc_listener, config.grpc_listen)?;
    let http_addr = local_addr("http", &http_listener, config.http_listen)?;
    let ops_listener = bind("ops", config.ops_listen).await?;
    let ops_addr = local_addr("ops", &ops_listener, config.ops_listen)?;

    let pki = if config.tls.insecure_plaintext {
        warn!(
            "INSECURE: gRPC is plaintext and a gateway's site comes from the x-waymark-site header; development only"
        );
        None
    } else {
        let (st, tls) = (store.clone(), config.tls.clone());
        let pki = tokio::task::spawn_blocking(move || pki::Pki::load_or_create(&st, &tls))
            .await
            .map_err(|e| SyncError::Tls(e.to_string()))??;
        Some(Arc::new(pki))
    };
    let identity = if pki.is_some() {
        IdentityMode::ClientCertificate
    } else {
        IdentityMode::InsecureHeader
    };
    let applied = Arc::new(tokio::sync::Notify::new());
    let service = replication::SyncService::new(
        store.clone(),
        identity,
        metrics.clone(),
        order_writes_rx,
        shutdown.clone(),
        applied.clone(),
    );
    let svc = SiteSyncServer::new(service)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20);
    let svc = InterceptedService::new(svc, replication::require_site(identity, metrics.clone()));
    let mut builder = tonic::transport::Server::builder()
        .http2_keepalive_interval(Some(Duration::from_secs(10)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .concurrency_limit_per_connection(64);
    if let Some(pki) = &pki {
        builder = builder
            .tls_config(pki.server_tls())
            .map_err(|e| SyncError::Tls(e.to_string()))?;
    }
    let enrollment = pki.clone().map(|pki| {
        EnrollmentServer::new(pki::enroll::EnrollmentService {
            store: store.clone(),
            pki,
            metrics: metrics.clone(),
        })
        .max_decoding_message_size(64 << 10)
    });
    let router = builder.add_service(svc).add_optional_service(enrollment);
    let grpc_shutdown = shutdown.clone();
    let grpc_max_connections = config.grpc_max_connections;
    let grpc = tokio::spawn(
        async move {
            let incoming = conn_limit::LimitedIncoming::new(grpc_listener, grpc_max_connections);
            let server = router.serve_with_incoming_shutdown(incoming, grpc_shutdown.cancelled());
            if let Err(e) = server.await {
                warn!(error = %e, "grpc server stopped");
            }
        }
        .instrument(info_span!("task", source = "grpc")),
    );
    let projector = tokio::spawn(
        projection::run(store.clone(), metrics.clone(), applied, shutdown.clone())
            .instrument(info_span!("task", source = "projector")),
    );
    let token_refresh = {
        let (gatekeeper, shutdown) = (gatekeeper.clone(), shutdown.clone());
        tokio::spawn(
            async move {
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(auth::REFRESH_INTERVAL) => {}
                    }
                    let g = gatekeeper.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || g.refresh()).await {
                        warn!(error = %e, "cannot refresh API tokens from the store");
                    }
                }
            }
            .instrument(info_span!("task", source = "token_refresh")),
        )
    };
    let carriers_wake = Arc::new(tokio::sync::Notify::new());
    let carriers = {
        let (settings, st, wake) = (config.carriers.clone(), store.clone(), carriers_wake.clone());
        tokio::task::spawn_blocking(move || carriers::receiver::CarrierIntake::start(&settings, st, wake))
            .await
            .map_err(|e| SyncError::Worker(e.to_string()))?
            .map_err(|source| SyncError::Store {
                url: store.describe(),
                source,
            })?
    };
    let normalizer = if config.carriers.normalizer {
        tokio::spawn(
            carriers::receiver::run_normalizer(
                store.clone(),
                carriers.clone(),
                metrics.clone(),
                carriers_wake.clone(),
                shutdown.clone(),
            )
            .instrument(info_span!("task", source = "carrier_normalizer")),
        )
    } else {
        info!(
            "carrier webhooks are stored here and normalized by another central process ([carriers] normalizer = false)"
        );
        tokio::spawn(async {})
    };
    let carrier_refresh = {
        let (intake, shutdown) = (carriers.clone(), shutdown.clone());
        tokio::spawn(
            async move {
                loop {
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tokio::time::sleep(auth::REFRESH_INTERVAL) => {}
                    }
                    let i = intake.clone();
                    if let Ok(Err(e)) = tokio::task::spawn_blocking(move || i.refresh()).await {
                        warn!(error = %e, "cannot refresh carrier accounts from the store");
                    }
                }
            }
            .instrument(info_span!("task", source = "carrier_accounts")),
        )
    };
    let tracking = Arc::new(tracking::TrackingState::new(config.tracking.clone())?);
    info!(
        link_keys = ?tracking.keys().iter().map(|k| k.id.as_str()).collect::<Vec<_>>(),
        brands = config.tracking.brands.len(),
        "tracking pages under /track"
    );
    let store_description = store.describe();
    let api_state = Arc::new(http::ApiState {
        pki: pki.clone(),
        store,
        metrics,
        order_writes,
        gatekeeper,
        carriers,
        carriers_wake,
        tracking,
    });
    let metrics = api_state.metrics.clone();
    let app = http::router(api_state.clone());
    let ops_app = http::ops_router(api_state);
    let limits = http::serve::HttpLimits {
        header_timeout: config.http_header_timeout,
        body_timeout: config.http_body_timeout,
        max_connections: config.http_max_connections,
        max_per_client: config.http_max_connections_per_client,
    };
    let ops_server = http::serve::HttpServer {
        name: "ops",
        limits: http::serve::HttpLimits {
            max_connections: config::OPS_MAX_CONNECTIONS,
            max_per_client: config::OPS_MAX_CONNECTIONS_PER_CLIENT,
            ..limits
        },
        metrics: metrics.clone(),
    };
    let ops = tokio::spawn(
        ops_server
            .run(ops_listener, ops_app, shutdown.clone())
            .instrument(info_span!("task", source = "ops")),
    );
    let api_server = http::serve::HttpServer {
        name: "api",
        limits,
        metrics,
    };
    let http = tokio::spawn(
        api_server
            .run(http_listener, app, shutdown.clone())
            .instrument(info_span!("task", source = "http")),
    );
    info!(%grpc_addr, %http_addr, %ops_addr, store = %store_description, "central started");
    Ok(RunningSync {
        grpc_addr,
        http_addr,
        ops_addr,
        pki,
        admin_token_file,
        store: store_description,
        tasks: vec![
            ("grpc", grpc),
            ("http", http),
            ("ops", ops),
            ("projector", projector),
            ("token_refresh", token_refresh),
            ("carrier_normalizer", normalizer),
            ("carrier_accounts", carrier_refresh),
        ],
    })
}

impl RunningSync {
    pub async fn wait(self, grace: Duration) {
        let deadline = tokio::time::Instant::now() + grace;
        for (name, handle) in self.tasks {
            if tokio::time::timeout_at(deadline, handle).await.is_err() {
                warn!(task = name, "task still running at the shutdown deadline");
            }
        }
        info!("central stopped");
    }
}

/// Opens the configured store (migrating its schema), refusing a data
/// directory whose sled store of an earlier release was never imported.
async fn open_store(config: &SyncConfig) -> Result<Arc<CentralStore>, SyncError> {
    let (options, data_dir) = (config.store.clone(), config.data_dir.clone());
    let url = options.url.redacted();
    let store = tokio::task::spawn_blocking(move || {
        // Central keeps its admin token file there, whatever the engine.
        std::fs::create_dir_all(&data_dir)?;
        let store = CentralStore::open(&options)?;
        import::refuse_unimported(&data_dir, &store)?;
        Ok::<_, store::StoreError>(store)
    })
    .await
    .map_err(|e| SyncError::Worker(e.to_string()))?
    .map_err(|source| SyncError::Store { url, source })?;
    Ok(Arc::new(store))
}

async fn bind(what: &'static str, addr: SocketAddr) -> Result<TcpListener, SyncError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| SyncError::Listen { what, addr, source })
}

fn local_addr(what: &'static str, l: &TcpListener, addr: SocketAddr) -> Result<SocketAddr, SyncError> {
    l.local_addr()
        .map_err(|source| SyncError::Listen { what, addr, source })
}
