//! One device connection's held PUBACKs. The broker acknowledges a QoS 1 PUBLISH as
//! soon as it has it in memory; the front keeps that PUBACK until ingest has settled
//! the message (its reads committed, or rejected), then releases PUBACKs in the
//! order the device published (MQTT 3.1.1 §4.6). Pure: the front feeds it events and
//! writes what it releases.

use std::collections::VecDeque;
use std::time::Instant;

use crate::mqtt_frame::FrameError;

const PUBACK: u8 = 4;

#[derive(Debug)]
struct Held {
    seq: u64,
    packet_id: u16,
    since: Instant,
    /// `Some(true)`: recorded (or rejected for good); `Some(false)`: its commit failed.
    settled: Option<bool>,
    /// The broker's PUBACK, once it came.
    puback: Option<Vec<u8>>,
}

/// Why a connection must close without acknowledging what it holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HoldError {
    #[error("the reads of publish {packet_id} were not recorded")]
    NotRecorded { packet_id: u16 },
}

#[derive(Debug, Default)]
pub struct HeldPubacks {
    queue: VecDeque<Held>,
}

impl HeldPubacks {
    /// The device sent a QoS 1 PUBLISH (in stream order; `seq` increases).
    pub fn published(&mut self, seq: u64, packet_id: u16, now: Instant) {
        self.queue.push_back(Held {
            seq,
            packet_id,
            since: now,
            settled: None,
            puback: None,
        });
    }

    /// The broker sent `packet` (a whole PUBACK) for `packet_id`. True if a held
    /// publish takes it; false if none waits for it (pass it on). A PUBACK with an
    /// MQTT 5 failure code means the broker refused the message: ingest will never
    /// see it, so it goes to the device in its turn without waiting.
    pub fn broker_acked(&mut self, packet_id: u16, packet: &[u8]) -> bool {
        let Some(h) = self
            .queue
            .iter_mut()
            .find(|h| h.packet_id == packet_id && h.puback.is_none())
        else {
            return false;
        };
        if puback_failed(packet) {
            h.settled = Some(true);
        }
        h.puback = Some(packet.to_vec());
        true
    }

    /// Ingest settled the publish numbered `seq`.
    pub fn settled(&mut self, seq: u64, recorded: bool) {
        if let Ok(i) = self.queue.binary_search_by_key(&seq, |h| h.seq) {
            let h = &mut self.queue[i];
            // A broker refusal stays settled as it was.
            h.settled.get_or_insert(recorded);
        }
    }

    /// Appends to `out` the PUBACKs that may go to the device now, oldest first.
    pub fn release(&mut self, out: &mut Vec<u8>) -> Result<(), HoldError> {
        while let Some(h) = self.queue.front() {
            match (h.settled, &h.puback) {
                (Some(false), _) => {
                    return Err(HoldError::NotRecorded { packet_id: h.packet_id });
                }
                (Some(true), Some(p)) => {
                    out.extend_from_slice(p);
                    self.queue.pop_front();
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Since when the oldest held publish has waited.
    pub fn oldest(&self) -> Option<Instant> {
        self.queue.front().map(|h| h.since)
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// An MQTT 5 PUBACK carries a reason code after the packet id; 0x80 and up are failures.
fn puback_failed(packet: &[u8]) -> bool {
    let body = packet.get(1..).and_then(|b| {
        let len = b.iter().position(|x| x & 0x80 == 0)?;
        b.get(len + 1..)
    });
    body.and_then(|b| b.get(2)).is_some_and(|&code| code >= 0x80)
}

/// Splits the broker's byte stream to a device into whole packets.
#[derive(Debug, Default)]
pub struct PacketSplitter {
    buf: Vec<u8>,
}

/// What `PacketSplitter::feed` found: a PUBACK naming a packet id, or anything else.
#[derive(Debug, PartialEq, Eq)]
pub enum Packet<'a> {
    Puback { packet_id: u16, bytes: &'a [u8] },
    Other(&'a [u8]),
}

impl PacketSplitter {
    /// Takes the next bytes and hands each packet completed by them to `on_packet`,
    /// in order. The broker is our own, but a malformed stream is an error, not a panic.
    pub fn feed(&mut self, bytes: &[u8], on_packet: &mut dyn FnMut(Packet<'_>)) -> Result<(), FrameError> {
        self.buf.extend_from_slice(bytes);
        let mut at = 0;
        while let Some((header, remaining)) = fixed_header(&self.buf[at..])? {
            let end = at + header + remaining;
            if end > self.buf.len() {
                break;
            }
            let packet = &self.buf[at..end];
            let body = &packet[header..];
            match (packet[0] >> 4, body) {
                (PUBACK, [hi, lo, ..]) => on_packet(Packet::Puback {
                    packet_id: u16::from_be_bytes([*hi, *lo]),
                    bytes: packet,
                }),
                _ => on_packet(Packet::Other(packet)),
            }
            at = end;
        }
        self.buf.drain(..at);
        Ok(())
    }
}

/// The length of a fixed header and the remaining length it announces, once whole.
fn fixed_header(b: &[u8]) -> Result<Option<(usize, usize)>, FrameError> {
    let mut value = 0usize;
    for i in 0..4 {
        let Some(&byte) = b.get(1 + i) else { return Ok(None) };
        value |= usize::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(Some((2 + i, value)));
        }
    }
    Err(FrameError::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn puback(id: u16) -> Vec<u8> {
        let [hi, lo] = id.to_be_bytes();
        vec![0x40, 2, hi, lo]
    }

    #[test]
    fn pubacks_go_out_in_publish_order_once_recorded() {
        let now = Instant::now();
        let mut h = HeldPubacks::default();
        for (seq, id) in [(1, 10), (2, 11), (3, 12)] {
            h.published(seq, id, now);
        }
        let mut out = Vec::new();
        assert!(h.broker_acked(11, &puback(11)));
        assert!(h.broker_acked(10, &puback(10)));
        h.settled(2, true);
        h.release(&mut out).expect("ok");
        assert!(out.is_empty(), "the first publish is not recorded yet");
        h.settled(1, true);
        h.release(&mut out).expect("ok");
        assert_eq!(out, [puback(10), puback(11)].concat());
        assert_eq!(h.len(), 1);
        h.settled(3, true);
        out.clear();
        h.release(&mut out).expect("ok");
        assert!(out.is_empty(), "recorded, but the broker has not acknowledged it yet");
        assert!(h.broker_acked(12, &puback(12)));
        h.release(&mut out).expect("ok");
        assert_eq!(out, puback(12));
        assert!(h.is_empty());
        assert!(!h.broker_acked(12, &puback(12)), "nothing held: passed on");
    }

    #[test]
    fn a_failed_commit_closes_instead_of_acknowledging() {
        let mut h = HeldPubacks::default();
        h.published(1, 1, Instant::now());
        assert!(h.broker_acked(1, &puback(1)));
        h.settled(1, false);
        assert_eq!(h.release(&mut Vec::new()), Err(HoldError::NotRecorded { packet_id: 1 }));
    }

    #[test]
    fn a_broker_refusal_is_passed_on_without_waiting_for_ingest() {
        let mut h = HeldPubacks::default();
        h.published(1, 5, Instant::now());
        let refused = vec![0x40, 3, 0, 5, 0x97];
        assert!(h.broker_acked(5, &refused));
        let mut out = Vec::new();
        h.release(&mut out).expect("ok");
        assert_eq!(out, refused);
    }

    #[test]
    fn the_splitter_finds_pubacks_in_any_chunking() {
        let publish = [0x30, 5, 0, 1, b't', b'h', b'i'];
        let stream = [puback(1), publish.to_vec(), vec![0xd0, 0], puback(258)].concat();
        for chunk in 1..stream.len() {
            let mut s = PacketSplitter::default();
            let mut seen = Vec::new();
            for c in stream.chunks(chunk) {
                s.feed(c, &mut |p| {
                    seen.push(match p {
                        Packet::Puback { packet_id, .. } => format!("puback {packet_id}"),
                        Packet::Other(b) => format!("other {}", b.len()),
                    })
                })
                .expect("valid");
            }
            assert_eq!(
                seen,
                ["puback 1", "other 7", "other 2", "puback 258"],
                "chunks of {chunk}"
            );
        }
        let mut s = PacketSplitter::default();
        assert!(s.feed(&[0x40, 0xff, 0xff, 0xff, 0xff], &mut |_| {}).is_err());
    }
}
