//! The generic JSON read format (docs/generic-read-format.md): one read object
//! or an array of them, for devices and integrations that have no vendor format.

use chrono::{DateTime, FixedOffset};
use serde::Deserialize;

use crate::gs1;
use crate::read::{DecodeError, Identifier, IdentifierKind, MAX_IDENTIFIER_LEN, Read};

/// Most reads one payload may carry.
pub const MAX_READS_PER_PAYLOAD: usize = 10_000;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireRead {
    id: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    time: Option<String>,
    #[serde(default)]
    antenna: Option<u16>,
    #[serde(default)]
    rssi: Option<f32>,
    #[serde(default)]
    count: Option<u32>,
}

/// Decodes a generic-format payload into reads. All-or-nothing: one bad read
/// rejects the payload, so a device is never half-recorded without notice.
pub fn decode(payload: &[u8]) -> Result<Vec<Read>, DecodeError> {
    let value: serde_json::Value =
        serde_json::from_slice(payload).map_err(|e| DecodeError::MalformedJson(e.to_string()))?;
    let reads: Vec<WireRead> = match value {
        serde_json::Value::Object(_) => vec![from_value(value)?],
        serde_json::Value::Array(ref items) if items.len() > MAX_READS_PER_PAYLOAD => {
            return Err(DecodeError::TooManyReads {
                count: items.len(),
                limit: MAX_READS_PER_PAYLOAD,
            });
        }
        serde_json::Value::Array(_) => from_value(value)?,
        _ => {
            return Err(DecodeError::InvalidShape(
                "expected a read object or an array of read objects".into(),
            ));
        }
    };
    if reads.is_empty() {
        return Err(DecodeError::EmptyBatch);
    }
    reads
        .into_iter()
        .enumerate()
        .map(|(index, r)| validate(index, r))
        .collect()
}

fn from_value<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, DecodeError> {
    serde_json::from_value(v).map_err(|e| DecodeError::InvalidShape(e.to_string()))
}

fn invalid(index: usize, field: &'static str, problem: impl Into<String>) -> DecodeError {
    DecodeError::InvalidField {
        index,
        field,
        problem: problem.into(),
    }
}

fn validate(index: usize, r: WireRead) -> Result<Read, DecodeError> {
    let id = r.id.trim();
    if id.is_empty() {
        return Err(invalid(index, "id", "is empty"));
    }
    if id.len() > MAX_IDENTIFIER_LEN {
        return Err(invalid(
            index,
            "id",
            format!("is {} bytes, longer than {MAX_IDENTIFIER_LEN}", id.len()),
        ));
    }
    if id.chars().any(|c| c.is_control()) {
        return Err(invalid(index, "id", "contains control characters"));
    }
    let kind = match r.kind.as_deref() {
        None => infer_kind(id),
        Some(k) => parse_kind(k).ok_or_else(|| {
            invalid(
                index,
                "kind",
                format!("`{k}` is not one of sscc, epc, tracking_number, order_number, barcode"),
            )
        })?,
    };
    if kind == IdentifierKind::Sscc && !gs1::is_valid_sscc(id) {
        return Err(invalid(
            index,
            "id",
            format!("`{id}` is not an 18-digit SSCC with a valid check digit"),
        ));
    }
    let time = r
        .time
        .as_deref()
        .map(|t| {
            parse_time(t).ok_or_else(|| invalid(index, "time", format!("`{t}` is not RFC 3339 with a zone offset")))
        })
        .transpose()?;
    if let Some(rssi) = r.rssi.filter(|v| !(-150.0..=20.0).contains(v)) {
        return Err(invalid(index, "rssi", format!("{rssi} dBm is outside -150..=20")));
    }
    if r.antenna == Some(0) {
        return Err(invalid(index, "antenna", "must be 1 or more"));
    }
    let seen_count = r.count.unwrap_or(1);
    if seen_count == 0 {
        return Err(invalid(index, "count", "must be 1 or more"));
    }
    Ok(Read {
        identifier: Identifier {
            kind,
            value: id.to_string(),
        },
        antenna: r.antenna,
        rssi_dbm: r.rssi,
        seen_count,
        time,
    })
}

fn parse_kind(k: &str) -> Option<IdentifierKind> {
    Some(match k {
        "sscc" => IdentifierKind::Sscc,
        "epc" => IdentifierKind::Epc,
        "tracking_number" => IdentifierKind::TrackingNumber,
        "order_number" => IdentifierKind::OrderNumber,
        "barcode" => IdentifierKind::Barcode,
        _ => return None,
    })
}

/// An EPC URN is an EPC, 18 digits with a valid check digit is an SSCC, anything
/// else is a plain barcode until a vendor decoder or the sender says otherwise.
fn infer_kind(id: &str) -> IdentifierKind {
    if id.starts_with("urn:epc:") {
        IdentifierKind::Epc
    } else if gs1::is_valid_sscc(id) {
        IdentifierKind::Sscc
    } else {
        IdentifierKind::Barcode
    }
}

fn parse_time(t: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(t).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_read_with_all_fields() {
        let reads = decode(
            br#"{"id":"106141412345678908","time":"2026-11-21T06:02:11.250+01:00","antenna":3,"rssi":-52.5,"count":4}"#,
        )
        .expect("valid read");
        assert_eq!(reads.len(), 1);
        let r = &reads[0];
        assert_eq!(r.identifier.kind, IdentifierKind::Sscc);
        assert_eq!(r.antenna, Some(3));
        assert_eq!(r.seen_count, 4);
        let t = r.time.expect("time");
        assert_eq!(t.offset().local_minus_utc(), 3600);
        assert_eq!(t.timestamp_millis(), 1_795_237_331_250);
    }

    #[test]
    fn array_of_reads_and_inferred_kinds() {
        let reads = decode(
            br#"[{"id":"urn:epc:id:sgtin:0614141.112345.400"},{"id":"1Z999AA10123456784","kind":"tracking_number"},{"id":"SO-1001"}]"#,
        )
        .expect("valid batch");
        let kinds: Vec<_> = reads.iter().map(|r| r.identifier.kind).collect();
        assert_eq!(
            kinds,
            [
                IdentifierKind::Epc,
                IdentifierKind::TrackingNumber,
                IdentifierKind::Barcode
            ]
        );
        assert!(reads.iter().all(|r| r.time.is_none() && r.seen_count == 1));
    }

    #[test]
    fn rejections_carry_a_reason() {
        let cases: &[(&[u8], &str)] = &[
            (b"{not json", "malformed_json"),
            (b"42", "invalid_shape"),
            (br#"{"id":"x","colour":"red"}"#, "invalid_shape"),
            (b"[]", "empty_batch"),
            (br#"{"id":""}"#, "invalid_field"),
            (br#"{"id":"106141412345678907","kind":"sscc"}"#, "invalid_field"),
            (br#"{"id":"a","time":"yesterday"}"#, "invalid_field"),
            (br#"{"id":"a","time":"2026-11-21T06:02:11"}"#, "invalid_field"),
            (br#"{"id":"a","antenna":0}"#, "invalid_field"),
            (br#"{"id":"a","rssi":999}"#, "invalid_field"),
            (br#"{"id":"a","kind":"pallet"}"#, "invalid_field"),
        ];
        for (payload, reason) in cases {
            let err = decode(payload).expect_err(&String::from_utf8_lossy(payload));
            assert_eq!(err.reason(), *reason, "{}: {err}", String::from_utf8_lossy(payload));
        }
    }

    #[test]
    fn overlong_identifier_is_rejected() {
        let payload = format!(r#"{{"id":"{}"}}"#, "A".repeat(MAX_IDENTIFIER_LEN + 1));
        assert_eq!(
            decode(payload.as_bytes()).expect_err("too long").reason(),
            "invalid_field"
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep; the fuzz targets of the devices issue go further.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        for len in 0..512 {
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    b"{}[]\",:0123456789abcdefidtimekind -.\\u"[(seed % 38) as usize]
                })
                .collect();
            // Whatever it is, it decodes to reads or a reason; never to nothing.
            if let Ok(reads) = decode(&bytes) {
                assert!(!reads.is_empty());
            }
        }
    }
}
