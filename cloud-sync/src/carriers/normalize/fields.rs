//! The small readings every normalizer makes of a provider's optional text
//! fields, its codes and its messages: one place, so they read alike.

use crate::status::Party;

/// The field as sent, `""` when absent.
pub(super) fn text(v: &Option<String>) -> &str {
    v.as_deref().unwrap_or("")
}

/// The field trimmed, `""` when absent.
pub(super) fn trimmed(v: &Option<String>) -> &str {
    v.as_deref().map(str::trim).unwrap_or("")
}

/// The field trimmed, `None` when absent or blank.
pub(super) fn clean(v: &Option<String>) -> Option<String> {
    let t = trimmed(v);
    (!t.is_empty()).then(|| t.to_string())
}

/// `status/substatus/raw_code`, empty parts left out.
pub(super) fn join_code(parts: &[&str]) -> String {
    parts
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("/")
}

/// A lowercased message that names customs or the weather says whose the
/// exception is.
pub(super) fn weather_or_customs(msg: &str) -> Option<Party> {
    if msg.contains("customs") {
        Some(Party::Customs)
    } else if msg.contains("weather") {
        Some(Party::Weather)
    } else {
        None
    }
}

/// 16 hex digits of SHA-256 over `parts` (unit-separated): a stable key part
/// for events a provider gives no id.
pub(super) fn short_hash(parts: &[&str]) -> String {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    for p in parts {
        ctx.update(p.as_bytes());
        ctx.update(&[0x1f]);
    }
    ctx.finish()
        .as_ref()
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}
