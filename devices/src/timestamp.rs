//! Device timestamps: the ISO 8601 forms vendors send, with the zone offset kept.

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveTime, SecondsFormat, TimeZone};

/// Longest timestamp text accepted.
const MAX_LEN: usize = 64;

/// Parses RFC 3339 (`...Z`, `...+01:00`) and the colon-less offset Zebra readers send
/// (`2023-02-24T10:14:42.851+0000`). A time without an offset is rejected: guessing the
/// zone would shift events by hours.
pub(crate) fn parse(s: &str) -> Option<DateTime<FixedOffset>> {
    if s.len() > MAX_LEN {
        return None;
    }
    // The common form holds no whitespace by its shape; chrono's parsers would
    // skip some, so it is refused before them.
    parse_common(s.as_bytes()).or_else(|| (!s.chars().any(char::is_whitespace)).then(|| parse_chrono(s)).flatten())
}

fn parse_chrono(s: &str) -> Option<DateTime<FixedOffset>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .or_else(|| with_offset_colon(s).and_then(|t| DateTime::parse_from_rfc3339(&t).ok()))
        .or_else(|| DateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f%z").ok())
}

/// The form nearly every device sends, `YYYY-MM-DDTHH:MM:SS[.f{1,9}]` then `Z`,
/// `+hh:mm` or `+hhmm`, read without chrono's general parsers (every read
/// carries a time). `None` for anything else, including a leap second, which
/// then goes through chrono: this never takes a time chrono would not.
fn parse_common(s: &[u8]) -> Option<DateTime<FixedOffset>> {
    let digit = |i: usize| s.get(i).filter(|b| b.is_ascii_digit()).map(|b| u32::from(b - b'0'));
    let two = |i: usize| Some(digit(i)? * 10 + digit(i + 1)?);
    let at = |i: usize, c: u8| s.get(i) == Some(&c);
    if !(at(4, b'-') && at(7, b'-') && at(10, b'T') && at(13, b':') && at(16, b':')) {
        return None;
    }
    let year = two(0)? * 100 + two(2)?;
    let (month, day, hour, minute, second) = (two(5)?, two(8)?, two(11)?, two(14)?, two(17)?);
    if second > 59 {
        return None;
    }
    let mut i = 19;
    let mut nanos = 0;
    if at(i, b'.') {
        i += 1;
        let start = i;
        while let Some(d) = digit(i) {
            if i - start == 9 {
                return None;
            }
            nanos = nanos * 10 + d;
            i += 1;
        }
        let digits = (i - start) as u32;
        if digits == 0 {
            return None;
        }
        nanos *= 10u32.pow(9 - digits);
    }
    let offset = match (s.get(i)?, s.len() - i) {
        (b'Z', 1) => 0,
        (sign @ (b'+' | b'-'), len @ (5 | 6)) => {
            let minutes_at = if len == 6 && at(i + 3, b':') {
                i + 4
            } else if len == 5 {
                i + 3
            } else {
                return None;
            };
            let (h, m) = (two(i + 1)?, two(minutes_at)?);
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            if *sign == b'-' { -secs } else { secs }
        }
        _ => return None,
    };
    let local = NaiveDate::from_ymd_opt(year as i32, month, day)?
        .and_time(NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)?);
    FixedOffset::east_opt(offset)?.from_local_datetime(&local).single()
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

    proptest::proptest! {
        /// The fast reader only takes what chrono takes, and reads it the same.
        #[test]
        fn the_common_form_reads_as_chrono_reads_it(
            s in r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,10})?(Z|[+-][0-9]{2}:?[0-9]{2})"
        ) {
            if let Some(fast) = parse_common(s.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast), parse_chrono(&s), "{}", s);
            }
        }

        #[test]
        fn plausible_times_take_the_fast_path(
            (y, mo, d, h, mi, se) in (1970u32..2100, 1u32..=12, 1u32..=28, 0u32..24, 0u32..60, 0u32..60),
            frac in r"(\.[0-9]{1,9})?",
            zone in r"(Z|[+-](0[0-9]|1[0-3]):?[0-5][0-9])",
        ) {
            let s = format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{se:02}{frac}{zone}");
            proptest::prop_assert!(parse_common(s.as_bytes()).is_some(), "{}", s);
            proptest::prop_assert_eq!(parse_common(s.as_bytes()), parse_chrono(&s), "{}", s);
        }
    }
}
