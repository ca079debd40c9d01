//! The running side of carrier intake: the accounts central takes webhooks
//! for (config file and API, re-read from the store every 2 s), the inbox
//! that stores verified bodies with group commit before they are
//! acknowledged, and the normalizer task that works from storage.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};

use super::config::CarrierSettings;
use super::intake::step_webhooks;
use super::store::NewWebhook;
use super::{CarrierAccount, Provider};
use crate::metrics::{ProviderOutcomeLabel, ProviderReasonLabel, SyncMetrics};
use crate::store::{CentralStore, StoreError};

/// Where an account comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountSource {
    Config,
    Api,
}

/// Webhooks one commit stores at most.
const INBOX_BATCH: usize = 512;
/// Webhooks waiting for the inbox's writer; past this a receiver answers 503
/// (the provider retries) instead of queueing without bound.
const INBOX_CAPACITY: usize = 8192;
/// How often the normalizer looks for work nobody woke it for (another
/// process stored it, or a retry came due).
const POLL: Duration = Duration::from_millis(500);
/// Webhooks stored this recently mean a burst is arriving.
const BUSY_WINDOW: Duration = Duration::from_millis(100);
/// During a burst the normalizer takes one step per this long (on SQLite it
/// shares the one writer with the inbox, and an acknowledgement must not wait
/// behind it); it catches up at full speed once the burst is over. The
/// backlog shows in `waymark_carrier_webhooks_pending`.
const BURST_PACE: Duration = Duration::from_millis(25);
/// Catching up, the normalizer looks up from its steps this often (shutdown,
/// a burst arriving).
const CATCH_UP_SLICE: Duration = Duration::from_secs(1);

type Reply = oneshot::Sender<Result<i64, String>>;

/// Carrier intake as the HTTP handlers see it.
pub struct CarrierIntake {
    /// When the inbox last stored a batch (ms since the epoch): while
    /// webhooks are arriving, acknowledging them comes first.
    last_stored_ms: Arc<std::sync::atomic::AtomicI64>,
    config: Vec<CarrierAccount>,
    stored: RwLock<HashMap<(Provider, String), String>>,
    pub max_body_bytes: usize,
    inbox: mpsc::Sender<(NewWebhook, Reply)>,
    store: Arc<CentralStore>,
}

impl std::fmt::Debug for CarrierIntake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CarrierIntake").finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum InboxError {
    #[error("the webhook inbox is full; retry")]
    Busy,
    #[error("cannot store the webhook: {0}")]
    Store(String),
}

impl CarrierIntake {
    /// Starts the inbox's writer thread (it ends when the intake is dropped)
    /// and loads the API's accounts.
    pub fn start(
        settings: &CarrierSettings,
        store: Arc<CentralStore>,
        wake: Arc<Notify>,
    ) -> Result<Arc<Self>, StoreError> {
        let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
        let writer_store = store.clone();
        let last_stored_ms = Arc::new(std::sync::atomic::AtomicI64::new(0));
        let stamp = last_stored_ms.clone();
        std::thread::Builder::new()
            .name("carrier-inbox".into())
            .spawn(move || write_inbox(&writer_store, rx, &wake, &stamp))
            .map_err(StoreError::Io)?;
        let intake = Arc::new(Self {
            last_stored_ms,
            config: settings.accounts.clone(),
            stored: RwLock::new(HashMap::new()),
            max_body_bytes: settings.max_body_bytes,
            inbox: tx,
            store,
        });
        intake.refresh()?;
        Ok(intake)
    }

    /// Re-reads the accounts added through the API.
    pub fn refresh(&self) -> Result<(), StoreError> {
        let rows = self.store.stored_carrier_accounts()?;
        let map = rows
            .into_iter()
            .filter_map(|(p, name, secret)| Some(((Provider::parse(&p)?, name), secret)))
            .collect();
        if let Ok(mut stored) = self.stored.write() {
            *stored = map;
        }
        Ok(())
    }

    /// The secret of `provider`/`name`: the config file's first, then the API's.
    pub fn secret(&self, provider: Provider, name: &str) -> Option<String> {
        self.config
            .iter()
            .find(|a| a.provider == provider && a.name == name)
            .map(|a| a.secret.clone())
            .or_else(|| {
                self.stored
                    .read()
                    .ok()
                    .and_then(|m| m.get(&(provider, name.to_string())).cloned())
            })
    }

    /// Every account, with where it comes from.
    pub fn accounts(&self) -> Vec<(Provider, String, AccountSource)> {
        let mut out: Vec<_> = self
            .config
            .iter()
            .map(|a| (a.provider, a.name.clone(), AccountSource::Config))
            .collect();
        if let Ok(m) = self.stored.read() {
            for (p, name) in m.keys() {
                if !out.iter().any(|(q, n, _)| q == p && n == name) {
                    out.push((*p, name.clone(), AccountSource::Api));
                }
            }
        }
        out.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
        out
    }

    /// Whether webhooks arrived in the last [`BUSY_WINDOW`].
    pub fn receiving(&self) -> bool {
        let last = self.last_stored_ms.load(std::sync::atomic::Ordering::Relaxed);
        chrono::Utc::now().timestamp_millis() - last < BUSY_WINDOW.as_millis() as i64
    }

    pub fn is_configured(&self, provider: Provider, name: &str) -> bool {
        self.config.iter().any(|a| a.provider == provider && a.name == name)
    }

    /// Stores a verified webhook durably; its id once committed.
    pub async fn store(&self, webhook: NewWebhook) -> Result<i64, InboxError> {
        let (reply, answer) = oneshot::channel();
        self.inbox.try_send((webhook, reply)).map_err(|_| InboxError::Busy)?;
        match answer.await {
            Ok(Ok(id)) => Ok(id),
            Ok(Err(e)) => Err(InboxError::Store(e)),
            Err(_) => Err(InboxError::Store("the inbox writer stopped".into())),
        }
    }
}

/// The inbox's writer: takes what is waiting (up to a batch), stores it in
/// one transaction, answers each sender, wakes the normalizer.
fn write_inbox(
    store: &CentralStore,
    mut rx: mpsc::Receiver<(NewWebhook, Reply)>,
    wake: &Notify,
    last_stored_ms: &std::sync::atomic::AtomicI64,
) {
    while let Some(first) = rx.blocking_recv() {
        let mut batch = vec![first];
        while batch.len() < INBOX_BATCH {
            match rx.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (webhooks, replies): (Vec<NewWebhook>, Vec<Reply>) = batch.into_iter().unzip();
        match store.store_webhooks(&webhooks) {
            Ok(ids) => {
                last_stored_ms.store(
                    chrono::Utc::now().timestamp_millis(),
                    std::sync::atomic::Ordering::Relaxed,
                );
                for (reply, id) in replies.into_iter().zip(ids) {
                    let _ignored = reply.send(Ok(id));
                }
                wake.notify_one();
            }
            Err(e) => {
                warn!(error = %e, webhooks = webhooks.len(), "cannot store carrier webhooks; refusing them (the providers retry)");
                for reply in replies {
                    let _ignored = reply.send(Err(e.to_string()));
                }
            }
        }
    }
}

/// The normalizer task: steps while there is work, then sleeps until the
/// inbox wakes it or the poll interval passes; publishes the backlog.
pub async fn run_normalizer(
    store: Arc<CentralStore>,
    intake: Arc<CarrierIntake>,
    metrics: Arc<SyncMetrics>,
    wake: Arc<Notify>,
    shutdown: CancellationToken,
) {
    let mut failing = false;
    loop {
        let (st, m, busy, stop) = (store.clone(), metrics.clone(), intake.clone(), shutdown.clone());
        let step = tokio::task::spawn_blocking(move || {
            let now = || chrono::Utc::now().timestamp_millis();
            let webhooks = if st.engine() == crate::store::Engine::Sqlite && busy.receiving() {
                // One small step: the inbox shares the one writer.
                let out = st.normalize_step(step_webhooks(st.engine()), now())?;
                record(&m, &out);
                out.webhooks
            } else {
                // Catching up: steps back to back (the next one read and decoded
                // while this one is kept) until the backlog is gone, a burst
                // starts, or about a second has passed.
                let until = std::time::Instant::now() + CATCH_UP_SLICE;
                st.normalize_while(step_webhooks(st.engine()), now, |out| {
                    record(&m, out);
                    !stop.is_cancelled() && !busy.receiving() && std::time::Instant::now() < until
                })?
            };
            if webhooks == 0 {
                st.claim_held_sweep(chrono::Utc::now().timestamp_millis())?;
                let (pending, failed) = st.carrier_backlog()?;
                m.carriers.pending.set(i64::try_from(pending).unwrap_or(i64::MAX));
                m.carriers.failed.set(i64::try_from(failed).unwrap_or(i64::MAX));
            }
            Ok::<_, StoreError>(webhooks)
        })
        .await;
        let worked = match step {
            Ok(Ok(n)) => {
                if failing {
                    info!("carrier normalizer: the store answers again");
                    failing = false;
                }
                n > 0
            }
            Ok(Err(e)) => {
                if !failing {
                    warn!(error = %e, "carrier normalizer: store unavailable; retrying");
                    failing = true;
                }
                false
            }
            Err(e) => {
                warn!(error = %e, "carrier normalizer step failed");
                false
            }
        };
        if worked && !shutdown.is_cancelled() {
            if store.engine() == crate::store::Engine::Sqlite && intake.receiving() {
                tokio::select! {
                    () = shutdown.cancelled() => return,
                    () = tokio::time::sleep(BURST_PACE) => {}
                }
            }
            continue;
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(if failing { POLL * 4 } else { POLL }) => {}
        }
    }
}

fn record(m: &SyncMetrics, out: &super::intake::StepOutcome) {
    for (provider, c) in &out.events {
        for (outcome, n) in [
            ("new", c.new),
            ("known", c.known),
            ("unmapped", c.unmapped),
            ("held", c.held),
        ] {
            if n > 0 {
                m.carriers
                    .events
                    .get_or_create(&ProviderOutcomeLabel {
                        provider: provider.as_str(),
                        outcome,
                    })
                    .inc_by(n);
            }
        }
    }
    for f in &out.failures {
        m.carriers
            .normalize_failures
            .get_or_create(&ProviderReasonLabel {
                provider: f.provider.as_str(),
                reason: f.reason,
            })
            .inc();
        warn!(provider = %f.provider, account = %f.account, webhook = f.webhook, reason = f.reason, error = %f.message, "carrier webhook did not normalize; it is kept and retried");
    }
}
