//! GS1 element strings: the AI/value pairs of a GS1-128, GS1 DataMatrix, GS1 QR or
//! DataBar symbol, read either raw (FNC1 transmitted as GS, 0x1D) or in the bracketed
//! human-readable form `(00)106141412345678908`.

use crate::gs1_ai::{self, AiFormat, AiSpec, Gs1Date};
use crate::read::{Identifier, IdentifierKind};

/// The group separator a scanner transmits for FNC1.
pub const GS: char = '\u{1D}';
/// Longest element string accepted (a GS1 QR symbol can hold more, labels never do).
pub const MAX_ELEMENT_STRING_LEN: usize = 1024;
/// Most elements one element string may carry.
pub const MAX_ELEMENTS: usize = 64;

/// Why an element string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Gs1Error {
    #[error("element string is empty")]
    Empty,
    #[error("element string is {len} bytes, longer than {limit}")]
    TooLong { len: usize, limit: usize },
    #[error("element string has more than {MAX_ELEMENTS} elements")]
    TooManyElements,
    #[error("no known application identifier at `{0}`")]
    UnknownAi(String),
    #[error("AI ({ai}) {problem}")]
    InvalidValue { ai: String, problem: String },
    #[error("AI ({0}) appears twice with different values")]
    Conflict(String),
    #[error("bracketed element string is malformed at `{0}`")]
    Syntax(String),
}

/// One AI and its validated value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub ai: String,
    pub value: String,
    pub spec: AiSpec,
}

impl Element {
    /// Validates `value` for `ai`.
    pub fn new(ai: &str, value: &str) -> Result<Self, Gs1Error> {
        let spec = gs1_ai::lookup(ai).ok_or_else(|| Gs1Error::UnknownAi(clip(ai)))?;
        gs1_ai::validate(ai, &spec, value).map_err(|problem| Gs1Error::InvalidValue {
            ai: ai.to_string(),
            problem,
        })?;
        Ok(Self {
            ai: ai.to_string(),
            value: value.to_string(),
            spec,
        })
    }

    pub fn title(&self) -> &'static str {
        self.spec.title
    }

    /// The date of a date AI (11, 13, 15, 17, ...).
    pub fn date(&self) -> Option<Gs1Date> {
        match self.spec.format {
            AiFormat::Date { zero_day } => gs1_ai::parse_date(&self.value, zero_day),
            _ => None,
        }
    }

    /// A measure AI's value as (integer digits, implied decimal places): `3303` `000125`
    /// is `(125, 3)`, i.e. 0.125.
    pub fn decimal(&self) -> Option<(u32, u32)> {
        if self.spec.format != AiFormat::Decimal {
            return None;
        }
        let places = self.ai.get(3..4)?.parse().ok()?;
        Some((self.value.parse().ok()?, places))
    }
}

/// A parsed, validated element string in symbol order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ElementString {
    elements: Vec<Element>,
}

impl ElementString {
    /// Builds an element string from AI/value pairs, validating each.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Self, Gs1Error> {
        let mut out = Self::default();
        for (ai, value) in pairs {
            out.push(Element::new(ai, value)?)?;
        }
        if out.elements.is_empty() {
            return Err(Gs1Error::Empty);
        }
        Ok(out)
    }

    fn push(&mut self, element: Element) -> Result<(), Gs1Error> {
        // GS1 allows a repeated AI only with the same value; keep one copy.
        if let Some(existing) = self.get(&element.ai) {
            return if existing == element.value {
                Ok(())
            } else {
                Err(Gs1Error::Conflict(element.ai))
            };
        }
        if self.elements.len() == MAX_ELEMENTS {
            return Err(Gs1Error::TooManyElements);
        }
        self.elements.push(element);
        Ok(())
    }

    pub fn elements(&self) -> &[Element] {
        &self.elements
    }

    /// The value of `ai`, if present.
    pub fn get(&self, ai: &str) -> Option<&str> {
        self.elements.iter().find(|e| e.ai == ai).map(|e| e.value.as_str())
    }

    pub fn sscc(&self) -> Option<&str> {
        self.get("00")
    }

    pub fn gtin(&self) -> Option<&str> {
        self.get("01")
    }

    /// The bracketed human-readable form, `(01)09501101530003(17)261231`.
    pub fn to_hri(&self) -> String {
        self.elements.iter().map(|e| format!("({}){}", e.ai, e.value)).collect()
    }

    /// The transmitted form without symbology identifier: GS after every variable-length
    /// element except the last.
    pub fn to_raw(&self) -> String {
        let mut out = String::new();
        for (i, e) in self.elements.iter().enumerate() {
            out.push_str(&e.ai);
            out.push_str(&e.value);
            if i + 1 < self.elements.len() && !gs1_ai::has_predefined_length(&e.ai) {
                out.push(GS);
            }
        }
        out
    }

    /// What this element string identifies for Waymark: an SSCC, a GTIN (as a barcode
    /// value, 14 digits) and a customer order number (AI 400), in that order.
    pub fn identifiers(&self) -> Vec<Identifier> {
        [
            ("00", IdentifierKind::Sscc),
            ("01", IdentifierKind::Barcode),
            ("400", IdentifierKind::OrderNumber),
        ]
        .into_iter()
        .filter_map(|(ai, kind)| {
            self.get(ai).map(|v| Identifier {
                kind,
                value: v.to_string(),
            })
        })
        .collect()
    }
}

/// Parses either form: bracketed when the input starts with `(`, raw otherwise.
pub fn parse(input: &str) -> Result<ElementString, Gs1Error> {
    if input.starts_with('(') {
        parse_hri(input)
    } else {
        parse_raw(input)
    }
}

/// Parses a raw element string: AIs back to back, variable-length values ended by GS or
/// the end of data. A leading GS (FNC1 in first position) is tolerated, as is a GS after
/// a predefined-length element.
pub fn parse_raw(data: &str) -> Result<ElementString, Gs1Error> {
    check_size(data)?;
    let mut out = ElementString::default();
    let mut rest = data.strip_prefix(GS).unwrap_or(data);
    while !rest.is_empty() {
        let (ai, spec) = gs1_ai::lookup_prefix(rest).ok_or_else(|| Gs1Error::UnknownAi(clip(rest)))?;
        let after_ai = rest.get(ai.len()..).unwrap_or_default();
        let end = match spec.format.fixed_len() {
            Some(len) => len.min(after_ai.len()),
            None => after_ai.find(GS).unwrap_or(after_ai.len()),
        };
        // A fixed length that ends inside a multi-byte character leaves no valid value.
        let (value, tail) = after_ai.split_at_checked(end).unwrap_or(("", after_ai));
        out.push(Element::new(ai, value)?)?;
        rest = tail.strip_prefix(GS).unwrap_or(tail);
    }
    if out.elements.is_empty() {
        return Err(Gs1Error::Empty);
    }
    Ok(out)
}

/// Parses the bracketed form. A `(` inside a value is data unless it opens a known AI
/// followed by `)`.
pub fn parse_hri(hri: &str) -> Result<ElementString, Gs1Error> {
    check_size(hri)?;
    let mut out = ElementString::default();
    let mut rest = hri;
    while !rest.is_empty() {
        let (ai, after) = ai_in_brackets(rest).ok_or_else(|| Gs1Error::Syntax(clip(rest)))?;
        let end = after
            .char_indices()
            .find(|&(i, c)| c == '(' && ai_in_brackets(&after[i..]).is_some())
            .map_or(after.len(), |(i, _)| i);
        let (value, tail) = after.split_at(end);
        out.push(Element::new(ai, value)?)?;
        rest = tail;
    }
    if out.elements.is_empty() {
        return Err(Gs1Error::Empty);
    }
    Ok(out)
}

/// `(ai)` at the start of `s` for a known AI: the AI and the text after `)`.
fn ai_in_brackets(s: &str) -> Option<(&str, &str)> {
    let inner = s.strip_prefix('(')?;
    let close = inner.bytes().take(5).position(|b| b == b')')?;
    let ai = inner.get(..close)?;
    gs1_ai::lookup(ai)?;
    Some((ai, inner.get(close + 1..)?))
}

fn check_size(s: &str) -> Result<(), Gs1Error> {
    match s.len() {
        0 => Err(Gs1Error::Empty),
        len if len > MAX_ELEMENT_STRING_LEN => Err(Gs1Error::TooLong {
            len,
            limit: MAX_ELEMENT_STRING_LEN,
        }),
        _ => Ok(()),
    }
}

/// A short excerpt of untrusted input for an error message.
fn clip(s: &str) -> String {
    s.chars().take(24).collect()
}

#[cfg(test)]
mod tests;
