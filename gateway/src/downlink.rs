//! Downlink: keeps the site's orders in the local store, from the cursor the
//! store keeps, so reads can be matched to orders while the link is down.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use waymark_proto::v1::DownlinkRequest;

use crate::backoff::Backoff;
use crate::central_link::SyncClient;
use crate::metrics::GatewayMetrics;
use crate::replicate::blocking;
use crate::store::Store;

pub struct Downlink {
    pub site_id: String,
    pub store: Arc<Store>,
    pub client: SyncClient,
    pub reconnect_max: Duration,
    pub metrics: Arc<GatewayMetrics>,
    /// Wakes reconciliation to re-match its quarantine.
    pub orders_arrived: Arc<tokio::sync::Notify>,
}

impl Downlink {
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(Duration::from_millis(250), self.reconnect_max);
        while !shutdown.is_cancelled() {
            match self.session(&shutdown, &mut backoff).await {
                Ok(()) => {}
                Err(e) => warn!(error = %e, "downlink down"),
            }
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(backoff.next_delay()) => {}
            }
        }
        debug!("downlink stopped");
    }

    async fn session(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
        let store = self.store.clone();
        let cursor = blocking(move || store.downlink_cursor()).await?;
        let request = DownlinkRequest {
            site_id: self.site_id.clone(),
            cursor,
        };
        let mut client = self.client.clone();
        let mut stream = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            r = client.downlink(request) => r?.into_inner(),
        };
        info!(cursor, "downlink connected");
        backoff.reset();
        loop {
            let rev = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                m = stream.message() => match m? {
                    Some(rev) => rev,
                    None => return Ok(()),
                },
            };
            let store = self.store.clone();
            let order_number = rev.order.as_ref().map(|o| o.order_number.clone()).unwrap_or_default();
            let revision = rev.revision;
            let now_ms = chrono::Utc::now().timestamp_millis();
            let held = blocking(move || {
                store.apply_order_revision(&rev, now_ms)?;
                Ok(store.orders_held())
            })
            .await?;
            self.metrics.orders_held.set(held as i64);
            self.orders_arrived.notify_one();
            debug!(%order_number, revision, "order received");
        }
    }
}
