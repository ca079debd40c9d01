//! Key layout of the central store. Site ids never contain NUL (they are
//! validated), so NUL separates a site from what follows it; numbers are big-endian.

/// `e <site> 0 <first sequence>`: a chunk of the site's events (`waymark_proto::chunk`).
pub const EVENT: u8 = b'e';
/// `i <site> 0 <event time> <event id>`: the id index, in runs (see `ids`).
pub const EVENT_ID: u8 = b'i';
pub const HIGH_WATER: u8 = b'h';
/// Layout version of the `events` tree, absent in the first layout.
pub const FORMAT: &[u8] = b"m/format";
/// Events in chunks, id index in runs.
pub const FORMAT_CHUNKS: u64 = 2;
pub const TIMELINE: u8 = b't';

pub const ORDER: u8 = b'o';
pub const PARCEL_ID: u8 = b'p';
pub const REVISION: u8 = b'r';
pub const REVISION_COUNTER: u8 = b'c';

pub fn join(prefix: u8, parts: &[&[u8]]) -> Vec<u8> {
    let mut k = vec![prefix];
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            k.push(0);
        }
        k.extend_from_slice(p);
    }
    k
}

pub fn site_seq(prefix: u8, site: &str, seq: u64) -> Vec<u8> {
    join(prefix, &[site.as_bytes(), &seq.to_be_bytes()])
}

/// The sequence at the end of an `<prefix> <site> 0 <seq>` key.
pub fn tail_u64(key: &[u8]) -> Option<u64> {
    decode_u64(key.get(key.len().checked_sub(8)?..)?)
}

pub fn decode_u64(v: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(v.try_into().ok()?))
}

/// The (site, seq) tail of a timeline key `t <identifier> 0 <site> 0 <seq>`.
pub fn timeline_tail(key: &[u8]) -> Option<(String, u64)> {
    let (rest, seq) = key.split_at_checked(key.len().checked_sub(8)?)?;
    let rest = rest.strip_suffix(&[0])?;
    let site_start = rest.iter().rposition(|&b| b == 0)? + 1;
    Some((String::from_utf8(rest[site_start..].to_vec()).ok()?, decode_u64(seq)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeline_tail_round_trips() {
        let k = join(TIMELINE, &[b"106141412345678908", b"dc-1", &42u64.to_be_bytes()]);
        assert_eq!(timeline_tail(&k), Some(("dc-1".to_string(), 42)));
    }

    #[test]
    fn a_chunk_key_ends_in_its_sequence() {
        assert_eq!(tail_u64(&site_seq(EVENT, "dc-1", 42)), Some(42));
    }
}
