//! Simulated RFID portals: Zebra IoT Connector batches and Impinj IoT interface event
//! streams built from reads, and the EPC encoders behind them.

use serde_json::{Value, json};

use crate::epc::{self, Epc, EpcError, EpcScheme};
use crate::impinj::base64;
use crate::read::{IdentifierKind, Read};
use crate::timestamp;
use crate::zebra::ZebraMode;

/// Why reads could not be encoded for a simulated device.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SimError {
    #[error("read {index}: {source}")]
    NotAnEpc { index: usize, source: EpcError },
}

/// SGTIN-96 hex for a company prefix, item reference (with indicator digit) and serial.
pub fn sgtin96_hex(filter: u8, company_prefix: &str, item_reference: &str, serial: u64) -> Result<String, EpcError> {
    Ok(Epc::new(EpcScheme::Sgtin96, filter, company_prefix, item_reference, serial)?.to_hex())
}

/// SSCC-96 hex for a company prefix and serial reference (with extension digit).
pub fn sscc96_hex(filter: u8, company_prefix: &str, serial_reference: &str) -> Result<String, EpcError> {
    Ok(Epc::new(EpcScheme::Sscc96, filter, company_prefix, serial_reference, 0)?.to_hex())
}

/// SSCC-96 hex for an 18-digit SSCC whose company prefix has `prefix_digits` digits
/// (the SSCC alone does not say where the prefix ends).
pub fn sscc96_hex_for_sscc(filter: u8, sscc: &str, prefix_digits: usize) -> Result<String, EpcError> {
    if !crate::gs1::is_valid_sscc(sscc) {
        return Err(EpcError::Invalid("not an 18-digit SSCC with a valid check digit"));
    }
    let prefix = sscc
        .get(1..1 + prefix_digits)
        .ok_or(EpcError::Invalid("prefix length out of range"))?;
    let serial_reference = format!(
        "{}{}",
        sscc.get(..1).unwrap_or_default(),
        sscc.get(1 + prefix_digits..17).unwrap_or_default()
    );
    sscc96_hex(filter, prefix, &serial_reference)
}

/// The EPC hex a tag must hold to be read as `identifier`: the inverse of the decoders'
/// mapping. Pure-identity URNs are encoded with filter value 0 (not part of the identity).
pub fn epc_hex(identifier: &crate::read::Identifier) -> Result<String, EpcError> {
    if identifier.kind != IdentifierKind::Epc {
        return Err(EpcError::BadUrn(identifier.value.chars().take(64).collect()));
    }
    if let Some(raw) = identifier.value.strip_prefix("urn:epc:raw:") {
        let (bits, hex) = raw.split_once(".x").ok_or_else(|| EpcError::BadUrn(raw.into()))?;
        return match epc::raw_urn(hex) {
            Ok(urn) if urn == identifier.value && bits.parse::<usize>().is_ok() => Ok(hex.to_string()),
            _ => Err(EpcError::BadUrn(identifier.value.chars().take(64).collect())),
        };
    }
    Ok(epc::parse_urn(&identifier.value, 0)?.to_hex())
}

fn hexes(reads: &[Read]) -> Result<Vec<String>, SimError> {
    reads
        .iter()
        .enumerate()
        .map(|(index, r)| epc_hex(&r.identifier).map_err(|source| SimError::NotAnEpc { index, source }))
        .collect()
}

/// A Zebra IoT Connector batch: a JSON array of tag data events in `mode`, numbered from 1.
pub fn zebra_payload(reads: &[Read], mode: ZebraMode) -> Result<Vec<u8>, SimError> {
    let events: Vec<Value> = reads
        .iter()
        .zip(hexes(reads)?)
        .enumerate()
        .map(|(i, (r, hex))| {
            let mut data = json!({ "idHex": hex, "format": "epc", "eventNum": i + 1, "reads": r.seen_count });
            if let Some(a) = r.antenna {
                data["antenna"] = json!(a);
            }
            if let Some(rssi) = r.rssi_dbm {
                data["peakRssi"] = json!(rssi);
            }
            let mut event = json!({ "type": mode.as_str(), "data": data });
            if let Some(t) = r.time {
                event["timestamp"] = json!(timestamp::zebra(t));
            }
            event
        })
        .collect();
    Ok(serde_json::to_vec(&events).unwrap_or_default())
}

/// An Impinj HTTP stream: one `tagInventory` event per line. The interface has no folded
/// count, so `seen_count` is not carried; RSSI is sent in whole centi-dBm.
pub fn impinj_stream(reads: &[Read], hostname: &str) -> Result<Vec<u8>, SimError> {
    let mut out = Vec::new();
    for (r, hex) in reads.iter().zip(hexes(reads)?) {
        let bytes: Vec<u8> = (0..hex.len() / 2)
            .filter_map(|i| hex.get(2 * i..2 * i + 2).and_then(|b| u8::from_str_radix(b, 16).ok()))
            .collect();
        let mut tag = json!({ "epc": base64::encode(&bytes), "epcHex": hex });
        if let Some(a) = r.antenna {
            tag["antennaPort"] = json!(a);
        }
        if let Some(rssi) = r.rssi_dbm {
            tag["peakRssiCdbm"] = json!((f64::from(rssi) * 100.0).round() as i32);
        }
        let mut event = json!({ "hostname": hostname, "eventType": "tagInventory", "tagInventoryEvent": tag });
        if let Some(t) = r.time {
            event["timestamp"] = json!(timestamp::rfc3339_millis(t));
            event["tagInventoryEvent"]["lastSeenTime"] = json!(timestamp::rfc3339_millis(t));
        }
        out.extend(serde_json::to_vec(&event).unwrap_or_default());
        out.push(b'\n');
    }
    Ok(out)
}
