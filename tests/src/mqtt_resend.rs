//! A QoS 1 device that keeps every publish it has not seen acknowledged and resends
//! it (DUP set) each time it reconnects, as MQTT 3.1.1 §4.4 asks of a client with a
//! persistent session. It notes which messages were acknowledged, so a crash test
//! can check that everything a device was told is delivered really was.

use std::collections::{BTreeSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use waymark_gateway::mqtt_frame::encode_remaining_length;

/// What the device is told to do.
pub struct Plan {
    pub client_id: String,
    pub topic: String,
    /// Most publishes awaiting their PUBACK at once.
    pub window: usize,
    /// Pause between two new publishes.
    pub pace: Duration,
}

/// What happened, counted by the device.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Message numbers the gateway acknowledged.
    pub acked: BTreeSet<u64>,
    /// Messages published (numbered from 0).
    pub published: u64,
    /// Publishes sent again after a reconnect.
    pub resent: u64,
    pub connections: u64,
}

struct Pending {
    packet_id: u16,
    message: u64,
    payload: Vec<u8>,
}

/// Publishes `payload(n)` for n = 0, 1, ... until `stop` turns true, then keeps
/// reconnecting (to whatever address `addr` holds then) until every publish is
/// acknowledged. `tally` is kept up to date as it goes.
pub async fn run(
    plan: Plan,
    mut addr: watch::Receiver<SocketAddr>,
    payload: impl Fn(u64) -> Vec<u8>,
    stop: watch::Receiver<bool>,
    tally: Arc<Mutex<Tally>>,
) -> anyhow::Result<()> {
    let mut unacked: VecDeque<Pending> = VecDeque::new();
    let (mut next_message, mut next_id) = (0u64, 1u16);
    loop {
        let target = *addr.borrow_and_update();
        let Ok(mut stream) = connect(target, &plan.client_id).await else {
            // The gateway is restarting: wait for its new address, or try again shortly.
            tokio::time::timeout(Duration::from_millis(50), addr.changed())
                .await
                .ok();
            continue;
        };
        tally.lock().unwrap_or_else(|p| p.into_inner()).connections += 1;
        for p in &unacked {
            stream
                .write_all(&publish(&plan.topic, p.packet_id, &p.payload, true))
                .await
                .ok();
        }
        tally.lock().unwrap_or_else(|p| p.into_inner()).resent += unacked.len() as u64;
        let mut buf = vec![0u8; 4096];
        let mut inbox = Vec::new();
        let mut tick = tokio::time::interval(plan.pace);
        loop {
            let stopping = *stop.borrow();
            if stopping && unacked.is_empty() {
                return Ok(());
            }
            let may_publish = !stopping && unacked.len() < plan.window;
            tokio::select! {
                n = stream.read(&mut buf) => {
                    let Ok(n @ 1..) = n else { break };
                    inbox.extend_from_slice(&buf[..n]);
                    for id in take_pubacks(&mut inbox)? {
                        if let Some(i) = unacked.iter().position(|p| p.packet_id == id) {
                            let Some(done) = unacked.remove(i) else { continue };
                            tally.lock().unwrap_or_else(|p| p.into_inner()).acked.insert(done.message);
                        }
                    }
                }
                _ = tick.tick(), if may_publish => {
                    let p = Pending { packet_id: next_id, message: next_message, payload: payload(next_message) };
                    next_id = next_id.checked_add(1).unwrap_or(1);
                    next_message += 1;
                    tally.lock().unwrap_or_else(|p| p.into_inner()).published = next_message;
                    let sent = stream.write_all(&publish(&plan.topic, p.packet_id, &p.payload, false)).await;
                    unacked.push_back(p);
                    if sent.is_err() {
                        break;
                    }
                }
                // Wakes the loop when the test says stop (then only acks matter).
                _ = tokio::time::sleep(Duration::from_millis(20)), if !may_publish => {}
            }
        }
    }
}

async fn connect(addr: SocketAddr, client_id: &str) -> anyhow::Result<TcpStream> {
    let mut stream = TcpStream::connect(addr).await?;
    let mut body = Vec::new();
    field(&mut body, b"MQTT");
    // MQTT 3.1.1, no clean session (flags 0), keep alive 30 s.
    body.extend_from_slice(&[4, 0, 0, 30]);
    field(&mut body, client_id.as_bytes());
    stream.write_all(&packet(0x10, body)).await?;
    let mut connack = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(10), stream.read_exact(&mut connack)).await??;
    anyhow::ensure!(
        connack[0] == 0x20 && connack[3] == 0,
        "connection refused: {connack:02x?}"
    );
    Ok(stream)
}

fn publish(topic: &str, packet_id: u16, payload: &[u8], dup: bool) -> Vec<u8> {
    let mut body = Vec::new();
    field(&mut body, topic.as_bytes());
    body.extend_from_slice(&packet_id.to_be_bytes());
    body.extend_from_slice(payload);
    packet(if dup { 0x3a } else { 0x32 }, body)
}

/// Removes the whole packets at the front of `inbox`; returns the PUBACKs' ids.
fn take_pubacks(inbox: &mut Vec<u8>) -> anyhow::Result<Vec<u16>> {
    let mut ids = Vec::new();
    let mut at = 0;
    loop {
        let rest = &inbox[at..];
        let (Some(&kind), Some(&len)) = (rest.first(), rest.get(1)) else {
            break;
        };
        anyhow::ensure!(len & 0x80 == 0, "unexpected long packet from the gateway");
        let end = 2 + usize::from(len);
        if rest.len() < end {
            break;
        }
        if kind >> 4 == 4 && len >= 2 {
            ids.push(u16::from_be_bytes([rest[2], rest[3]]));
        }
        at += end;
    }
    inbox.drain(..at);
    Ok(ids)
}

fn field(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u16).to_be_bytes());
    out.extend_from_slice(b);
}

fn packet(first: u8, body: Vec<u8>) -> Vec<u8> {
    let mut out = vec![first];
    encode_remaining_length(body.len(), &mut out);
    out.extend(body);
    out
}
