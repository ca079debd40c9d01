//! GS1 Digital Link URIs (`https://id.gs1.org/01/09506000134352/10/ABC123?17=201231`):
//! the primary key and its qualifiers from the path, data attributes from the query,
//! each validated as the equivalent GS1 element.
//!
//! Any domain and any path before the primary key are accepted (the standard allows
//! brand domains and prefixes). Non-numeric query parameters such as `linkType` are
//! ignored; only the numeric path syntax is read, not the older alphabetic aliases.

use crate::element_string::{ElementString, Gs1Error};

/// Longest URI accepted.
pub const MAX_URI_LEN: usize = 2048;

/// Primary keys and, in their required order, the key qualifiers that may follow them
/// (GS1 Digital Link standard, URI syntax), restricted to AIs Waymark knows.
const PRIMARY_KEYS: &[(&str, &[&str])] = &[
    ("01", &["22", "10", "21"]),
    ("00", &[]),
    ("414", &["254"]),
    ("417", &[]),
    ("8003", &[]),
    ("8004", &[]),
    ("8018", &[]),
    ("401", &[]),
    ("402", &[]),
];

/// Why a URI was not a usable Digital Link.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigitalLinkError {
    #[error("not a GS1 Digital Link URI")]
    NotDigitalLink,
    #[error("URI is {len} bytes, longer than {MAX_URI_LEN}")]
    TooLong { len: usize },
    #[error("URI has an invalid percent-encoding")]
    BadEscape,
    #[error("AI ({0}) is a key or key qualifier and belongs in the path, not the query")]
    KeyInQuery(String),
    #[error(transparent)]
    Gs1(#[from] Gs1Error),
}

/// A parsed Digital Link: where it points and what it identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigitalLink {
    /// The authority (host and optional port) the URI names.
    pub domain: String,
    /// Primary key first, then its qualifiers, then data attributes.
    pub elements: ElementString,
}

/// Parses an `http` or `https` GS1 Digital Link URI. A URI that is not shaped like one
/// (no primary key in its path) is [`DigitalLinkError::NotDigitalLink`], so a caller can
/// treat it as a plain URL; a URI that is shaped like one but invalid is a specific error.
pub fn parse(uri: &str) -> Result<DigitalLink, DigitalLinkError> {
    if uri.len() > MAX_URI_LEN {
        return Err(DigitalLinkError::TooLong { len: uri.len() });
    }
    let lower = uri.get(..8).unwrap_or(uri).to_ascii_lowercase();
    let rest = if lower.starts_with("https://") {
        uri.get(8..)
    } else if lower.starts_with("http://") {
        uri.get(7..)
    } else {
        None
    }
    .ok_or(DigitalLinkError::NotDigitalLink)?;
    let rest = rest.split('#').next().unwrap_or_default();
    let (before_query, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (domain, path) = before_query.split_once('/').ok_or(DigitalLinkError::NotDigitalLink)?;
    if domain.is_empty() {
        return Err(DigitalLinkError::NotDigitalLink);
    }
    let mut segments: Vec<&str> = path.split('/').collect();
    if segments.last() == Some(&"") {
        segments.pop();
    }
    let (start, qualifiers) = find_primary_key(&segments).ok_or(DigitalLinkError::NotDigitalLink)?;
    let mut pairs: Vec<(String, String)> = Vec::new();
    for pair in segments.get(start..).unwrap_or_default().chunks(2) {
        if let [ai, value] = pair {
            let value = percent_decode(value)?;
            let value = if *ai == "01" { pad_gtin(&value) } else { value };
            pairs.push(((*ai).to_string(), value));
        }
    }
    for param in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = param.split_once('=').unwrap_or((param, ""));
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if PRIMARY_KEYS.iter().any(|(k, _)| *k == key) || qualifiers.contains(&key) {
            return Err(DigitalLinkError::KeyInQuery(key.chars().take(8).collect()));
        }
        pairs.push((key.to_string(), percent_decode(value)?));
    }
    let elements = ElementString::from_pairs(pairs.iter().map(|(a, v)| (a.as_str(), v.as_str())))?;
    Ok(DigitalLink {
        domain: domain.to_string(),
        elements,
    })
}

/// Builds the canonical-form URI on `domain` (e.g. `id.gs1.org`): key and qualifiers in
/// the path, other elements as query parameters. Errors if the first element is not a
/// primary key.
pub fn to_uri(domain: &str, elements: &ElementString) -> Result<String, DigitalLinkError> {
    let items = elements.elements();
    let first = items.first().ok_or(DigitalLinkError::NotDigitalLink)?;
    let (_, qualifiers) = PRIMARY_KEYS
        .iter()
        .find(|(k, _)| *k == first.ai)
        .ok_or(DigitalLinkError::NotDigitalLink)?;
    let mut path = format!("https://{domain}/{}/{}", first.ai, percent_encode(&first.value));
    let mut query = Vec::new();
    for q in qualifiers.iter() {
        if let Some(v) = elements.get(q) {
            path.push_str(&format!("/{q}/{}", percent_encode(v)));
        }
    }
    for e in items.iter().skip(1).filter(|e| !qualifiers.contains(&e.ai.as_str())) {
        query.push(format!("{}={}", e.ai, percent_encode(&e.value)));
    }
    if !query.is_empty() {
        path.push('?');
        path.push_str(&query.join("&"));
    }
    Ok(path)
}

/// The first position where a primary key AI is followed by a value and then only its
/// qualifiers, in order, each with a value.
fn find_primary_key(segments: &[&str]) -> Option<(usize, &'static [&'static str])> {
    (0..segments.len()).find_map(|i| {
        let (_, qualifiers) = PRIMARY_KEYS.iter().find(|(k, _)| segments.get(i) == Some(k))?;
        let rest = segments.get(i + 2..)?;
        if segments.get(i + 1).is_none_or(|v| v.is_empty()) || rest.len() % 2 != 0 {
            return None;
        }
        let mut allowed = qualifiers.iter();
        let in_order = rest
            .chunks(2)
            .all(|pair| matches!(pair, [ai, v] if !v.is_empty() && allowed.any(|q| q == ai)));
        in_order.then_some((i, *qualifiers))
    })
}

/// GTIN-8, -12 and -13 are written in a Digital Link as they are; the element is GTIN-14.
fn pad_gtin(value: &str) -> String {
    if matches!(value.len(), 8 | 12 | 13) && value.bytes().all(|b| b.is_ascii_digit()) {
        format!("{value:0>14}")
    } else {
        value.to_string()
    }
}

fn percent_decode(s: &str) -> Result<String, DigitalLinkError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or(DigitalLinkError::BadEscape)?;
            let hex = std::str::from_utf8(hex).map_err(|_| DigitalLinkError::BadEscape)?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| DigitalLinkError::BadEscape)?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| DigitalLinkError::BadEscape)
}

/// Percent-encodes everything outside the URI unreserved set.
fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
