//! CBV 2.0 business steps and dispositions: the words a site's events carry,
//! as the bare terms the EPCIS 2.0 JSON schema accepts, or a URI of ours.

use super::uri;

/// CBV 2.0 business steps (the schema's `bizStep` enum).
const BIZ_STEPS: &[&str] = &[
    "accepting",
    "arriving",
    "assembling",
    "collecting",
    "commissioning",
    "consigning",
    "creating_class_instance",
    "cycle_counting",
    "decommissioning",
    "departing",
    "destroying",
    "disassembling",
    "dispensing",
    "encoding",
    "entering_exiting",
    "holding",
    "inspecting",
    "installing",
    "killing",
    "loading",
    "other",
    "packing",
    "picking",
    "receiving",
    "removing",
    "repackaging",
    "repairing",
    "replacing",
    "reserving",
    "retail_selling",
    "shipping",
    "staging_outbound",
    "stock_taking",
    "stocking",
    "storing",
    "transporting",
    "unloading",
    "unpacking",
    "void_shipping",
    "sensor_reporting",
    "sampling",
];

/// CBV 2.0 dispositions (the schema's `disposition` enum).
const DISPOSITIONS: &[&str] = &[
    "active",
    "container_closed",
    "damaged",
    "destroyed",
    "dispensed",
    "disposed",
    "encoded",
    "expired",
    "in_progress",
    "in_transit",
    "inactive",
    "no_pedigree_match",
    "non_sellable_other",
    "partially_dispensed",
    "recalled",
    "reserved",
    "retail_sold",
    "returned",
    "sellable_accessible",
    "sellable_not_accessible",
    "stolen",
    "unknown",
    "available",
    "completeness_verified",
    "completeness_inferred",
    "conformant",
    "container_open",
    "mismatch_instance",
    "mismatch_class",
    "mismatch_quantity",
    "needs_replacement",
    "non_conformant",
    "unavailable",
];

/// Waymark's own step names that have a CBV term. A return received at a dock
/// is CBV `receiving`; its disposition (`returned`) says it is a return.
const BIZ_STEP_ALIASES: &[(&str, &str)] = &[("returns_receiving", "receiving")];

/// Prefixes of the older CBV forms (URN, CBV 1.2) and the web vocabulary (CBV 2.0).
const BIZ_STEP_PREFIXES: &[&str] = &[
    "urn:epcglobal:cbv:bizstep:",
    "https://ref.gs1.org/cbv/BizStep-",
    "https://gs1.org/voc/BizStep-",
];
const DISPOSITION_PREFIXES: &[&str] = &[
    "urn:epcglobal:cbv:disp:",
    "https://ref.gs1.org/cbv/Disp-",
    "https://gs1.org/voc/Disp-",
];

/// The `bizStep` for an event's business step: a bare CBV term, the URI it
/// already is, or one of ours; `None` for an empty step.
pub fn biz_step(step: &str) -> Option<String> {
    term(step, BIZ_STEPS, BIZ_STEP_ALIASES, BIZ_STEP_PREFIXES, "bizstep")
}

/// The `disposition` for an event's disposition, like [`biz_step`].
pub fn disposition(disposition: &str) -> Option<String> {
    term(disposition, DISPOSITIONS, &[], DISPOSITION_PREFIXES, "disp")
}

fn term(value: &str, known: &[&str], aliases: &[(&str, &str)], prefixes: &[&str], kind: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    let bare = prefixes.iter().find_map(|p| value.strip_prefix(p)).unwrap_or(value);
    if let Some(t) = known.iter().find(|t| **t == bare) {
        return Some((*t).to_string());
    }
    if let Some((_, t)) = aliases.iter().find(|(a, _)| *a == bare) {
        return Some((*t).to_string());
    }
    // A URI of someone else's vocabulary stays as it is; the schema refuses
    // unknown terms in the CBV namespaces, so those become ours.
    if uri::is_plain_uri(value)
        && !value.starts_with("urn:epcglobal:cbv")
        && !value.starts_with("https://ns.gs1.org/cbv/")
    {
        return Some(value.to_string());
    }
    Some(uri::waymark(&[kind, value]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cbv_names_in_any_form_become_bare_terms() {
        assert_eq!(biz_step("loading").as_deref(), Some("loading"));
        assert_eq!(
            biz_step("urn:epcglobal:cbv:bizstep:shipping").as_deref(),
            Some("shipping")
        );
        assert_eq!(
            biz_step("https://ref.gs1.org/cbv/BizStep-packing").as_deref(),
            Some("packing")
        );
        assert_eq!(biz_step("returns_receiving").as_deref(), Some("receiving"));
        assert_eq!(disposition("in_transit").as_deref(), Some("in_transit"));
        assert_eq!(
            disposition("urn:epcglobal:cbv:disp:returned").as_deref(),
            Some("returned")
        );
        assert_eq!(biz_step(""), None);
    }

    #[test]
    fn other_words_become_waymark_uris() {
        assert_eq!(
            biz_step("teleporting").as_deref(),
            Some("urn:waymark:epcis:bizstep:teleporting")
        );
        assert_eq!(
            disposition("urn:epcglobal:cbv:disp:lost").as_deref(),
            Some("urn:waymark:epcis:disp:urn%3Aepcglobal%3Acbv%3Adisp%3Alost")
        );
        assert_eq!(
            biz_step("https://example.com/steps/x").as_deref(),
            Some("https://example.com/steps/x")
        );
    }
}
