//! The `SiteSync` gRPC service: replication with idempotent, per-site ordered
//! apply; the order downlink; gateway status reports.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio_stream::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status, Streaming};
use tracing::{Instrument, info, info_span, warn};
use waymark_proto::v1::site_sync_server::SiteSync;
use waymark_proto::v1::{
    Ack, CentralMessage, DownlinkRequest, ExpediteAck, GatewayMessage, GatewayStatus, OrderRevision, Resume,
    StatusReceipt, central_message, gateway_message,
};

use super::{ApplyError, StreamLease};
use crate::error_code::ErrorCode;
use crate::identity::{IdentityMode, ensure_same_site};
use crate::metrics::{ReasonLabel, SiteLabel, SyncMetrics};
use crate::store::{CentralStore, StoreError};

/// Messages read ahead of the one being applied.
const READ_AHEAD: usize = 16;
/// Ordered batches received together are applied in one transaction up to
/// about this many events.
const GROUP_MAX_EVENTS: usize = 10_000;

/// Aborts the task when dropped (the stream's reader ends with its session).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Revisions sent per store read on the downlink.
const DOWNLINK_PAGE: usize = 500;
/// Most events one batch may carry.
pub const MAX_BATCH_EVENTS: usize = 10_000;

pub struct SyncService {
    pub store: Arc<CentralStore>,
    pub identity: IdentityMode,
    pub metrics: Arc<SyncMetrics>,
    /// Bumped on every order write; downlink streams wait on it.
    pub order_writes: watch::Receiver<u64>,
    pub shutdown: CancellationToken,
    /// One lock per site: batches of a site are applied one at a time, in order,
    /// even if a stale stream and a fresh one overlap.
    site_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// Woken after every apply: the projector follows at once.
    pub applied: Arc<tokio::sync::Notify>,
    /// Names this process in the site stream rows (`owner`).
    pub replica: String,
}

impl SyncService {
    pub fn new(
        store: Arc<CentralStore>,
        identity: IdentityMode,
        metrics: Arc<SyncMetrics>,
        order_writes: watch::Receiver<u64>,
        shutdown: CancellationToken,
        applied: Arc<tokio::sync::Notify>,
    ) -> Self {
        Self {
            store,
            identity,
            metrics,
            order_writes,
            shutdown,
            site_locks: Mutex::default(),
            applied,
            replica: replica_name(),
        }
    }

    /// The caller's site, from its certificate (or the development header).
    fn caller<T>(&self, req: &Request<T>) -> Result<String, Status> {
        self.identity
            .site_of(req)
            .map_err(|status| self.refuse_call("unauthenticated", status))
    }

    /// Refuses a request that names a site other than the caller's.
    fn same_site(&self, caller: &str, claimed: &str) -> Result<(), Status> {
        ensure_same_site(caller, claimed).map_err(|status| self.refuse_call("wrong_site", status))
    }

    fn refuse_call(&self, reason: &'static str, status: Status) -> Status {
        self.metrics.calls_refused.get_or_create(&ReasonLabel { reason }).inc();
        warn!(reason, error = %status.message(), "call refused");
        status
    }

    fn site_lock(&self, site: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.site_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(site.to_string()).or_default().clone()
    }
}

/// Refuses a `SiteSync` call without a site identity (no client certificate, or
/// no valid header on a development link) before tonic reads its request body:
/// otherwise an unauthenticated caller could make central buffer and decode
/// messages of up to the decoding limit before the handler refuses it.
pub fn require_site(
    identity: IdentityMode,
    metrics: Arc<SyncMetrics>,
) -> impl FnMut(Request<()>) -> Result<Request<()>, Status> + Clone + Send + Sync + 'static {
    move |req: Request<()>| match identity.site_of(&req) {
        Ok(_) => Ok(req),
        Err(status) => {
            metrics
                .calls_refused
                .get_or_create(&ReasonLabel {
                    reason: "unauthenticated",
                })
                .inc();
            warn!(reason = "unauthenticated", error = %status.message(), "call refused");
            Err(status)
        }
    }
}

type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

/// This process's name in the site stream rows: host and process id.
fn replica_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{}:{}", host.trim(), std::process::id())
}

fn store_status(e: StoreError) -> Status {
    tracing::error!(error = %e, "central store failure");
    ErrorCode::Unavailable.status("central store unavailable; retry")
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ErrorCode::Internal.status(format!("worker failed: {e}")))
}

#[tonic::async_trait]
impl SiteSync for SyncService {
    type ReplicateStream = BoxStream<CentralMessage>;
    type DownlinkStream = BoxStream<OrderRevision>;

    async fn replicate(
        &self,
        request: Request<Streaming<GatewayMessage>>,
    ) -> Result<Response<Self::ReplicateStream>, Status> {
        let site = self.caller(&request)?;
        let mut inbound = request.into_inner();
        let hello = match inbound.message().await?.and_then(|m| m.body) {
            Some(gateway_message::Body::Hello(h)) => h,
            _ => return Err(ErrorCode::InvalidRequest.status("the first message must be hello")),
        };
        self.same_site(&site, &hello.site_id)?;
        let store = self.store.clone();
        let (s, owner) = (site.clone(), self.replica.clone());
        // A new epoch for the site: any older stream (a dead link, or a second
        // gateway with this identity) is refused from its next batch on.
        let lease = blocking(move || store.open_stream(&s, &owner, chrono::Utc::now().timestamp_millis()))
            .await?
            .map_err(store_status)?;
        let hwm = lease.high_water_mark;
        info!(%site, high_water_mark = hwm, epoch = lease.epoch, gateway_last_sequence = hello.last_sequence, version = %hello.gateway_version, "replication stream opened");

        let (tx, rx) = mpsc::channel(16);
        let resume = CentralMessage {
            body: Some(central_message::Body::Resume(Resume { high_water_mark: hwm })),
        };
        tx.send(Ok(resume))
            .await
            .map_err(|_| Status::cancelled("gateway went away"))?;
        let session = ReplicationSession {
            site: site.clone(),
            lease,
            store: self.store.clone(),
            metrics: self.metrics.clone(),
            lock: self.site_lock(&site),
            applied: self.applied.clone(),
        };
        let shutdown = self.shutdown.clone();
        tokio::spawn(
            async move {
                session.metrics.replication_streams.inc();
                session.run(inbound, tx, shutdown).await;
                session.metrics.replication_streams.dec();
            }
            .instrument(info_span!("replicate", %site)),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn downlink(&self, request: Request<DownlinkRequest>) -> Result<Response<Self::DownlinkStream>, Status> {
        let site = self.caller(&request)?;
        let req = request.into_inner();
        self.same_site(&site, &req.site_id)?;
        let (tx, rx) = mpsc::channel(64);
        let store = self.store.clone();
        let mut writes = self.order_writes.clone();
        let shutdown = self.shutdown.clone();
        tokio::spawn(
            async move {
                let mut cursor = req.cursor;
                loop {
                    writes.borrow_and_update();
                    let (st, s) = (store.clone(), site.clone());
                    let page = match blocking(move || st.order_revisions(&s, cursor, DOWNLINK_PAGE)).await {
                        Ok(Ok(p)) => p,
                        Ok(Err(e)) => {
                            tx.send(Err(store_status(e))).await.ok();
                            return;
                        }
                        Err(status) => {
                            tx.send(Err(status)).await.ok();
                            return;
                        }
                    };
                    let full = page.len() == DOWNLINK_PAGE;
                    for rev in page {
                        cursor = rev.revision;
                        if tx.send(Ok(rev)).await.is_err() {
                            return;
                        }
                    }
                    if full {
                        continue;
                    }
                    tokio::select! {
                        () = shutdown.cancelled() => return,
                        () = tx.closed() => return,
                        r = writes.changed() => if r.is_err() { return },
                    }
                }
            }
            .instrument(info_span!("downlink")),
        );
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn report_status(&self, request: Request<GatewayStatus>) -> Result<Response<StatusReceipt>, Status> {
        let site = self.caller(&request)?;
        let status = request.into_inner();
        self.same_site(&site, &status.site_id)?;
        let store = self.store.clone();
        blocking(move || store.put_status(&status, chrono::Utc::now().timestamp_millis()))
            .await?
            .map_err(store_status)?;
        Ok(Response::new(StatusReceipt {
            received_ms: chrono::Utc::now().timestamp_millis(),
        }))
    }
}

struct ReplicationSession {
    site: String,
    lease: StreamLease,
    store: Arc<CentralStore>,
    applied: Arc<tokio::sync::Notify>,
    metrics: Arc<SyncMetrics>,
    lock: Arc<tokio::sync::Mutex<()>>,
}

impl ReplicationSession {
    async fn run(
        &self,
        mut inbound: Streaming<GatewayMessage>,
        tx: mpsc::Sender<Result<CentralMessage, Status>>,
        shutdown: CancellationToken,
    ) {
        // A reader forwards the stream's messages, so that ordered batches
        // already received are applied together: one commit for all of them
        // (group commit), then an ack for each.
        let (forward, mut received) = mpsc::channel(READ_AHEAD);
        let reader = tokio::spawn(async move {
            loop {
                let msg = inbound.message().await.transpose();
                let last = !matches!(msg, Some(Ok(_)));
                if forward.send(msg).await.is_err() || last {
                    return;
                }
            }
        });
        let _reader = AbortOnDrop(reader);
        let mut next: Option<Option<Result<GatewayMessage, Status>>> = None;
        loop {
            let msg = match next.take() {
                Some(m) => m,
                None => tokio::select! {
                    () = shutdown.cancelled() => return,
                    m = received.recv() => m.flatten(),
                },
            };
            let body = match msg {
                Some(Ok(GatewayMessage { body: Some(body) })) => body,
                None => return,
                Some(Ok(GatewayMessage { body: None })) => {
                    tx.send(Err(ErrorCode::InvalidRequest.status("expected an event batch")))
                        .await
                        .ok();
                    return;
                }
                Some(Err(e)) => {
                    warn!(error = %e.message(), "replication stream broke");
                    return;
                }
            };
            let replies = match body {
                gateway_message::Body::Gap(gap) => vec![self.record_gap(&gap).await],
                gateway_message::Body::Expedite(b) => vec![self.apply(vec![b.events], true).await],
                gateway_message::Body::Batch(b) => {
                    let mut group = vec![b.events];
                    let mut events = group[0].len();
                    while events < GROUP_MAX_EVENTS {
                        match received.try_recv() {
                            Ok(Some(Ok(GatewayMessage {
                                body: Some(gateway_message::Body::Batch(b)),
                            }))) => {
                                events += b.events.len();
                                group.push(b.events);
                            }
                            Ok(other) => {
                                next = Some(other);
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    let batches = group.len();
                    match self.apply(group, false).await {
                        Ok(ack) => vec![Ok(ack); batches],
                        Err(e) => vec![Err(e)],
                    }
                }
                gateway_message::Body::Hello(_) => {
                    vec![Err(ErrorCode::InvalidRequest.status("expected an event batch"))]
                }
            };
            for reply in replies {
                let failed = reply.is_err();
                if tx.send(reply).await.is_err() || failed {
                    return;
                }
            }
        }
    }

    /// Applies ordered batches received together, in one transaction (each is
    /// then answered with an `Ack`), or one priority-lane batch (answered with
    /// `ExpediteAck`).
    async fn apply(&self, batches: Vec<Vec<waymark_proto::Event>>, expedite: bool) -> Result<CentralMessage, Status> {
        if let Some(big) = batches.iter().find(|b| b.len() > MAX_BATCH_EVENTS) {
            return Err(self.refuse(
                "batch_too_large",
                ErrorCode::PayloadTooLarge.status(format!("batch of {} events exceeds {MAX_BATCH_EVENTS}", big.len())),
            ));
        }
        let events: Vec<waymark_proto::Event> = batches.into_iter().flatten().collect();
        let _guard = self.lock.lock().await;
        let started = Instant::now();
        let (store, lease) = (self.store.clone(), self.lease.clone());
        let last_sequence = events.last().map_or(0, |e| e.sequence);
        let applied = blocking(move || {
            if expedite {
                store.apply_expedited(&lease, &events)
            } else {
                store.apply(&lease, &events)
            }
        })
        .await?;
        let applied = match applied {
            Ok(a) => a,
            Err(ApplyError::Store(e)) => return Err(store_status(e)),
            Err(e @ ApplyError::WrongSite { .. }) => {
                return Err(self.refuse("wrong_site", ErrorCode::Forbidden.status(e.to_string())));
            }
            Err(e @ ApplyError::Gap { .. }) => {
                return Err(self.refuse("sequence_gap", ErrorCode::FailedPrecondition.status(e.to_string())));
            }
            Err(e @ ApplyError::Invalid { .. }) => {
                return Err(self.refuse("invalid_event", ErrorCode::InvalidRequest.status(e.to_string())));
            }
            Err(e @ ApplyError::Fenced { .. }) => return Err(self.fenced(&e)),
        };
        self.applied.notify_one();
        self.metrics.apply_seconds.observe(started.elapsed().as_secs_f64());
        let label = SiteLabel {
            site: self.site.clone(),
        };
        self.metrics
            .events_applied
            .get_or_create(&label)
            .inc_by(applied.applied);
        self.metrics
            .events_duplicate
            .get_or_create(&label)
            .inc_by(applied.duplicates);
        if expedite {
            self.metrics
                .events_expedited
                .get_or_create(&label)
                .inc_by(applied.applied);
            return Ok(CentralMessage {
                body: Some(central_message::Body::Expedited(ExpediteAck {
                    last_sequence,
                    applied: u32::try_from(applied.applied).unwrap_or(u32::MAX),
                })),
            });
        }
        Ok(CentralMessage {
            body: Some(central_message::Body::Ack(Ack {
                high_water_mark: applied.high_water_mark,
            })),
        })
    }

    /// The gateway cannot deliver `gap.first..=gap.last` (central lost them and
    /// the gateway has compacted them): record it, count it, move the mark.
    async fn record_gap(&self, gap: &waymark_proto::v1::Gap) -> Result<CentralMessage, Status> {
        let _guard = self.lock.lock().await;
        let (store, lease) = (self.store.clone(), self.lease.clone());
        let (first, last, reason) = (gap.first, gap.last, gap.reason.clone());
        let now_ms = chrono::Utc::now().timestamp_millis();
        let recorded = blocking(move || store.record_gap(&lease, first, last, &reason, now_ms)).await?;
        match recorded {
            Ok(applied) => {
                let lost = last - first + 1;
                self.metrics
                    .events_lost
                    .get_or_create(&SiteLabel {
                        site: self.site.clone(),
                    })
                    .inc_by(lost);
                tracing::error!(site = %self.site, first, last, lost, reason = %gap.reason, "events recorded at the site can no longer be delivered: gap recorded (central's store was restored from an older backup?)");
                Ok(CentralMessage {
                    body: Some(central_message::Body::Ack(Ack {
                        high_water_mark: applied.high_water_mark,
                    })),
                })
            }
            Err(ApplyError::Store(e)) => Err(store_status(e)),
            Err(e @ ApplyError::Fenced { .. }) => Err(self.fenced(&e)),
            Err(e) => Err(self.refuse("bad_gap", ErrorCode::FailedPrecondition.status(e.to_string()))),
        }
    }

    /// A newer stream for this site opened (on this or another central
    /// process) while this one still sends: two gateways with one identity, or
    /// a gateway that kept writing on a stream it had given up. Nothing of the
    /// batch was applied; the stream ends.
    fn fenced(&self, e: &ApplyError) -> Status {
        self.metrics
            .streams_fenced
            .get_or_create(&SiteLabel {
                site: self.site.clone(),
            })
            .inc();
        self.metrics
            .batches_refused
            .get_or_create(&ReasonLabel { reason: "fenced" })
            .inc();
        tracing::error!(site = %self.site, error = %e, "replication stream fenced: a newer stream for this site is open");
        ErrorCode::Fenced.status(e.to_string())
    }

    fn refuse(&self, reason: &'static str, status: Status) -> Status {
        self.metrics
            .batches_refused
            .get_or_create(&ReasonLabel { reason })
            .inc();
        warn!(site = %self.site, reason, error = %status.message(), "batch refused");
        status
    }
}
