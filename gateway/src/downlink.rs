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

#[cfg(test)]
mod tests {
    use std::pin::Pin;
    use std::sync::Mutex;

    use tokio::sync::{Notify, mpsc};
    use tokio_stream::wrappers::{ReceiverStream, TcpListenerStream};
    use tokio_stream::{Stream, StreamExt};
    use tonic::{Request, Response, Status, Streaming};
    use waymark_proto::v1::site_sync_server::{SiteSync, SiteSyncServer};
    use waymark_proto::v1::{
        CentralMessage, DownlinkRequest, GatewayMessage, GatewayStatus, Order, OrderRevision, Parcel, Shipment,
        StatusReceipt,
    };

    use super::*;
    use crate::config::CentralConfig;
    use crate::reconcile::config::ReconcileConfig;
    use crate::reconcile::event::EventKind;
    use crate::reconcile::{Engine, ExceptionReason, Lookup, ParcelRef};

    type BoxStream<T> = Pin<Box<dyn Stream<Item = Result<T, Status>> + Send>>;

    /// Central's downlink, fed by the test one revision at a time (one session).
    struct FakeCentral {
        revisions: Mutex<Option<mpsc::Receiver<OrderRevision>>>,
    }

    #[tonic::async_trait]
    impl SiteSync for FakeCentral {
        type ReplicateStream = BoxStream<CentralMessage>;
        type DownlinkStream = BoxStream<OrderRevision>;

        async fn replicate(
            &self,
            _: Request<Streaming<GatewayMessage>>,
        ) -> Result<Response<Self::ReplicateStream>, Status> {
            Err(Status::unimplemented("downlink only"))
        }

        async fn downlink(&self, _: Request<DownlinkRequest>) -> Result<Response<Self::DownlinkStream>, Status> {
            let rx = self
                .revisions
                .lock()
                .expect("lock")
                .take()
                .ok_or_else(|| Status::unavailable("one session"))?;
            Ok(Response::new(Box::pin(ReceiverStream::new(rx).map(Ok))))
        }

        async fn report_status(&self, _: Request<GatewayStatus>) -> Result<Response<StatusReceipt>, Status> {
            Err(Status::unimplemented("downlink only"))
        }
    }

    const SSCC_1: &str = "106141410000000019";
    const SSCC_2: &str = "106141410000000026";

    /// SO-1 with one parcel per shipment; `cancelled` names the cancelled shipments.
    fn so1(revision: u64, cancelled: &[&str]) -> OrderRevision {
        let parcel = |n: &str, sscc: &str| Parcel {
            parcel_id: format!("P-{n}"),
            sscc: sscc.into(),
            shipment_id: format!("SH-{n}"),
            ..Parcel::default()
        };
        let (gone, left): (Vec<_>, Vec<_>) = [parcel("1", SSCC_1), parcel("2", SSCC_2)]
            .into_iter()
            .partition(|p| cancelled.iter().any(|c| p.shipment_id.ends_with(c)));
        OrderRevision {
            revision,
            order: Some(Order {
                order_number: "SO-1".into(),
                site_id: "dc-1".into(),
                shipments: ["1", "2"]
                    .into_iter()
                    .map(|n| Shipment {
                        shipment_id: format!("SH-{n}"),
                        cancelled: cancelled.contains(&n),
                        ..Shipment::default()
                    })
                    .collect(),
                cancelled: left.is_empty(),
                parcels: left,
                cancelled_parcels: gone,
                ..Order::default()
            }),
        }
    }

    /// Waits until the downlink has applied `revision` (it notifies after each one,
    /// once its metrics are set).
    async fn applied(store: &Store, arrived: &Notify, revision: u64) {
        while store.downlink_cursor().expect("cursor") < revision {
            tokio::time::timeout(Duration::from_secs(10), arrived.notified())
                .await
                .expect("the revision arrives in time");
        }
    }

    #[tokio::test]
    async fn a_cancellation_by_downlink_removes_the_order_and_a_later_scan_is_an_exception() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = Arc::new(Store::open(dir.path(), 8 << 20, 1 << 30).expect("open"));
        let (send, revisions) = mpsc::channel(8);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
        let shutdown = CancellationToken::new();
        let central = FakeCentral {
            revisions: Mutex::new(Some(revisions)),
        };
        let server = tokio::spawn(
            tonic::transport::Server::builder()
                .add_service(SiteSyncServer::new(central))
                .serve_with_incoming_shutdown(TcpListenerStream::new(listener), shutdown.clone().cancelled_owned()),
        );
        let config = CentralConfig {
            endpoint,
            tls: None,
            status_interval: Duration::from_secs(60),
            reconnect_max: Duration::from_millis(200),
            keepalive: Duration::from_secs(30),
        };
        let (client, _) = crate::central_link::connect_lazy(&config, "dc-1").expect("client");
        let metrics = Arc::new(GatewayMetrics::default());
        let arrived = Arc::new(Notify::new());
        let downlink = Downlink {
            site_id: "dc-1".into(),
            store: store.clone(),
            client,
            reconnect_max: config.reconnect_max,
            metrics: metrics.clone(),
            orders_arrived: arrived.clone(),
        };
        let task = tokio::spawn(downlink.run(shutdown.clone()));

        send.send(so1(1, &[])).await.expect("send");
        applied(&store, &arrived, 1).await;
        assert_eq!(metrics.orders_held.get(), 1);

        send.send(so1(2, &["1"])).await.expect("send");
        applied(&store, &arrived, 2).await;
        assert_eq!(metrics.orders_held.get(), 1, "shipment 2 is still to ship");
        assert_eq!(
            store.lookup(SSCC_1).expect("lookup"),
            Lookup::Cancelled(ParcelRef::new("SO-1", "P-1"))
        );

        send.send(so1(3, &["1", "2"])).await.expect("send");
        applied(&store, &arrived, 3).await;
        assert_eq!(metrics.orders_held.get(), 0, "the order left the store");
        assert_eq!(store.order("SO-1").expect("get"), None);

        // The reconciliation stage's matcher sees it: a pack scan of the label is an
        // exception about the cancelled parcel, not a milestone.
        let settings = ReconcileConfig::from_toml(
            "[[read_points]]\nid = \"pack-station-1\"\ndevice = \"pack-1\"\nbusiness_step = \"packing\"\nrepeat_window_ms = 2000\n",
        )
        .and_then(ReconcileConfig::validate)
        .expect("settings");
        let mut engine = Engine::new("dc-1", settings);
        let read = waymark_devices::Read {
            identifier: waymark_devices::Identifier {
                kind: waymark_devices::IdentifierKind::Sscc,
                value: SSCC_2.into(),
            },
            antenna: None,
            rssi_dbm: None,
            seen_count: 1,
            time: None,
        };
        let now = chrono::Utc::now().fixed_offset();
        let events = engine
            .observe("pack-1", &read, now, &mut crate::stage::matcher(&store))
            .expect("mapped");
        assert_eq!(events.len(), 1, "{events:#?}");
        assert_eq!(
            events[0].kind,
            EventKind::Exception {
                reason: ExceptionReason::ScannedAfterCancel
            }
        );
        assert_eq!(events[0].parcel, Some(ParcelRef::new("SO-1", "P-2")));

        shutdown.cancel();
        task.await.expect("downlink stops");
        server.await.expect("joins").expect("server stops");
    }
}
