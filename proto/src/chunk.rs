//! Event chunks: runs of consecutive events packed back to back, each one
//! length-delimited, stored under one key.
//!
//! Both stores keep events this way rather than one key per event: sled copies a
//! whole leaf on every insert, so one key per ~4 KiB of events costs a small
//! fraction of the CPU and memory of one key per event (see docs/BENCHMARKS.md).

use std::ops::Range;

use prost::Message;

use crate::v1::Event;

/// Payload a chunk is closed at. sled splits a leaf past 16 entries and writes a
/// page over 128 KiB to a blob file it never syncs; 17 chunks of this size stay
/// well below that.
pub const CHUNK_TARGET_BYTES: usize = 4096;

/// One chunk of a run of events: the events at `events` of the slice given to
/// [`chunks`], with consecutive sequences starting at `first_sequence`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    pub first_sequence: u64,
    pub last_sequence: u64,
    pub events: Range<usize>,
    pub bytes: Vec<u8>,
}

/// Packs `events` (ascending sequences) into chunks of about `target_bytes`. A
/// chunk never spans a hole in the sequences, so the chunk holding a sequence is
/// always the one with the greatest first sequence at or below it.
pub fn chunks(events: &[Event], target_bytes: usize) -> Vec<Chunk> {
    let mut out: Vec<Chunk> = Vec::new();
    for (i, e) in events.iter().enumerate() {
        let len = e.encoded_len();
        let framed = len + prost::length_delimiter_len(len);
        let extend = out.last().is_some_and(|c| {
            c.last_sequence.checked_add(1) == Some(e.sequence) && c.bytes.len() + framed <= target_bytes
        });
        if !extend {
            out.push(Chunk {
                first_sequence: e.sequence,
                last_sequence: e.sequence,
                events: i..i,
                bytes: Vec::with_capacity(target_bytes.max(framed)),
            });
        }
        let Some(c) = out.last_mut() else {
            continue;
        };
        // Writing into a Vec cannot run out of room.
        e.encode_length_delimited(&mut c.bytes)
            .unwrap_or_else(|_| unreachable!("a Vec grows as needed"));
        c.last_sequence = e.sequence;
        c.events.end = i + 1;
    }
    out
}

/// The events of a chunk, in order.
pub fn decode(mut bytes: &[u8]) -> Result<Vec<Event>, prost::DecodeError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        out.push(Event::decode_length_delimited(&mut bytes)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(seq: u64, pad: usize) -> Event {
        Event {
            sequence: seq,
            event_id: format!("{seq:032x}"),
            read_point: "x".repeat(pad),
            ..Event::default()
        }
    }

    #[test]
    fn a_run_packs_into_chunks_that_decode_to_the_same_events() {
        let events: Vec<Event> = (1..=100).map(|s| event(s, 100)).collect();
        let chunks = chunks(&events, 1024);
        assert!(chunks.len() > 5, "{} chunks", chunks.len());
        let mut back = Vec::new();
        for c in &chunks {
            assert!(c.bytes.len() <= 1024);
            let decoded = decode(&c.bytes).expect("decode");
            assert_eq!(decoded, events[c.events.clone()]);
            assert_eq!(c.first_sequence, decoded[0].sequence);
            assert_eq!(c.last_sequence, decoded[decoded.len() - 1].sequence);
            back.extend(decoded);
        }
        assert_eq!(back, events);
    }

    #[test]
    fn a_hole_in_the_sequences_starts_a_new_chunk() {
        let events = vec![event(1, 0), event(2, 0), event(4, 0), event(5, 0)];
        let got: Vec<_> = chunks(&events, 4096)
            .iter()
            .map(|c| (c.first_sequence, c.last_sequence, c.events.clone()))
            .collect();
        assert_eq!(got, vec![(1, 2, 0..2), (4, 5, 2..4)]);
    }

    #[test]
    fn an_event_larger_than_the_target_gets_a_chunk_of_its_own() {
        let events = vec![event(1, 10), event(2, 5000), event(3, 10)];
        let got: Vec<_> = chunks(&events, 4096).iter().map(|c| c.events.clone()).collect();
        assert_eq!(got, vec![0..1, 1..2, 2..3]);
    }

    #[test]
    fn a_truncated_chunk_is_an_error_not_a_panic() {
        let c = chunks(&[event(1, 50), event(2, 50)], 4096).remove(0);
        assert!(decode(&c.bytes[..c.bytes.len() - 3]).is_err());
    }
}
