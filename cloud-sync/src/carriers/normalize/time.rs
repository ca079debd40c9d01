//! Times as providers write them, to unix ms with the UTC offset where the
//! event happened (when they say).

use chrono::{DateTime, NaiveDate, NaiveDateTime};

/// An instant with the offset it was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct At {
    pub ms: i64,
    /// `None` when the text named no offset (read as UTC).
    pub offset_minutes: Option<i32>,
}

/// RFC 3339 / ISO 8601: `2024-05-01T10:00:00Z`, `...+02:00`, fractional
/// seconds, or no offset at all (read as UTC, offset unknown).
pub fn instant(s: &str) -> Option<At> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(At {
            ms: t.timestamp_millis(),
            offset_minutes: Some(t.offset().local_minus_utc() / 60),
        });
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f%z",
        "%Y-%m-%dT%H:%M:%S%z",
        "%Y-%m-%d %H:%M:%S%.f%z",
    ] {
        if let Ok(t) = DateTime::parse_from_str(s, f) {
            return Some(At {
                ms: t.timestamp_millis(),
                offset_minutes: Some(t.offset().local_minus_utc() / 60),
            });
        }
    }
    for f in [
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M:%S",
    ] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(At {
                ms: t.and_utc().timestamp_millis(),
                offset_minutes: None,
            });
        }
    }
    None
}

/// A local date and time with its offset in minutes (UPS sends them apart).
pub fn local(date: NaiveDate, time: chrono::NaiveTime, offset_minutes: i32) -> Option<At> {
    let local_ms = date.and_time(time).and_utc().timestamp_millis();
    Some(At {
        ms: local_ms.checked_sub(i64::from(offset_minutes) * 60_000)?,
        offset_minutes: Some(offset_minutes),
    })
}

/// The calendar date (`YYYY-MM-DD`) at the start of a date or date-time text,
/// for estimates: `2024-05-03T00:00:00Z` and `2024-05-03` both give
/// `2024-05-03`.
pub fn date(s: &str) -> Option<String> {
    let head = s.trim().get(..10)?;
    NaiveDate::parse_from_str(head, "%Y-%m-%d")
        .ok()
        .map(|d| d.format("%Y-%m-%d").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_keep_their_offset() {
        let a = instant("2024-05-01T10:00:00+02:00").expect("parses");
        assert_eq!(a.ms, 1_714_550_400_000);
        assert_eq!(a.offset_minutes, Some(120));
        let b = instant("2024-05-01T08:00:00Z").expect("parses");
        assert_eq!((b.ms, b.offset_minutes), (a.ms, Some(0)));
        let c = instant("2024-05-01T08:00:00").expect("parses");
        assert_eq!((c.ms, c.offset_minutes), (a.ms, None));
        assert!(instant("yesterday").is_none());
    }

    #[test]
    fn dates_are_read_from_dates_and_date_times() {
        assert_eq!(date("2024-05-03T00:00:00Z").as_deref(), Some("2024-05-03"));
        assert_eq!(date("2024-05-03").as_deref(), Some("2024-05-03"));
        assert_eq!(date("05/03/2024"), None);
        assert_eq!(date("2024-02-30"), None);
    }
}
