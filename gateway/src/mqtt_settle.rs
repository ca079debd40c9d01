//! End-to-end QoS 1 in embedded-broker mode: which device PUBLISH a commit settles.
//!
//! The front forwards a device's QoS 1 PUBLISH to rumqttd and holds the broker's
//! PUBACK; ingest later takes the message off the broker's link, and once the
//! recorder has committed its reads (or ingest rejected it, which a resend would not
//! change) the PUBACK may go to the device. The two sides meet here by the
//! message's content: a [`PublishKey`] hashes its topic and payload, the front
//! `expect`s it before forwarding, ingest `settle`s it. Identical messages are
//! interchangeable: whichever copy is committed first, the reads of both are
//! recorded, so a settle releases the oldest live waiter for that content.

use std::collections::{HashMap, VecDeque};
use std::hash::{DefaultHasher, Hasher};
use std::sync::Mutex;

use tokio::sync::mpsc;

/// A message's topic and payload, hashed (64 bits: a collision between two
/// messages in flight at once is not a practical concern).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublishKey(u64);

/// [`PublishKey`] computed over a payload that arrives in pieces.
#[derive(Debug, Clone)]
pub struct KeyDigest(DefaultHasher);

impl KeyDigest {
    pub fn new(topic: &[u8]) -> Self {
        let mut h = DefaultHasher::new();
        h.write(&(topic.len() as u64).to_le_bytes());
        h.write(topic);
        Self(h)
    }

    /// The next bytes of the payload; any split gives the same key.
    pub fn feed(&mut self, payload: &[u8]) {
        self.0.write(payload);
    }

    pub fn finish(self) -> PublishKey {
        PublishKey(self.0.finish())
    }
}

impl PublishKey {
    pub fn of(topic: &[u8], payload: &[u8]) -> Self {
        let mut d = KeyDigest::new(topic);
        d.feed(payload);
        d.finish()
    }
}

/// Where a settle goes: a device connection's result queue, and which of its
/// held publishes it settles.
#[derive(Debug)]
pub struct Waiter {
    pub results: mpsc::UnboundedSender<(u64, bool)>,
    pub seq: u64,
}

/// How many registrations between two sweeps for waiters of closed connections
/// (messages the broker never delivered, or whose device went away).
const SWEEP_EVERY: u64 = 4096;

/// The publishes forwarded and not yet settled, shared by the front and ingest.
#[derive(Debug, Default)]
pub struct Settlements {
    waiting: Mutex<Waiting>,
}

#[derive(Debug, Default)]
struct Waiting {
    by_key: HashMap<PublishKey, VecDeque<Waiter>>,
    expected: u64,
}

impl Settlements {
    /// Registers a publish the front is about to forward.
    pub fn expect(&self, key: PublishKey, waiter: Waiter) {
        let mut w = self.lock();
        w.expected += 1;
        if w.expected.is_multiple_of(SWEEP_EVERY) {
            w.by_key.retain(|_, queue| {
                queue.retain(|w| !w.results.is_closed());
                !queue.is_empty()
            });
        }
        w.by_key.entry(key).or_default().push_back(waiter);
    }

    /// A message with this content was committed (`true`), rejected by ingest
    /// (`true`: resending would not change that), or its commit failed (`false`).
    /// Tells the oldest waiter whose connection is still open. A message nobody
    /// waits for (QoS 0, or its device went away) settles nothing.
    pub fn settle(&self, key: PublishKey, recorded: bool) {
        let mut waiting = self.lock();
        let Some(queue) = waiting.by_key.get_mut(&key) else {
            return;
        };
        while let Some(w) = queue.pop_front() {
            if w.results.send((w.seq, recorded)).is_ok() {
                break;
            }
        }
        if queue.is_empty() {
            waiting.by_key.remove(&key);
        }
    }

    /// Publishes forwarded and not yet settled (including those of connections
    /// closed since the last sweep).
    pub fn len(&self) -> usize {
        self.lock().by_key.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        // Every update leaves the map consistent, so a poisoned lock is still usable.
        self.waiting.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_does_not_depend_on_how_the_payload_arrives() {
        let payload = b"[{\"id\":\"106141412345678908\"}]";
        let whole = PublishKey::of(b"waymark/dc/pack-1/reads", payload);
        for split in 0..payload.len() {
            let mut d = KeyDigest::new(b"waymark/dc/pack-1/reads");
            d.feed(&payload[..split]);
            d.feed(&payload[split..]);
            assert_eq!(d.finish(), whole);
        }
        assert_ne!(PublishKey::of(b"waymark/dc/pack-2/reads", payload), whole);
        // The topic's length is part of the key: bytes cannot move between the two.
        assert_ne!(PublishKey::of(b"ab", b"c"), PublishKey::of(b"a", b"bc"));
    }

    #[test]
    fn a_settle_reaches_the_oldest_open_waiter_once() {
        let s = Settlements::default();
        let key = PublishKey::of(b"t", b"p");
        let (gone_tx, gone_rx) = mpsc::unbounded_channel();
        let (tx, mut rx) = mpsc::unbounded_channel();
        s.expect(
            key,
            Waiter {
                results: gone_tx,
                seq: 1,
            },
        );
        s.expect(
            key,
            Waiter {
                results: tx.clone(),
                seq: 7,
            },
        );
        s.expect(key, Waiter { results: tx, seq: 8 });
        drop(gone_rx); // that device disconnected
        s.settle(key, true);
        assert_eq!(rx.try_recv().ok(), Some((7, true)));
        assert!(rx.try_recv().is_err(), "one settle, one waiter");
        s.settle(PublishKey::of(b"t", b"other"), true);
        assert!(rx.try_recv().is_err(), "another message settles nothing here");
        s.settle(key, false);
        assert_eq!(rx.try_recv().ok(), Some((8, false)));
        assert!(s.is_empty());
    }

    #[test]
    fn waiters_of_closed_connections_are_swept() {
        let s = Settlements::default();
        let (tx, rx) = mpsc::unbounded_channel();
        for seq in 0..SWEEP_EVERY - 1 {
            let key = PublishKey::of(b"t", &seq.to_le_bytes());
            s.expect(
                key,
                Waiter {
                    results: tx.clone(),
                    seq,
                },
            );
        }
        drop(rx); // the device went away; the broker never delivered any of them
        let (live, _keep) = mpsc::unbounded_channel();
        s.expect(PublishKey::of(b"t", b"live"), Waiter { results: live, seq: 0 });
        assert_eq!(s.len(), 1);
    }
}
