//! Replication: streams recorded events from the store to central. The store is
//! the queue; the cursor only moves on central's ack, and every (re)connect resumes
//! from the high-water mark central reports.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use waymark_proto::v1::{
    Ack, Event, EventBatch, Gap, GatewayMessage, Hello, LinkState, central_message, gateway_message,
};

use crate::backoff::Backoff;
use crate::central_link::SyncClient;
use crate::link_status::LinkStatus;
use crate::metrics::GatewayMetrics;
use crate::store::{Store, StoreError};

/// How long central may take to ack a batch before the stream is considered dead.
const ACK_TIMEOUT: Duration = Duration::from_secs(30);
const RESUME_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum ReplicateError {
    #[error("central refused the stream: {0}")]
    Rpc(#[from] tonic::Status),
    #[error("central closed the stream")]
    Closed,
    #[error("central did not answer within {0:?}")]
    Timeout(Duration),
    #[error("protocol violation by central: {0}")]
    Protocol(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub struct Replicator {
    pub site_id: String,
    pub store: Arc<Store>,
    pub client: SyncClient,
    pub batch_max_events: usize,
    pub max_inflight_batches: usize,
    /// Bandwidth cap for a thin site link, in encoded event bytes per second.
    pub max_bytes_per_sec: Option<u64>,
    pub reconnect_max: Duration,
    pub metrics: Arc<GatewayMetrics>,
    pub link: Arc<LinkStatus>,
}

impl Replicator {
    pub async fn run(self, mut recorded: watch::Receiver<u64>, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(250), self.reconnect_max);
        while !shutdown.is_cancelled() {
            self.link.set(LinkState::Connecting);
            self.metrics.link_reconnects.inc();
            let result = self.session(&mut recorded, &shutdown, &mut backoff).await;
            self.link.set(LinkState::Disconnected);
            self.metrics.link_connected.set(0);
            match result {
                Ok(()) => break,
                Err(e) => {
                    let delay = backoff.next_delay();
                    warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "replication stream down");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        info!("replicator stopped");
    }

    /// One stream from hello to failure or shutdown (`Ok`).
    async fn session(
        &self,
        recorded: &mut watch::Receiver<u64>,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), ReplicateError> {
        let (tx, rx) = mpsc::channel(self.max_inflight_batches + 1);
        let hello = GatewayMessage {
            body: Some(gateway_message::Body::Hello(Hello {
                site_id: self.site_id.clone(),
                gateway_version: env!("CARGO_PKG_VERSION").into(),
                last_sequence: self.store.last_sequence(),
            })),
        };
        tx.send(hello).await.map_err(|_| ReplicateError::Closed)?;
        let mut client = self.client.clone();
        let mut inbound = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            r = client.replicate(ReceiverStream::new(rx)) => r?.into_inner(),
        };
        let first = tokio::time::timeout(RESUME_TIMEOUT, inbound.message())
            .await
            .map_err(|_| ReplicateError::Timeout(RESUME_TIMEOUT))??;
        let hwm = match first.and_then(|m| m.body) {
            Some(central_message::Body::Resume(r)) => r.high_water_mark,
            other => return Err(ReplicateError::Protocol(format!("expected resume, got {other:?}"))),
        };
        let store = self.store.clone();
        let central_ahead = blocking(move || store.note_central_high_water_mark(hwm)).await?;
        if central_ahead {
            error!(
                high_water_mark = hwm,
                "central holds more events for this site than this store: the store was replaced or restored; new events continue above central's mark"
            );
        }
        self.link.set(LinkState::Connected);
        self.metrics.link_connected.set(1);
        backoff.reset();
        info!(
            high_water_mark = hwm,
            last_sequence = self.store.last_sequence(),
            "replication resumed"
        );

        let first_held = blocking({
            let store = self.store.clone();
            move || store.first_sequence()
        })
        .await?;
        let next_needed = hwm
            .checked_add(1)
            .ok_or_else(|| ReplicateError::Protocol(format!("high-water mark {hwm} has no successor")))?;
        let mut acked = hwm;
        let mut next = next_needed;
        // Every message central has not answered yet, in the order sent.
        let mut inflight: VecDeque<Sent> = VecDeque::new();
        if let Some(first) = first_held.filter(|first| *first > next_needed) {
            // Central lost events this store has already compacted (its store was
            // restored from an older backup): they cannot be resent. Declare the
            // gap, which central records and counts, instead of stalling forever
            // while new reads fill the disk budget.
            let last = first - 1;
            error!(
                high_water_mark = hwm,
                first_held = first,
                lost = last - hwm,
                "central is missing events this gateway has already compacted: declaring the gap to central"
            );
            self.metrics.events_lost.inc_by(last - hwm);
            let gap = Gap {
                first: next_needed,
                last,
                reason: format!(
                    "the gateway had compacted sequences {next_needed}..={last} after central acknowledged them; central reported {hwm} on reconnect"
                ),
            };
            tx.send(GatewayMessage {
                body: Some(gateway_message::Body::Gap(gap)),
            })
            .await
            .map_err(|_| ReplicateError::Closed)?;
            inflight.push_back(Sent {
                expedite: false,
                tail: last,
                bytes: 0,
            });
            next = first;
        }
        // Milestones and exceptions up to here were sent ahead (priority lane).
        let mut expedited_upto = hwm;
        let mut ack_deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        let mut pacer = self.max_bytes_per_sec.map(Pacer::new);
        // The store read for the next batch outlives loop turns: an ack arriving
        // while it runs must not throw it away and start it again (that left
        // central idle a third of a catch-up). Nothing it depends on changes
        // before it completes: `next` and `expedited_upto` move only when it does.
        let mut reading: Option<Pin<Box<dyn Future<Output = NextBatch> + Send + '_>>> = None;
        loop {
            let last = *recorded.borrow_and_update();
            let last = last.max(self.store.last_sequence());
            self.metrics.backlog_events.set(last.saturating_sub(acked) as i64);
            let window_open = inflight.len() < self.max_inflight_batches && last >= next;
            let paced_until = pacer
                .as_ref()
                .map(Pacer::ready_at)
                .filter(|t| *t > tokio::time::Instant::now());
            if reading.is_none() && window_open && paced_until.is_none() {
                let cap = pacer.as_ref().map(|p| p.bytes_per_sec);
                reading = Some(Box::pin(self.next_batch(next, expedited_upto, cap)));
            }
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                msg = inbound.message() => {
                    let body = msg?.and_then(|m| m.body);
                    if let Some(central_message::Body::Expedited(e)) = &body {
                        match inflight.pop_front() {
                            Some(sent) if sent.expedite && sent.tail == e.last_sequence => {
                                self.metrics.events_expedited.inc_by(u64::from(e.applied));
                                self.metrics.replicated_bytes.inc_by(sent.bytes);
                            }
                            other => {
                                return Err(ReplicateError::Protocol(format!(
                                    "expedite ack for {} does not answer {other:?}",
                                    e.last_sequence
                                )));
                            }
                        }
                        ack_deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
                        continue;
                    }
                    let Ack { high_water_mark } = match body {
                        Some(central_message::Body::Ack(a)) => a,
                        None => return Err(ReplicateError::Closed),
                        Some(other) => return Err(ReplicateError::Protocol(format!("unexpected {other:?}"))),
                    };
                    if high_water_mark < acked || high_water_mark >= next {
                        return Err(ReplicateError::Protocol(format!(
                            "ack {high_water_mark} outside the sent window {acked}..{next}"
                        )));
                    }
                    self.metrics.events_replicated.inc_by(high_water_mark - acked);
                    acked = high_water_mark;
                    self.link.acked_now();
                    while let Some(sent) = inflight.front().filter(|s| !s.expedite && s.tail <= acked) {
                        self.metrics.replicated_bytes.inc_by(sent.bytes);
                        inflight.pop_front();
                    }
                    ack_deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
                    self.store.set_acked_sequence(acked)?;
                }
                () = tokio::time::sleep_until(ack_deadline), if !inflight.is_empty() => {
                    return Err(ReplicateError::Timeout(ACK_TIMEOUT));
                }
                () = sleep_until_some(paced_until), if window_open && reading.is_none() => {}
                changed = recorded.changed(), if !window_open => {
                    if changed.is_err() {
                        // The recorder has drained and stopped: nothing more will come.
                        shutdown.cancelled().await;
                        return Ok(());
                    }
                }
                batch = async {
                    match reading.as_mut() {
                        Some(read) => read.await,
                        None => std::future::pending().await,
                    }
                }, if reading.is_some() => {
                    reading = None;
                    let (events, expedite) = batch?;
                    // `last >= next` said there were events: finding none means the
                    // log has a hole, which must not become a busy loop.
                    let Some(tail) = events.last().map(|e| e.sequence) else {
                        return Err(ReplicateError::Protocol(format!("no event at or after {next} in the log")));
                    };
                    let bytes: u64 = events.iter().map(|e| prost::Message::encoded_len(e) as u64).sum();
                    if inflight.is_empty() {
                        ack_deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
                    }
                    if let Some(p) = pacer.as_mut() {
                        p.spend(bytes);
                    }
                    let batch = EventBatch { events };
                    let body = if expedite {
                        expedited_upto = tail;
                        gateway_message::Body::Expedite(batch)
                    } else {
                        next = tail + 1;
                        gateway_message::Body::Batch(batch)
                    };
                    tx.send(GatewayMessage { body: Some(body) }).await.map_err(|_| ReplicateError::Closed)?;
                    inflight.push_back(Sent { expedite, tail, bytes });
                }
            }
        }
    }

    /// What to send next: milestones and exceptions stuck behind at least a batch
    /// of backlog and not yet sent ahead (`true`), else the next ordered batch. Under a bandwidth cap
    /// a batch carries at most about one second of the link.
    async fn next_batch(&self, next: u64, expedited_upto: u64, bytes_per_sec: Option<u64>) -> NextBatch {
        let store = self.store.clone();
        let max = self.batch_max_events;
        let (mut events, expedite) = blocking(move || {
            // Only what the next ordered batch would not carry anyway is worth
            // sending twice.
            let ahead = store.priority_from((next + max as u64).max(expedited_upto + 1), max)?;
            if ahead.is_empty() {
                Ok((store.events_from(next, max)?, false))
            } else {
                Ok((ahead, true))
            }
        })
        .await?;
        if let Some(cap) = bytes_per_sec {
            let mut total = 0u64;
            let keep = events
                .iter()
                .take_while(|e| {
                    total += prost::Message::encoded_len(*e) as u64;
                    total <= cap
                })
                .count();
            events.truncate(keep.max(1));
        }
        Ok((events, expedite))
    }
}

/// The events of the next batch, and whether they go ahead (the priority lane).
type NextBatch = Result<(Vec<Event>, bool), ReplicateError>;

/// A message on the stream that central has not answered yet.
#[derive(Debug, Clone, Copy)]
struct Sent {
    expedite: bool,
    /// Its last event's sequence.
    tail: u64,
    bytes: u64,
}

/// The bandwidth cap: each batch moves the earliest time of the next one by its
/// size over the rate, so over any stretch the link carries at most the rate
/// (plus one batch).
#[derive(Debug)]
struct Pacer {
    bytes_per_sec: u64,
    next_free: tokio::time::Instant,
}

impl Pacer {
    fn new(bytes_per_sec: u64) -> Self {
        Self {
            bytes_per_sec: bytes_per_sec.max(1),
            next_free: tokio::time::Instant::now(),
        }
    }

    fn ready_at(&self) -> tokio::time::Instant {
        self.next_free
    }

    fn spend(&mut self, bytes: u64) {
        let start = self.next_free.max(tokio::time::Instant::now());
        self.next_free = start + Duration::from_secs_f64(bytes as f64 / self.bytes_per_sec as f64);
    }
}

async fn sleep_until_some(at: Option<tokio::time::Instant>) {
    match at {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

/// Runs store work off the runtime's worker threads.
pub async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Sync(std::io::Error::other(e)))?
}
