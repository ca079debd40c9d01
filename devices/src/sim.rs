//! Payload builders for simulated devices: the demo, tests and benchmarks publish
//! what these return, and the decoders must read it back exactly.

use serde_json::json;

use crate::read::Read;
use crate::timestamp;

pub mod portal;
mod rfid;
mod scanner;

pub use rfid::{SimError, epc_hex, impinj_stream, sgtin96_hex, sscc96_hex, sscc96_hex_for_sscc, zebra_payload};
pub use scanner::{ean13, frame, gs1_128_sscc, gs1_qr_digital_link, qr_digital_link_sscc};

/// A valid SSCC: extension digit 0, `company_prefix`, `serial` zero-padded to fill
/// 17 digits, then the check digit. Simulators number their parcels with it.
pub fn sscc(company_prefix: &str, serial: u64) -> String {
    let width = 16usize.saturating_sub(company_prefix.len());
    let body = format!("0{company_prefix}{serial:0width$}");
    format!("{body}{}", crate::gs1::compute_check_digit(body.as_bytes()))
}

/// Encodes reads in the generic JSON format (an array, even for one read).
pub fn generic_payload(reads: &[Read]) -> Vec<u8> {
    let items: Vec<_> = reads
        .iter()
        .map(|r| {
            let mut o = json!({ "id": r.identifier.value, "kind": r.identifier.kind.as_str() });
            if let Some(t) = r.time {
                o["time"] = json!(timestamp::rfc3339_millis(t));
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

#[cfg(test)]
mod tests;
