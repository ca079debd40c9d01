//! External site broker mode: the gateway subscribes to the site's existing broker
//! with a persistent session and QoS 1, and acknowledges each message only after
//! its reads are journaled durably (or it was rejected and counted). If the
//! gateway dies, the broker redelivers whatever was not acknowledged; redelivered
//! reads derive the same event ids and the store absorbs them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, Publish, QoS};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, info_span, warn};

use crate::backoff::Backoff;
use crate::broker::PACKET_OVERHEAD_BYTES;
use crate::config::ExternalBroker;
use crate::ingest::{Ingest, OnRecorded};
use crate::stage::StageInput;

/// Messages received but not yet acknowledged; bounds what a slow store holds up.
const MAX_UNACKED: usize = 1024;

pub async fn run(
    ingest: Arc<Ingest>,
    broker: ExternalBroker,
    out: mpsc::Sender<StageInput>,
    connected: Arc<AtomicBool>,
    shutdown: CancellationToken,
) {
    let filter = format!("waymark/{}/+/reads", ingest.site_id);
    let mut opts = MqttOptions::new(&broker.client_id, &broker.host, broker.port);
    opts.set_clean_session(false)
        .set_manual_acks(true)
        .set_keep_alive(Duration::from_secs(15))
        .set_max_packet_size(ingest.max_payload_bytes + PACKET_OVERHEAD_BYTES, 64 * 1024);
    if let Some((user, pass)) = &broker.credentials {
        opts.set_credentials(user, pass);
    }
    let (client, mut eventloop) = AsyncClient::new(opts, MAX_UNACKED);

    // Acks go out in the order messages arrived (MQTT 3.1.1 §4.6), each once its
    // commit is known: the acker waits on them one by one.
    let (pending_tx, pending_rx) = mpsc::channel(MAX_UNACKED);
    let mut acker = tokio::spawn(ack_in_order(client.clone(), pending_rx).instrument(info_span!("mqtt_acker")));

    let mut backoff = Backoff::new(Duration::from_millis(250), Duration::from_secs(10));
    loop {
        let event = tokio::select! {
            () = shutdown.cancelled() => break,
            _ = &mut acker => {
                // Acks stopped after a failed commit: nothing more can be acknowledged
                // in order, so stop ingesting and show it (readiness fails).
                error!("external-broker ingest stopped: a commit failed; restart the gateway once the store is healthy");
                connected.store(false, Ordering::Relaxed);
                return;
            }
            e = eventloop.poll() => e,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                info!(broker = %format!("{}:{}", broker.host, broker.port), session_present = ack.session_present, "connected to the site broker");
                // Subscribing again on a kept session is harmless and covers a lost one.
                if let Err(e) = client.subscribe(&filter, QoS::AtLeastOnce).await {
                    warn!(error = %e, "subscribe request failed");
                }
            }
            // Ready once subscribed: from here on the broker keeps our messages.
            Ok(Event::Incoming(Packet::SubAck(_))) => connected.store(true, Ordering::Relaxed),
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let recorded = match ingest.process(&p.topic, &p.payload) {
                    Some((device, reads)) => {
                        let (tx, rx) = oneshot::channel();
                        if out
                            .send(StageInput::new(&device, reads, Some(OnRecorded::Channel(tx))))
                            .await
                            .is_err()
                        {
                            break;
                        }
                        Some(rx)
                    }
                    // Rejected and counted: acknowledge it, redelivery would change nothing.
                    None => None,
                };
                if pending_tx.send((p, recorded)).await.is_err() {
                    break;
                }
            }
            Ok(_) => {}
            Err(e) => {
                connected.store(false, Ordering::Relaxed);
                let delay = backoff.next_delay();
                warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "site broker connection lost");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    connected.store(false, Ordering::Relaxed);
    // Unacknowledged messages stay with the broker for the next start.
    drop(pending_tx);
    acker.abort();
}

async fn ack_in_order(client: AsyncClient, mut pending: mpsc::Receiver<(Publish, Option<oneshot::Receiver<bool>>)>) {
    while let Some((publish, recorded)) = pending.recv().await {
        let ok = match recorded {
            None => true,
            Some(rx) => rx.await.unwrap_or(false),
        };
        if !ok {
            // Not recorded: never acknowledge it, nor anything after it (order).
            // The broker redelivers all of it to the next session.
            error!("a commit failed: stopping acknowledgements until the gateway restarts");
            return;
        }
        if let Err(e) = client.ack(&publish).await {
            warn!(error = %e, "ack not sent; the broker will redeliver");
        }
    }
}
