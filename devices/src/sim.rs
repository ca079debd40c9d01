//! Payload builders for simulated devices: the demo, tests and benchmarks publish
//! what these return, and the decoders must read it back exactly.

use chrono::{DateTime, FixedOffset, SecondsFormat};
use serde_json::json;

use crate::read::Read;

/// Encodes reads in the generic JSON format (an array, even for one read).
pub fn generic_payload(reads: &[Read]) -> Vec<u8> {
    let items: Vec<_> = reads
        .iter()
        .map(|r| {
            let mut o = json!({ "id": r.identifier.value, "kind": r.identifier.kind.as_str() });
            if let Some(t) = r.time {
                o["time"] = json!(format_time(t));
            }
            if let Some(a) = r.antenna {
                o["antenna"] = json!(a);
            }
            if let Some(rssi) = r.rssi_dbm {
                o["rssi"] = json!(rssi);
            }
            if r.seen_count != 1 {
                o["count"] = json!(r.seen_count);
            }
            o
        })
        .collect();
    serde_json::to_vec(&items).unwrap_or_default()
}

fn format_time(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generic;
    use crate::read::{Identifier, IdentifierKind};

    #[test]
    fn generic_round_trip() {
        let t = DateTime::parse_from_rfc3339("2026-11-21T06:02:11.250-05:00").expect("time");
        let reads = vec![
            Read {
                identifier: Identifier {
                    kind: IdentifierKind::Sscc,
                    value: "106141412345678908".into(),
                },
                antenna: Some(2),
                rssi_dbm: Some(-61.5),
                seen_count: 7,
                time: Some(t),
            },
            Read {
                identifier: Identifier {
                    kind: IdentifierKind::TrackingNumber,
                    value: "1Z999AA10123456784".into(),
                },
                antenna: None,
                rssi_dbm: None,
                seen_count: 1,
                time: None,
            },
        ];
        assert_eq!(generic::decode(&generic_payload(&reads)).expect("decodes"), reads);
    }
}
