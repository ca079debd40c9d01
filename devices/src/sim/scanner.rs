//! Simulated barcode scanners: scan texts with AIM identifiers, and the bytes a scanner
//! sends for them under a framing configuration.

use crate::digital_link::{self, DigitalLinkError};
use crate::element_string::ElementString;
use crate::serial::{FramingConfig, Terminator};

/// A GS1-128 scan of an SSCC label: `]C1` then AI 00.
pub fn gs1_128_sscc(sscc: &str) -> String {
    format!("]C100{sscc}")
}

/// An EAN-13 scan (`]E0`).
pub fn ean13(gtin13: &str) -> String {
    format!("]E0{gtin13}")
}

/// A QR code holding a GS1 Digital Link on `id.gs1.org` (`]Q1`: a Digital Link QR code is
/// a plain QR code, not FNC1 mode).
pub fn gs1_qr_digital_link(elements: &ElementString) -> Result<String, DigitalLinkError> {
    Ok(format!("]Q1{}", digital_link::to_uri("id.gs1.org", elements)?))
}

/// A Digital Link QR code for an SSCC.
pub fn qr_digital_link_sscc(sscc: &str) -> String {
    format!("]Q1https://id.gs1.org/00/{sscc}")
}

/// The bytes a scanner configured as `config` sends for `text`. For fixed-length framing
/// the text is sent as is: it must already have the record length.
pub fn frame(text: &str, config: &FramingConfig) -> Vec<u8> {
    let mut body = config.prefix.clone();
    body.extend_from_slice(text.as_bytes());
    body.extend_from_slice(&config.suffix);
    match config.terminator {
        Terminator::Line | Terminator::CrLf => body.extend_from_slice(b"\r\n"),
        Terminator::Cr => body.push(b'\r'),
        Terminator::Lf => body.push(b'\n'),
        Terminator::Etx { .. } => {
            body.insert(0, 0x02);
            body.push(0x03);
        }
        Terminator::FixedLength(_) => {}
    }
    body
}
