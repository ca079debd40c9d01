//! The URIs an EPCIS document names things by: GS1 identifiers as EPC URNs or
//! GS1 Digital Link URIs, and Waymark's own things (sites, read points, order
//! and tracking numbers, values that are not GS1 keys) under `urn:waymark:epcis:`.

use sha2::{Digest, Sha256};
use waymark_devices::{epc, gs1};
use waymark_proto::v1::IdentifierKind;

/// Waymark's namespace: the `waymark:` prefix of extension fields in the
/// document's `@context`, and the root of the URIs below. A URN namespace needs
/// no domain of ours; the GS1 context itself maps `cbvmda` to a URN the same way.
pub const WAYMARK_NS: &str = "urn:waymark:epcis:";

/// The prefix GS1 Digital Link gives an SSCC (AI 00). EPCIS 2.0 accepts it in
/// `epcList`; the EPC URN (`urn:epc:id:sscc:`) would need the GS1 company
/// prefix length, which an 18-digit SSCC does not say.
const SSCC_DIGITAL_LINK: &str = "https://id.gs1.org/00/";

/// `urn:waymark:epcis:` and `parts`, each percent-encoded, joined by `:`.
pub fn waymark(parts: &[&str]) -> String {
    let mut out = String::from(WAYMARK_NS);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push_str(&pct(p));
    }
    out
}

/// The object URI of an identifier, for `epcList`, `parentID` and `childEPCs`;
/// `None` for kinds that name a business transaction instead (order and
/// tracking numbers).
pub fn object(kind: IdentifierKind, value: &str) -> Option<String> {
    if value.is_empty() {
        return None;
    }
    match kind {
        IdentifierKind::Sscc if gs1::is_valid_sscc(value) => Some(format!("{SSCC_DIGITAL_LINK}{value}")),
        IdentifierKind::Sscc => Some(waymark(&["sscc", value])),
        IdentifierKind::Epc => Some(epc_uri(value)),
        IdentifierKind::Barcode if is_plain_uri(value) && value.starts_with("https://") => Some(value.to_string()),
        IdentifierKind::Barcode => Some(waymark(&["barcode", value])),
        IdentifierKind::TrackingNumber | IdentifierKind::OrderNumber | IdentifierKind::Unspecified => None,
    }
}

/// Gateways record an EPC as its pure-identity URN (or the TDS raw URN when it
/// does not decode); an older gateway's hex is converted the same way here.
fn epc_uri(value: &str) -> String {
    if value.starts_with("urn:epc:id:")
        && let Ok(parsed) = epc::parse_urn(value, 0)
    {
        return parsed.urn();
    }
    if value.starts_with("urn:epc:") && is_plain_uri(value) {
        return value.to_string();
    }
    if let Ok((id, _)) = epc::identifier_for_hex(value) {
        return id.value;
    }
    waymark(&["epc", value])
}

/// Whether `uri` is an SSCC the other forms of which should also match it.
pub fn is_sscc(uri: &str) -> bool {
    uri.starts_with(SSCC_DIGITAL_LINK) || uri.starts_with("urn:epc:id:sscc:")
}

/// The business location of a site.
pub fn site(site_id: &str) -> String {
    waymark(&["site", site_id])
}

/// The site a business location URI of [`site`] names.
pub fn site_of(location: &str) -> Option<String> {
    let rest = location.strip_prefix(WAYMARK_NS)?.strip_prefix("site:")?;
    if rest.contains(':') {
        return None;
    }
    unpct(rest)
}

/// The read point: a URI the gateway was configured with (an SGLN, say) as
/// it is, else the read point's name within its site.
pub fn read_point(site_id: &str, read_point: &str) -> Option<String> {
    if read_point.is_empty() {
        return None;
    }
    if is_plain_uri(read_point) && (read_point.starts_with("urn:") || read_point.starts_with("https://")) {
        return Some(read_point.to_string());
    }
    Some(waymark(&["site", site_id, "rp", read_point]))
}

/// A deterministic `urn:uuid:` for an event: an event id is unique within
/// its site, so the pair is hashed (a UUID of version 8, RFC 9562).
pub fn event_id(site_id: &str, event_id: &str) -> String {
    let mut hash = Sha256::new();
    hash.update(b"waymark-epcis-event\n");
    hash.update(site_id.as_bytes());
    hash.update(b"\n");
    hash.update(event_id.as_bytes());
    let digest = hash.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    b[6] = (b[6] & 0x0f) | 0x80;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = waymark_proto::hex(&b);
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whether `s` is an absolute URI in a conservative subset of RFC 3986 that
/// any validator accepts: a scheme, then only unreserved, reserved or
/// percent-encoded characters (no brackets, no userinfo or port, one `#`).
pub fn is_plain_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    if !scheme_ok || rest.is_empty() || s.matches('#').count() > 1 {
        return false;
    }
    if let Some(hier) = rest.strip_prefix("//") {
        let authority = hier.split(['/', '?', '#']).next().unwrap_or_default();
        if authority.is_empty()
            || !authority
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        {
            return false;
        }
    } else if rest.starts_with('/') {
        return false;
    }
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'%' {
            let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
            if !(hex(i + 1) && hex(i + 2)) {
                return false;
            }
            i += 3;
            continue;
        }
        let allowed = c.is_ascii_alphanumeric() || b"-._~:/?#@!$&'()*+,;=".contains(&c);
        if !allowed {
            return false;
        }
        i += 1;
    }
    true
}

/// Percent-encodes all but RFC 3986's unreserved characters.
pub fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Reverses [`pct`]; `None` for a bad escape or bytes that are not UTF-8.
pub fn unpct(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gs1_identifiers_become_gs1_uris() {
        assert_eq!(
            object(IdentifierKind::Sscc, "106141412345678908").as_deref(),
            Some("https://id.gs1.org/00/106141412345678908")
        );
        assert_eq!(
            object(IdentifierKind::Epc, "urn:epc:id:sgtin:0614141.812345.6789").as_deref(),
            Some("urn:epc:id:sgtin:0614141.812345.6789")
        );
        // An SGTIN-96 read as hex by an older gateway.
        assert_eq!(
            object(IdentifierKind::Epc, "3074257BF7194E4000001A85").as_deref(),
            Some("urn:epc:id:sgtin:0614141.812345.6789")
        );
        assert_eq!(
            object(IdentifierKind::Epc, "urn:epc:raw:96.xE2801160600002").as_deref(),
            Some("urn:epc:raw:96.xE2801160600002")
        );
        assert_eq!(object(IdentifierKind::TrackingNumber, "1Z999"), None);
    }

    #[test]
    fn waymark_things_are_percent_encoded_urns() {
        assert_eq!(
            read_point("dc-1", "dock door 3").as_deref(),
            Some("urn:waymark:epcis:site:dc-1:rp:dock%20door%203")
        );
        assert_eq!(
            read_point("dc-1", "urn:epc:id:sgln:0614141.07346.1234").as_deref(),
            Some("urn:epc:id:sgln:0614141.07346.1234")
        );
        assert_eq!(site_of(&site("dc_1")).as_deref(), Some("dc_1"));
        assert_eq!(site_of("urn:waymark:epcis:site:dc-1:rp:x"), None);
        assert_eq!(unpct(&pct("a b/ü%")).as_deref(), Some("a b/ü%"));
    }

    #[test]
    fn event_ids_are_stable_uuids() {
        let id = event_id("dc-1", "evt-1");
        assert_eq!(id, event_id("dc-1", "evt-1"));
        assert_ne!(id, event_id("dc-2", "evt-1"));
        assert_eq!(id.len(), "urn:uuid:".len() + 36);
        assert_eq!(&id[23..24], "8", "{id}");
    }

    #[test]
    fn only_plain_uris_pass() {
        assert!(is_plain_uri("urn:epc:id:sgln:0614141.07346.1234"));
        assert!(is_plain_uri("https://id.gs1.org/414/0614141073467"));
        assert!(!is_plain_uri("dock-door-3"));
        assert!(!is_plain_uri("urn:x y"));
        assert!(!is_plain_uri("https://[::1]/x"));
        assert!(!is_plain_uri("a:%zz"));
    }
}
