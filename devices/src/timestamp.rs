//! Device timestamps: the ISO 8601 forms vendors send, with the zone offset kept.

use chrono::{DateTime, FixedOffset, SecondsFormat};

/// Longest timestamp text accepted.
const MAX_LEN: usize = 64;

/// Parses RFC 3339 (`...Z`, `...+01:00`) and the colon-less offset Zebra readers send
/// (`2023-02-24T10:14:42.851+0000`). A time without an offset is rejected: guessing the
/// zone would shift events by hours.
pub(crate) fn parse(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.len() > MAX_LEN || s.chars().any(char::is_whitespace) {
        return None;
    }
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| with_offset_colon(s).and_then(|t| DateTime::parse_from_rfc3339(&t).ok()))
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
}

/// `...+0000` as `...+00:00`: chrono's RFC 3339 parser is several times faster
/// than its format-string one, and every Zebra read carries this form.
fn with_offset_colon(s: &str) -> Option<String> {
    let (head, hhmm) = s.split_at_checked(s.len().checked_sub(4)?)?;
    if !head.ends_with(['+', '-']) || !hhmm.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(format!("{head}{}:{}", &hhmm[..2], &hhmm[2..]))
}

/// RFC 3339 with milliseconds and a `+hh:mm` offset.
pub(crate) fn rfc3339_millis(t: DateTime<FixedOffset>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, false)
}

/// The Zebra IoT Connector form: milliseconds and a `+hhmm` offset.
pub(crate) fn zebra(t: DateTime<FixedOffset>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_vendor_offsets_and_rejects_missing_ones() {
        let zebra_form = parse("2023-02-24T10:14:42.851+0000").expect("Zebra timestamp");
        assert_eq!(zebra_form, parse("2023-02-24T10:14:42.851Z").expect("RFC 3339"));
        assert_eq!(zebra(zebra_form), "2023-02-24T10:14:42.851+0000");
        let east = parse("2023-02-24T10:14:42+05:30").expect("offset with colon");
        assert_eq!(east.offset().local_minus_utc(), 19_800);
        assert_eq!(parse(&rfc3339_millis(east)), Some(east));
        assert_eq!(
            parse("2023-02-24T10:14:42-0130")
                .expect("west")
                .offset()
                .local_minus_utc(),
            -5_400
        );
        for bad in [
            "2023-02-24T10:14:42.851",
            "2023-02-24T10:14:42.851+2400",
            "2023-02-24T10:14:42.851+000",
            "2023-02-24 10:14:42Z",
            "2023-02-24T10:14:42.851 +0000",
            "yesterday",
            "",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
