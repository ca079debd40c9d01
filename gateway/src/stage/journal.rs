//! The read journal's entry: one payload's decoded reads, the device and the
//! gateway's clock at arrival. Written for every payload on the ingest path, so
//! it is a compact binary layout; entries journaled as JSON by earlier versions
//! are still read.
//!
//! Layout (little-endian): version byte `1`, device (u32 length + UTF-8),
//! received (i64 seconds, u32 nanoseconds, i32 offset seconds), u32 read count,
//! then per read: kind (u8), flags (u8: 1 antenna, 2 RSSI, 4 time), identifier
//! (u32 length + UTF-8), seen count (u32), then the antenna (u16), RSSI (f32)
//! and time (i64 seconds, u32 nanoseconds, i32 offset seconds) its flags name.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;
use waymark_devices::{Identifier, IdentifierKind, Read};

const VERSION: u8 = 1;
const HAS_ANTENNA: u8 = 1;
const HAS_RSSI: u8 = 2;
const HAS_TIME: u8 = 4;
const KINDS: [IdentifierKind; 5] = [
    IdentifierKind::Sscc,
    IdentifierKind::Epc,
    IdentifierKind::TrackingNumber,
    IdentifierKind::OrderNumber,
    IdentifierKind::Barcode,
];

/// A journal entry as read back.
#[derive(Debug, PartialEq)]
pub(super) struct Entry {
    pub device: String,
    pub received: DateTime<FixedOffset>,
    pub reads: Vec<Read>,
}

pub(super) fn encode(device: &str, received: DateTime<FixedOffset>, reads: &[Read]) -> Vec<u8> {
    let mut out =
        Vec::with_capacity(32 + device.len() + reads.iter().map(|r| 40 + r.identifier.value.len()).sum::<usize>());
    out.push(VERSION);
    put_str(&mut out, device);
    put_time(&mut out, received);
    out.extend_from_slice(&(reads.len() as u32).to_le_bytes());
    for r in reads {
        let kind = KINDS.iter().position(|k| *k == r.identifier.kind).unwrap_or(0);
        out.push(kind as u8);
        let flags = [
            (r.antenna.is_some(), HAS_ANTENNA),
            (r.rssi_dbm.is_some(), HAS_RSSI),
            (r.time.is_some(), HAS_TIME),
        ]
        .iter()
        .filter(|(set, _)| *set)
        .fold(0, |acc, (_, bit)| acc | bit);
        out.push(flags);
        put_str(&mut out, &r.identifier.value);
        out.extend_from_slice(&r.seen_count.to_le_bytes());
        if let Some(a) = r.antenna {
            out.extend_from_slice(&a.to_le_bytes());
        }
        if let Some(rssi) = r.rssi_dbm {
            out.extend_from_slice(&rssi.to_le_bytes());
        }
        if let Some(t) = r.time {
            put_time(&mut out, t);
        }
    }
    out
}

/// `None` for bytes that are not an entry (cut short, trailing bytes, an
/// unknown version, a time out of range).
pub(super) fn decode(bytes: &[u8]) -> Option<Entry> {
    match bytes.first()? {
        b'{' => decode_json(bytes),
        &VERSION => {
            let mut c = Cursor(&bytes[1..]);
            let device = c.str()?;
            let received = c.time()?;
            let n = c.u32()? as usize;
            // Each read takes at least 10 bytes: a count beyond that is corrupt.
            let mut reads = Vec::with_capacity(n.min(c.0.len() / 10));
            for _ in 0..n {
                let kind = *KINDS.get(c.u8()? as usize)?;
                let flags = c.u8()?;
                let value = c.str()?;
                let seen_count = c.u32()?;
                let antenna = (flags & HAS_ANTENNA != 0)
                    .then(|| c.take::<2>().map(u16::from_le_bytes))
                    .flatten();
                let rssi_dbm = (flags & HAS_RSSI != 0)
                    .then(|| c.take::<4>().map(f32::from_le_bytes))
                    .flatten();
                let time = (flags & HAS_TIME != 0).then(|| c.time()).flatten();
                if (flags & HAS_ANTENNA != 0) != antenna.is_some()
                    || (flags & HAS_RSSI != 0) != rssi_dbm.is_some()
                    || (flags & HAS_TIME != 0) != time.is_some()
                {
                    return None;
                }
                reads.push(Read {
                    identifier: Identifier { kind, value },
                    antenna,
                    rssi_dbm,
                    seen_count,
                    time,
                });
            }
            c.0.is_empty().then_some(Entry {
                device,
                received,
                reads,
            })
        }
        _ => None,
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_time(out: &mut Vec<u8>, t: DateTime<FixedOffset>) {
    out.extend_from_slice(&t.timestamp().to_le_bytes());
    out.extend_from_slice(&t.timestamp_subsec_nanos().to_le_bytes());
    out.extend_from_slice(&t.offset().local_minus_utc().to_le_bytes());
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|[b]| b)
    }

    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_le_bytes)
    }

    fn str(&mut self) -> Option<String> {
        let len = self.u32()? as usize;
        let (s, rest) = self.0.split_at_checked(len)?;
        self.0 = rest;
        String::from_utf8(s.to_vec()).ok()
    }

    fn time(&mut self) -> Option<DateTime<FixedOffset>> {
        let secs = i64::from_le_bytes(self.take()?);
        let nanos = u32::from_le_bytes(self.take()?);
        let offset = FixedOffset::east_opt(i32::from_le_bytes(self.take()?))?;
        DateTime::from_timestamp(secs, nanos).map(|t| t.with_timezone(&offset))
    }
}

/// The JSON entries of earlier versions.
#[derive(Deserialize)]
struct JsonEntry {
    device: String,
    received_ms: i64,
    offset_minutes: i32,
    reads: Vec<JsonRead>,
}

#[derive(Deserialize)]
struct JsonRead {
    kind: String,
    id: String,
    #[serde(default)]
    antenna: Option<u16>,
    #[serde(default)]
    rssi: Option<f32>,
    count: u32,
    #[serde(default)]
    t: Option<(i64, i32)>,
}

fn decode_json(bytes: &[u8]) -> Option<Entry> {
    let e: JsonEntry = serde_json::from_slice(bytes).ok()?;
    let at = |ms: i64, offset_minutes: i32| {
        let offset = FixedOffset::east_opt(offset_minutes.checked_mul(60)?)?;
        DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&offset))
    };
    Some(Entry {
        received: at(e.received_ms, e.offset_minutes)?,
        device: e.device,
        reads: e
            .reads
            .into_iter()
            .filter_map(|r| {
                Some(Read {
                    identifier: Identifier {
                        kind: *KINDS.iter().find(|k| k.as_str() == r.kind)?,
                        value: r.id,
                    },
                    antenna: r.antenna,
                    rssi_dbm: r.rssi,
                    seen_count: r.count,
                    time: r.t.and_then(|(ms, off)| at(ms, off)),
                })
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn time(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).expect("time")
    }

    fn read(kind: IdentifierKind, value: &str) -> Read {
        Read {
            identifier: Identifier {
                kind,
                value: value.into(),
            },
            antenna: None,
            rssi_dbm: None,
            seen_count: 1,
            time: None,
        }
    }

    #[test]
    fn an_entry_reads_back_as_it_was_written() {
        let received = time("2026-11-21T06:02:11.123456789+01:00");
        let mut tag = read(IdentifierKind::Epc, "urn:epc:id:sscc:0614141.1234567890");
        tag.antenna = Some(3);
        tag.rssi_dbm = Some(-61.5);
        tag.seen_count = 14;
        tag.time = Some(time("2026-11-21T05:02:11.250-04:30"));
        let label = read(IdentifierKind::Sscc, "106141412345678908");
        let reads = vec![tag, label];
        let bytes = encode("door-4", received, &reads);
        let entry = decode(&bytes).expect("entry");
        assert_eq!(
            entry,
            Entry {
                device: "door-4".into(),
                received,
                reads
            }
        );
        assert_eq!(entry.received.offset().local_minus_utc(), 3600, "the offset is kept");
        assert!(decode(&bytes[..bytes.len() - 1]).is_none(), "cut short");
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_none(), "trailing bytes");
    }

    #[test]
    fn entries_journaled_as_json_by_earlier_versions_still_read() {
        let old = br#"{"device":"door-4","received_ms":1795237331250,"offset_minutes":60,
            "reads":[{"kind":"epc","id":"urn:epc:id:sscc:0614141.1234567890","antenna":2,"rssi":-52.5,"count":3,"t":[1795237331000,60]},
                     {"kind":"sscc","id":"106141412345678908","count":1}]}"#;
        let entry = decode(old).expect("entry");
        assert_eq!(entry.device, "door-4");
        assert_eq!(entry.received, time("2026-11-21T06:02:11.250+01:00"));
        assert_eq!(entry.reads.len(), 2);
        assert_eq!(entry.reads[0].time, Some(time("2026-11-21T06:02:11+01:00")));
        assert_eq!((entry.reads[0].antenna, entry.reads[0].seen_count), (Some(2), 3));
        assert_eq!(entry.reads[1].identifier.kind, IdentifierKind::Sscc);
    }

    proptest! {
        #[test]
        fn any_bytes_decode_without_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode(&bytes);
        }

        #[test]
        fn edited_entries_decode_without_panic(
            edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        ) {
            let mut tag = read(IdentifierKind::Epc, "urn:epc:id:sgtin:0614141.812345.6789");
            tag.time = Some(time("2026-11-21T06:02:11.250+01:00"));
            tag.antenna = Some(1);
            let mut bytes = encode("door-1", time("2026-11-21T06:02:11Z"), &[tag]);
            for (at, b) in edits {
                let i = at.index(bytes.len());
                bytes[i] = b;
            }
            let _ = decode(&bytes);
        }
    }
}
