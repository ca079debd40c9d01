//! What one barcode scan means: its AIM symbology identifier, and its content as a GS1
//! element string, a GS1 Digital Link, an EAN/UPC GTIN or plain text, mapped to the
//! identifiers Waymark tracks.
//!
//! Scanners prefix data with an AIM identifier (`]` + symbology + modifier, ISO/IEC 15424)
//! when configured to; the modifier says whether the symbol is in GS1 mode (FNC1 first):
//! `]C1` GS1-128, `]e0` DataBar, `]d2` GS1 DataMatrix, `]Q3` GS1 QR, `]J1` GS1 DotCode.
//! Without it, GS1 data is recognised by its separators or brackets and a Digital Link by
//! its URI; digits are left as scanned (a 13-digit order number is not turned into a GTIN).

use crate::digital_link::{self, DigitalLink, DigitalLinkError};
use crate::element_string::{self, ElementString, GS};
use crate::gs1;
use crate::read::{Identifier, IdentifierKind, MAX_IDENTIFIER_LEN, Read};
use crate::serial::FrameError;

/// The symbology family an AIM identifier names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Symbology {
    Code128,
    /// EAN-13, UPC-A, UPC-E, EAN-8 and their add-ons.
    EanUpc,
    DataBar,
    DataMatrix,
    QrCode,
    Code39,
    Itf,
    Pdf417,
    Aztec,
    DotCode,
    /// An AIM identifier this module does not name.
    Other,
    /// The scanner sent no AIM identifier.
    Unknown,
}

/// How a scan's content was understood.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanContent {
    Gs1(ElementString),
    DigitalLink(DigitalLink),
    /// An EAN/UPC, as GTIN-14.
    Gtin(String),
    /// Anything else: the text is the barcode value.
    Text,
}

/// One decoded scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScannedCode {
    pub symbology: Symbology,
    /// The AIM identifier as sent (`]C1`), if any.
    pub aim: Option<String>,
    /// The data after the AIM identifier, with keyboard-wedge separators turned into GS.
    pub text: String,
    pub content: ScanContent,
}

impl ScannedCode {
    /// The identifiers this scan names, most specific first.
    pub fn identifiers(&self) -> Vec<Identifier> {
        let id = |kind, value: &str| Identifier {
            kind,
            value: value.to_string(),
        };
        match &self.content {
            ScanContent::Gs1(e) => e.identifiers(),
            ScanContent::DigitalLink(dl) => dl.elements.identifiers(),
            ScanContent::Gtin(g) => vec![id(IdentifierKind::Barcode, g)],
            ScanContent::Text if self.text.starts_with("urn:epc:") => vec![id(IdentifierKind::Epc, &self.text)],
            ScanContent::Text if gs1::is_valid_sscc(&self.text) => vec![id(IdentifierKind::Sscc, &self.text)],
            ScanContent::Text => vec![id(IdentifierKind::Barcode, &self.text)],
        }
    }

    /// The scan as a read of its primary identifier (no antenna, signal or device time).
    pub fn to_read(&self) -> Option<Read> {
        self.identifiers().into_iter().next().map(|identifier| Read {
            identifier,
            antenna: None,
            rssi_dbm: None,
            seen_count: 1,
            time: None,
        })
    }
}

/// Splits an AIM identifier off `text`: the symbology, whether it is GS1 mode, and its text.
fn split_aim(text: &str) -> Option<(&str, Symbology, bool, &str)> {
    let (aim, rest) = (text.get(..3)?, text.get(3..)?);
    let mut chars = aim.chars();
    let (']', Some(code), Some(modifier)) = (chars.next()?, chars.next(), chars.next()) else {
        return None;
    };
    if !code.is_ascii_alphabetic() || !modifier.is_ascii_alphanumeric() {
        return None;
    }
    let (symbology, gs1_mode) = match code {
        'C' => (Symbology::Code128, modifier == '1'),
        'E' => (Symbology::EanUpc, false),
        'e' => (Symbology::DataBar, true),
        'd' => (Symbology::DataMatrix, matches!(modifier, '2' | '5')),
        'Q' => (Symbology::QrCode, matches!(modifier, '3' | '4')),
        'A' => (Symbology::Code39, false),
        'I' => (Symbology::Itf, false),
        'L' => (Symbology::Pdf417, false),
        'z' => (Symbology::Aztec, false),
        'J' => (Symbology::DotCode, modifier == '1'),
        _ => (Symbology::Other, false),
    };
    Some((aim, symbology, gs1_mode, rest))
}

/// Interprets one frame's text. `gs_substitutes` are the strings a keyboard-wedge
/// scanner may send in place of GS (e.g. `^]`); they are only honoured in GS1 data.
/// A scan that names nothing Waymark tracks (a GS1 label with only a postal code, say)
/// is [`FrameError::NoIdentifier`], so every accepted scan has a read.
pub fn interpret(text: &str, gs_substitutes: &[String]) -> Result<ScannedCode, FrameError> {
    let scanned = interpret_content(text, gs_substitutes)?;
    if scanned.identifiers().is_empty() {
        return Err(FrameError::NoIdentifier(clip(&scanned.text)));
    }
    Ok(scanned)
}

fn interpret_content(text: &str, gs_substitutes: &[String]) -> Result<ScannedCode, FrameError> {
    let (aim, symbology, gs1_mode, data) = match split_aim(text) {
        Some((aim, symbology, gs1_mode, data)) => (Some(aim.to_string()), symbology, gs1_mode, data),
        None => (None, Symbology::Unknown, false, text),
    };
    let code = |text: String, content| ScannedCode {
        symbology,
        aim: aim.clone(),
        text,
        content,
    };
    let with_gs = restore_gs(data, gs_substitutes);
    if gs1_mode {
        let parsed = element_string::parse(&with_gs).map_err(FrameError::InvalidGs1)?;
        return Ok(code(with_gs, ScanContent::Gs1(parsed)));
    }
    if symbology == Symbology::EanUpc {
        let modifier = aim.as_deref().and_then(|a| a.chars().nth(2));
        return match (modifier, gtin_of_ean(data, modifier)) {
            (Some('1' | '2'), _) => text_code(data).map(|t| code(t, ScanContent::Text)),
            (_, Some(gtin)) => Ok(code(data.to_string(), ScanContent::Gtin(gtin))),
            (_, None) => Err(FrameError::InvalidGtin(clip(data))),
        };
    }
    let lower = data.get(..8).unwrap_or(data).to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return match digital_link::parse(data) {
            Ok(dl) => Ok(code(data.to_string(), ScanContent::DigitalLink(dl))),
            Err(DigitalLinkError::NotDigitalLink) => text_code(data).map(|t| code(t, ScanContent::Text)),
            Err(e) => Err(FrameError::InvalidDigitalLink(e)),
        };
    }
    if aim.is_none() {
        // Without an AIM identifier, separators or brackets are the only sign of GS1 data.
        // A real GS cannot be plain text; a wedge substitute or a bracket could be.
        if with_gs.contains(GS) {
            match element_string::parse(&with_gs) {
                Ok(parsed) => return Ok(code(with_gs, ScanContent::Gs1(parsed))),
                Err(e) if data.contains(GS) => return Err(FrameError::InvalidGs1(e)),
                Err(_) => {}
            }
        }
        if let Some(parsed) = data
            .starts_with('(')
            .then(|| element_string::parse_hri(data).ok())
            .flatten()
        {
            return Ok(code(data.to_string(), ScanContent::Gs1(parsed)));
        }
    }
    text_code(data).map(|t| code(t, ScanContent::Text))
}

/// Plain text must be a usable identifier: no control characters, not too long.
fn text_code(data: &str) -> Result<String, FrameError> {
    if let Some(c) = data.bytes().find(|b| b.is_ascii_control()) {
        return Err(FrameError::ControlCharacter(c));
    }
    if data.len() > MAX_IDENTIFIER_LEN {
        return Err(FrameError::TextTooLong { len: data.len() });
    }
    Ok(data.to_string())
}

/// EAN-13 / UPC-A (12 digits) / EAN-8 as GTIN-14, if the digits and check digit are right.
fn gtin_of_ean(data: &str, modifier: Option<char>) -> Option<String> {
    let digits = match modifier {
        // EAN-13 with a 2- or 5-digit add-on: the first 13 digits are the GTIN.
        Some('3') => data.get(..13)?,
        _ => data,
    };
    let ok = matches!(digits.len(), 8 | 12 | 13) && gs1::check_digit_valid(digits);
    ok.then(|| format!("{digits:0>14}"))
}

fn restore_gs(data: &str, substitutes: &[String]) -> String {
    substitutes
        .iter()
        .filter(|s| !s.is_empty())
        .fold(data.to_string(), |acc, s| acc.replace(s.as_str(), "\u{1D}"))
}

fn clip(s: &str) -> String {
    s.chars().take(32).collect()
}

#[cfg(test)]
mod tests;
