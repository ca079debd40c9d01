//! EPC binary encodings of the GS1 EPC Tag Data Standard (TDS) 96-bit schemes: EPC bank
//! hex to pure-identity URN and GS1 key, and back.
//!
//! Only the five 96-bit schemes a warehouse meets (SGTIN, SSCC, SGLN, GRAI, GIAI) decode
//! to a pure identity. Any other header is a typed error naming it; callers that must keep
//! the read anyway use [`identifier_for_hex`], which falls back to the TDS raw URN.

use crate::gs1;
use crate::read::{Identifier, IdentifierKind, MAX_IDENTIFIER_LEN};

/// Longest EPC bank content accepted, in bits (the Gen2 EPC bank maximum).
pub const MAX_EPC_BITS: usize = 496;

/// The TDS 96-bit coding schemes this module decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpcScheme {
    Sgtin96,
    Sscc96,
    Sgln96,
    Grai96,
    Giai96,
}

/// Company prefix bits and digits by partition value (identical for all five schemes).
const PREFIX_PARTITIONS: [(u32, u32); 7] = [(40, 12), (37, 11), (34, 10), (30, 9), (27, 8), (24, 7), (20, 6)];

/// Bits after the 14-bit header/filter/partition that hold prefix + reference, the total
/// digits of prefix + reference (`None` for GIAI, whose reference is a plain integer), and
/// the bits of the trailing serial / extension / reserved field.
struct Layout {
    body_bits: u32,
    body_digits: Option<u32>,
    tail_bits: u32,
}

impl EpcScheme {
    pub fn header(self) -> u8 {
        match self {
            Self::Sgtin96 => 0x30,
            Self::Sscc96 => 0x31,
            Self::Sgln96 => 0x32,
            Self::Grai96 => 0x33,
            Self::Giai96 => 0x34,
        }
    }

    pub fn from_header(header: u8) -> Option<Self> {
        Some(match header {
            0x30 => Self::Sgtin96,
            0x31 => Self::Sscc96,
            0x32 => Self::Sgln96,
            0x33 => Self::Grai96,
            0x34 => Self::Giai96,
            _ => return None,
        })
    }

    /// The scheme name used in URNs (`sgtin`, `sscc`, ...).
    pub fn urn_name(self) -> &'static str {
        match self {
            Self::Sgtin96 => "sgtin",
            Self::Sscc96 => "sscc",
            Self::Sgln96 => "sgln",
            Self::Grai96 => "grai",
            Self::Giai96 => "giai",
        }
    }

    fn layout(self) -> Layout {
        let (body_bits, body_digits, tail_bits) = match self {
            Self::Sgtin96 => (44, Some(13), 38),
            Self::Sscc96 => (58, Some(17), 24),
            Self::Sgln96 => (41, Some(12), 41),
            Self::Grai96 => (44, Some(12), 38),
            Self::Giai96 => (82, None, 0),
        };
        Layout {
            body_bits,
            body_digits,
            tail_bits,
        }
    }
}

/// Why an EPC could not be decoded or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EpcError {
    #[error("EPC is empty")]
    Empty,
    #[error("EPC is not an even number of hex digits")]
    NotHex,
    #[error("EPC is {bits} bits, longer than {MAX_EPC_BITS}")]
    TooLong { bits: usize },
    #[error("EPC header 0x{0:02X} is not a supported 96-bit scheme")]
    UnknownHeader(u8),
    #[error("EPC with header 0x{header:02X} is {bits} bits, not 96")]
    WrongLength { header: u8, bits: usize },
    #[error("partition value {0} is reserved")]
    ReservedPartition(u8),
    #[error("{field} does not fit its {digits} decimal digits")]
    FieldOverflow { field: &'static str, digits: u32 },
    #[error("reserved bits of an SSCC-96 are not zero")]
    ReservedBitsSet,
    #[error("`{0}` is not a pure-identity EPC URN of a supported scheme")]
    BadUrn(String),
    #[error("{0}")]
    Invalid(&'static str),
}

/// A decoded 96-bit EPC. Built only through [`decode_hex`], [`parse_urn`] or [`Epc::new`],
/// so every value encodes back to exactly one 96-bit string.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Epc {
    scheme: EpcScheme,
    filter: u8,
    company_prefix: String,
    reference: String,
    serial: u64,
}

/// A GS1 key with its Application Identifier, e.g. AI `00` and an 18-digit SSCC.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Gs1Key {
    pub ai: &'static str,
    pub value: String,
}

impl Epc {
    /// Builds an EPC from its parts. `reference` is the item reference (with indicator digit),
    /// serial reference (with extension digit), location reference, asset type, or the GIAI
    /// asset reference; `serial` is the SGTIN/GRAI serial or SGLN extension (0 otherwise).
    pub fn new(
        scheme: EpcScheme,
        filter: u8,
        company_prefix: &str,
        reference: &str,
        serial: u64,
    ) -> Result<Self, EpcError> {
        if filter > 7 {
            return Err(EpcError::Invalid("filter value must be 0..=7"));
        }
        let layout = scheme.layout();
        let partition = PREFIX_PARTITIONS
            .iter()
            .position(|&(_, digits)| digits as usize == company_prefix.len())
            .ok_or(EpcError::Invalid("company prefix must be 6 to 12 digits"))?;
        if !all_digits(company_prefix) {
            return Err(EpcError::Invalid("company prefix must be digits"));
        }
        if !reference.is_empty() && !all_digits(reference) {
            return Err(EpcError::Invalid("reference must be digits"));
        }
        match layout.body_digits {
            Some(total) if reference.len() as u32 + company_prefix.len() as u32 != total => {
                return Err(EpcError::Invalid(
                    "reference has the wrong number of digits for the prefix",
                ));
            }
            None if reference.is_empty() || (reference.len() > 1 && reference.starts_with('0')) => {
                return Err(EpcError::Invalid(
                    "GIAI-96 asset reference must be an integer without leading zeros",
                ));
            }
            _ => {}
        }
        let (prefix_bits, _) = PREFIX_PARTITIONS[partition];
        let ref_bits = layout.body_bits - prefix_bits;
        let ref_value: u128 = if reference.is_empty() {
            0
        } else {
            reference
                .parse()
                .map_err(|_| EpcError::Invalid("reference does not fit the scheme"))?
        };
        if ref_value >= 1u128 << ref_bits {
            return Err(EpcError::Invalid("reference does not fit the scheme"));
        }
        let serial_allowed = matches!(scheme, EpcScheme::Sgtin96 | EpcScheme::Sgln96 | EpcScheme::Grai96);
        if (!serial_allowed && serial != 0) || u128::from(serial) >= 1u128 << layout.tail_bits.max(1) {
            return Err(EpcError::Invalid("serial or extension does not fit the scheme"));
        }
        Ok(Self {
            scheme,
            filter,
            company_prefix: company_prefix.to_string(),
            reference: reference.to_string(),
            serial,
        })
    }

    pub fn scheme(&self) -> EpcScheme {
        self.scheme
    }

    pub fn filter(&self) -> u8 {
        self.filter
    }

    pub fn company_prefix(&self) -> &str {
        &self.company_prefix
    }

    pub fn reference(&self) -> &str {
        &self.reference
    }

    /// SGTIN/GRAI serial number or SGLN extension; 0 for SSCC and GIAI.
    pub fn serial(&self) -> u64 {
        self.serial
    }

    /// The pure-identity URN, e.g. `urn:epc:id:sgtin:0614141.812345.6789`.
    pub fn urn(&self) -> String {
        let name = self.scheme.urn_name();
        let mut urn = String::with_capacity(40);
        for part in ["urn:epc:id:", name, ":", &self.company_prefix, ".", &self.reference] {
            urn.push_str(part);
        }
        if !matches!(self.scheme, EpcScheme::Sscc96 | EpcScheme::Giai96) {
            urn.push('.');
            urn.push_str(&self.serial.to_string());
        }
        urn
    }

    /// The EPC tag URI, which also carries the filter value (`urn:epc:tag:sgtin-96:3....`).
    pub fn tag_uri(&self) -> String {
        let pure = self.urn();
        let body = pure.rsplit(':').next().unwrap_or_default();
        format!("urn:epc:tag:{}-96:{}.{body}", self.scheme.urn_name(), self.filter)
    }

    /// The GS1 key this EPC is an RFID encoding of (GTIN, SSCC, GLN, GRAI or GIAI).
    pub fn gs1_key(&self) -> Gs1Key {
        let (cp, r) = (self.company_prefix.as_str(), self.reference.as_str());
        let with_check = |body: String| {
            let check = gs1::compute_check_digit(body.as_bytes());
            format!("{body}{check}")
        };
        match self.scheme {
            EpcScheme::Sgtin96 | EpcScheme::Sscc96 => {
                let (lead, rest) = r.split_at(1.min(r.len()));
                let ai = if self.scheme == EpcScheme::Sgtin96 { "01" } else { "00" };
                Gs1Key {
                    ai,
                    value: with_check(format!("{lead}{cp}{rest}")),
                }
            }
            EpcScheme::Sgln96 => Gs1Key {
                ai: "414",
                value: with_check(format!("{cp}{r}")),
            },
            EpcScheme::Grai96 => Gs1Key {
                ai: "8003",
                value: format!("{}{}", with_check(format!("0{cp}{r}")), self.serial),
            },
            EpcScheme::Giai96 => Gs1Key {
                ai: "8004",
                value: format!("{cp}{r}"),
            },
        }
    }

    /// The 96-bit binary encoding as 24 upper-case hex digits.
    pub fn to_hex(&self) -> String {
        let layout = self.scheme.layout();
        let partition = PREFIX_PARTITIONS
            .iter()
            .position(|&(_, digits)| digits as usize == self.company_prefix.len())
            .unwrap_or(0);
        let (prefix_bits, _) = PREFIX_PARTITIONS[partition];
        let ref_bits = layout.body_bits - prefix_bits;
        let prefix: u128 = self.company_prefix.parse().unwrap_or(0);
        let reference: u128 = self.reference.parse().unwrap_or(0);
        let mut bits = u128::from(self.scheme.header());
        bits = (bits << 3) | u128::from(self.filter);
        bits = (bits << 3) | partition as u128;
        bits = (bits << prefix_bits) | prefix;
        bits = (bits << ref_bits) | reference;
        bits = (bits << layout.tail_bits) | u128::from(self.serial);
        format!("{bits:024X}")
    }
}

/// Decodes a 96-bit EPC from hex (upper or lower case) to its pure identity.
pub fn decode_hex(hex: &str) -> Result<Epc, EpcError> {
    let bytes = parse_hex(hex)?;
    let header = *bytes.first().ok_or(EpcError::Empty)?;
    let scheme = EpcScheme::from_header(header).ok_or(EpcError::UnknownHeader(header))?;
    if bytes.len() != 12 {
        return Err(EpcError::WrongLength {
            header,
            bits: bytes.len() * 8,
        });
    }
    let bits = bytes.iter().fold(0u128, |acc, b| (acc << 8) | u128::from(*b));
    let field = |shift: u32, width: u32| (bits >> shift) & ((1u128 << width) - 1);
    let filter = field(85, 3) as u8;
    let partition = field(82, 3) as u8;
    let &(prefix_bits, prefix_digits) = PREFIX_PARTITIONS
        .get(usize::from(partition))
        .ok_or(EpcError::ReservedPartition(partition))?;
    let layout = scheme.layout();
    let ref_bits = layout.body_bits - prefix_bits;
    let prefix = field(82 - prefix_bits, prefix_bits);
    let reference = field(82 - layout.body_bits, ref_bits);
    let tail = field(0, layout.tail_bits.max(1)) & ((1u128 << layout.tail_bits) - 1);
    let company_prefix = padded("company prefix", prefix, prefix_digits)?;
    let reference = match layout.body_digits {
        Some(total) => padded("reference", reference, total - prefix_digits)?,
        None => u64::try_from(reference).map_or_else(|_| reference.to_string(), |r| r.to_string()),
    };
    let serial = match scheme {
        EpcScheme::Sscc96 if tail != 0 => return Err(EpcError::ReservedBitsSet),
        EpcScheme::Sscc96 | EpcScheme::Giai96 => 0,
        _ => tail as u64,
    };
    Ok(Epc {
        scheme,
        filter,
        company_prefix,
        reference,
        serial,
    })
}

/// Parses a pure-identity URN of a supported scheme (the inverse of [`Epc::urn`]). The
/// filter value is not part of a pure identity, so the result carries `filter`.
pub fn parse_urn(urn: &str, filter: u8) -> Result<Epc, EpcError> {
    let bad = || EpcError::BadUrn(urn.chars().take(MAX_IDENTIFIER_LEN).collect());
    let rest = urn.strip_prefix("urn:epc:id:").ok_or_else(bad)?;
    let (name, body) = rest.split_once(':').ok_or_else(bad)?;
    let scheme = [
        EpcScheme::Sgtin96,
        EpcScheme::Sscc96,
        EpcScheme::Sgln96,
        EpcScheme::Grai96,
        EpcScheme::Giai96,
    ]
    .into_iter()
    .find(|s| s.urn_name() == name)
    .ok_or_else(bad)?;
    let parts: Vec<&str> = body.split('.').collect();
    let serial_digits = |s: &str| -> Result<u64, EpcError> {
        // TDS: a numeric serial in an SGTIN-96/GRAI-96 has no leading zeros.
        if s.is_empty() || (s.len() > 1 && s.starts_with('0')) || !all_digits(s) {
            return Err(bad());
        }
        s.parse().map_err(|_| bad())
    };
    match (scheme, parts.as_slice()) {
        (EpcScheme::Sscc96 | EpcScheme::Giai96, [cp, r]) => Epc::new(scheme, filter, cp, r, 0),
        (EpcScheme::Sgtin96 | EpcScheme::Sgln96 | EpcScheme::Grai96, [cp, r, s]) => {
            Epc::new(scheme, filter, cp, r, serial_digits(s)?)
        }
        _ => Err(bad()),
    }
}

/// The TDS raw URN for EPC bank contents that have no pure identity here:
/// `urn:epc:raw:<bits>.x<HEX>`.
pub fn raw_urn(hex: &str) -> Result<String, EpcError> {
    let bytes = parse_hex(hex)?;
    Ok(format!("urn:epc:raw:{}.x{}", bytes.len() * 8, hex.to_ascii_uppercase()))
}

/// The identifier a reader's EPC hex stands for: the pure-identity URN when the EPC
/// decodes, else the raw URN, so an unfamiliar or malformed encoding is still recorded
/// (and stays distinguishable) rather than guessed at. Errors only when `hex` is not hex.
pub fn identifier_for_hex(hex: &str) -> Result<(Identifier, Option<Epc>), EpcError> {
    let (value, epc) = match decode_hex(hex) {
        Ok(epc) => (epc.urn(), Some(epc)),
        Err(e @ (EpcError::Empty | EpcError::NotHex | EpcError::TooLong { .. })) => return Err(e),
        Err(_) => (raw_urn(hex)?, None),
    };
    if value.len() > MAX_IDENTIFIER_LEN {
        return Err(EpcError::TooLong { bits: hex.len() * 4 });
    }
    Ok((
        Identifier {
            kind: IdentifierKind::Epc,
            value,
        },
        epc,
    ))
}

fn parse_hex(hex: &str) -> Result<Vec<u8>, EpcError> {
    if hex.is_empty() {
        return Err(EpcError::Empty);
    }
    if hex.len() > MAX_EPC_BITS / 4 {
        return Err(EpcError::TooLong { bits: hex.len() * 4 });
    }
    if !hex.len().is_multiple_of(2) || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(EpcError::NotHex);
    }
    let nibble = |b: u8| match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    };
    Ok(hex
        .as_bytes()
        .chunks_exact(2)
        .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
        .collect())
}

fn padded(field: &'static str, value: u128, digits: u32) -> Result<String, EpcError> {
    if value >= 10u128.pow(digits) {
        return Err(EpcError::FieldOverflow { field, digits });
    }
    if digits == 0 {
        return Ok(String::new());
    }
    // Digit by digit in 64 bits (every field of a 96-bit EPC fits): this runs
    // for every read, and u128 division and formatting are slow.
    let mut buf = [b'0'; 20];
    match u64::try_from(value) {
        Ok(mut v) if digits as usize <= buf.len() => {
            for slot in buf.iter_mut().rev().take(digits as usize) {
                *slot = b'0' + (v % 10) as u8;
                v /= 10;
            }
            Ok(buf[buf.len() - digits as usize..]
                .iter()
                .copied()
                .map(char::from)
                .collect())
        }
        _ => Ok(format!("{value:0width$}", width = digits as usize)),
    }
}

fn all_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests;
