//! Key layout. The `log` tree holds event chunks, their id index and counters
//! under distinct one-byte prefixes, so one sled batch updates all of them
//! atomically. Numbers are big-endian so that keys sort by value.

/// A run of events (`waymark_proto::chunk`) under its first sequence.
pub const CHUNK: u8 = b'c';
/// (event time, event id) -> sequence: the dedupe index.
pub const EVENT_ID: u8 = b'd';
/// Layout version; absent in stores written before chunks (format 1).
pub const META_FORMAT: &[u8] = b"m/format";
pub const FORMAT_CHUNKS: u64 = 2;
/// Format 1: one key per event and an id index keyed by the id alone.
pub const LEGACY_EVENT: u8 = b'e';
pub const LEGACY_EVENT_ID: u8 = b'i';
/// Sequences of milestone and exception events: the replication priority lane.
pub const PRIORITY: u8 = b'p';
pub const META_LAST_SEQ: &[u8] = b"m/last_seq";
pub const META_ACKED: &[u8] = b"m/acked_seq";
pub const META_LOG_BYTES: &[u8] = b"m/log_bytes";
pub const JOURNAL: u8 = b'j';
pub const META_ENGINE: &[u8] = b"m/engine";
pub const SNAPSHOT_CHUNK: u8 = b's';

pub const ORDER: u8 = b'o';
pub const IDENTIFIER: u8 = b'x';
pub const META_DOWNLINK_CURSOR: &[u8] = b"m/downlink_cursor";
/// Identifier of a cancelled parcel -> its order, parcel and when it was cancelled.
pub const CANCELLED: u8 = b'k';
/// (cancelled at, identifier) -> nothing: the cancelled identifiers in retention order.
pub const CANCELLED_AT: u8 = b't';

pub fn chunk(seq: u64) -> [u8; 9] {
    let mut k = [CHUNK; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn priority(seq: u64) -> [u8; 9] {
    let mut k = [PRIORITY; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn journal(seq: u64) -> [u8; 9] {
    let mut k = [JOURNAL; 9];
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

pub fn snapshot_chunk(generation: u64, index: u32) -> [u8; 13] {
    let mut k = [SNAPSHOT_CHUNK; 13];
    k[1..9].copy_from_slice(&generation.to_be_bytes());
    k[9..].copy_from_slice(&index.to_be_bytes());
    k
}

/// The id index key of an event (see `waymark_proto::id_runs`).
pub fn event_id(event_time_ms: i64, id: &str) -> Vec<u8> {
    waymark_proto::id_runs::key(&[EVENT_ID], event_time_ms, id)
}

pub fn legacy_event_id(id: &str) -> Vec<u8> {
    prefixed(LEGACY_EVENT_ID, id)
}

pub fn order(order_number: &str) -> Vec<u8> {
    prefixed(ORDER, order_number)
}

pub fn identifier(value: &str) -> Vec<u8> {
    prefixed(IDENTIFIER, value)
}

pub fn cancelled(value: &str) -> Vec<u8> {
    prefixed(CANCELLED, value)
}

pub fn cancelled_at(at_ms: i64, value: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(9 + value.len());
    k.push(CANCELLED_AT);
    k.extend_from_slice(&sortable(at_ms).to_be_bytes());
    k.extend_from_slice(value.as_bytes());
    k
}

/// The `cancelled_at` keys of everything cancelled before `at_ms` sort below this.
pub fn cancelled_at_bound(at_ms: i64) -> [u8; 9] {
    let mut k = [CANCELLED_AT; 9];
    k[1..].copy_from_slice(&sortable(at_ms).to_be_bytes());
    k
}

/// Big-endian bytes of this sort like the signed value.
fn sortable(v: i64) -> u64 {
    (v as u64) ^ (1 << 63)
}

fn prefixed(prefix: u8, s: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(1 + s.len());
    k.push(prefix);
    k.extend_from_slice(s.as_bytes());
    k
}

pub fn decode_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}
