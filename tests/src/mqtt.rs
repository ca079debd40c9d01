//! A real MQTT client over TCP (rumqttc) for tests and the demo: publishes with
//! QoS 1 and keeps its event loop polled, reconnecting when the broker restarts.

use std::net::SocketAddr;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};
use tokio::sync::watch;

pub struct Publisher {
    client: AsyncClient,
    acks: watch::Receiver<u64>,
    task: tokio::task::JoinHandle<()>,
}

impl Publisher {
    /// An anonymous client (the gateway must allow anonymous devices).
    pub fn connect(addr: SocketAddr, client_id: &str) -> Self {
        Self::connect_with(addr, client_id, None)
    }

    /// Logs in as `(device id, password)` when given.
    pub fn connect_with(addr: SocketAddr, client_id: &str, login: Option<(&str, &str)>) -> Self {
        let mut opts = MqttOptions::new(client_id, addr.ip().to_string(), addr.port());
        if let Some((user, password)) = login {
            opts.set_credentials(user, password);
        }
        opts.set_keep_alive(Duration::from_secs(5));
        opts.set_max_packet_size(1 << 20, 1 << 20);
        let (client, mut eventloop) = AsyncClient::new(opts, 1000);
        let (ack_tx, acks) = watch::channel(0u64);
        let task = tokio::spawn(async move {
            loop {
                match eventloop.poll().await {
                    Ok(Event::Incoming(Packet::PubAck(_))) => ack_tx.send_modify(|n| *n += 1),
                    Ok(_) => {}
                    // The broker went away (a restart in the test): retry shortly.
                    Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
                }
            }
        });
        Self { client, acks, task }
    }

    pub async fn publish(&self, topic: &str, payload: Vec<u8>) -> anyhow::Result<()> {
        self.client.publish(topic, QoS::AtLeastOnce, false, payload).await?;
        Ok(())
    }

    /// Waits until `n` publishes in total have been acknowledged by the broker.
    pub async fn wait_acked(&mut self, n: u64, timeout: Duration) -> anyhow::Result<()> {
        let reached = tokio::time::timeout(timeout, self.acks.wait_for(|&a| a >= n))
            .await
            .map(|r| r.is_ok())
            .unwrap_or(false);
        if !reached {
            anyhow::bail!("only {} of {n} publishes acknowledged", *self.acks.borrow());
        }
        Ok(())
    }
}

/// Publishes reads of `count` distinct SGTIN tags numbered from `from`, `per_payload`
/// to a payload, all read at the same fixed time (generic format).
pub async fn publish_tag_reads(
    p: &Publisher,
    topic: &str,
    from: usize,
    count: usize,
    per_payload: usize,
) -> anyhow::Result<()> {
    for start in (from..from + count).step_by(per_payload.max(1)) {
        let reads: Vec<serde_json::Value> = (start..(start + per_payload).min(from + count))
            .map(|k| {
                serde_json::json!({ "id": format!("urn:epc:id:sgtin:0614141.812345.{k}"), "time": "2026-11-21T06:00:00Z" })
            })
            .collect();
        p.publish(topic, serde_json::to_vec(&reads)?).await?;
    }
    Ok(())
}

impl Drop for Publisher {
    fn drop(&mut self) {
        self.task.abort();
    }
}
