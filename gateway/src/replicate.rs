//! Replication: streams recorded events from the store to central. The store is
//! the queue; the cursor only moves on central's ack, and every (re)connect resumes
//! from the high-water mark central reports.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tracing::{error, info, warn};
use waymark_proto::v1::{Ack, Event, EventBatch, GatewayMessage, Hello, LinkState, central_message, gateway_message};

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
        if first_held.is_some_and(|first| first > next_needed) {
            // Central lost events this store has already compacted (a restored
            // backup): they cannot be resent. Say so loudly instead of looping.
            error!(
                high_water_mark = hwm,
                first_held = ?first_held,
                "central is missing events this gateway has already compacted; replication cannot continue until an operator resolves the gap"
            );
            return Err(ReplicateError::Protocol("central is behind the compacted log".into()));
        }
        let mut acked = hwm;
        let mut next = next_needed;
        // (last sequence, encoded bytes) of each batch central has not acknowledged.
        let mut inflight: VecDeque<(u64, u64)> = VecDeque::new();
        let mut ack_deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
        loop {
            let last = *recorded.borrow_and_update();
            let last = last.max(self.store.last_sequence());
            self.metrics.backlog_events.set(last.saturating_sub(acked) as i64);
            let can_send = inflight.len() < self.max_inflight_batches && last >= next;
            tokio::select! {
                biased;
                () = shutdown.cancelled() => return Ok(()),
                msg = inbound.message() => {
                    let Ack { high_water_mark } = match msg?.and_then(|m| m.body) {
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
                    while let Some(&(_, bytes)) = inflight.front().filter(|(last, _)| *last <= acked) {
                        self.metrics.replicated_bytes.inc_by(bytes);
                        inflight.pop_front();
                    }
                    ack_deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
                    self.store.set_acked_sequence(acked)?;
                }
                () = tokio::time::sleep_until(ack_deadline), if !inflight.is_empty() => {
                    return Err(ReplicateError::Timeout(ACK_TIMEOUT));
                }
                changed = recorded.changed(), if !can_send => {
                    if changed.is_err() {
                        // The recorder has drained and stopped: nothing more will come.
                        shutdown.cancelled().await;
                        return Ok(());
                    }
                }
                events = self.read_batch(next), if can_send => {
                    let events = events?;
                    // `last >= next` said there were events: finding none means the
                    // log has a hole, which must not become a busy loop.
                    let Some(tail) = events.last().map(|e| e.sequence) else {
                        return Err(ReplicateError::Protocol(format!("no event at or after {next} in the log")));
                    };
                    let bytes: u64 = events.iter().map(|e| prost::Message::encoded_len(e) as u64).sum();
                    if inflight.is_empty() {
                        ack_deadline = tokio::time::Instant::now() + ACK_TIMEOUT;
                    }
                    let batch = GatewayMessage { body: Some(gateway_message::Body::Batch(EventBatch { events })) };
                    tx.send(batch).await.map_err(|_| ReplicateError::Closed)?;
                    inflight.push_back((tail, bytes));
                    next = tail + 1;
                }
            }
        }
    }

    async fn read_batch(&self, from: u64) -> Result<Vec<Event>, ReplicateError> {
        let store = self.store.clone();
        let max = self.batch_max_events;
        Ok(blocking(move || store.events_from(from, max)).await?)
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
