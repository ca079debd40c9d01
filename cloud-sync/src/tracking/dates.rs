//! Dates and times as a customer reads them: in their own time zone and in
//! their language's format ("3. Dezember 2026, 14:05", "3 décembre 2026
//! 14:05", "December 3, 2026, 2:05 PM", "3 de diciembre de 2026, 14:05").
//! Pure: the instant, the zone and the language are given.

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::lang::Lang;

/// The zone a page shows times in: the customer's, or UTC (said so) when
/// the order names none or one that does not exist.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    Named(Tz),
    /// Where a carrier event happened, by its offset.
    Fixed(FixedOffset),
    Utc,
}

impl Zone {
    pub fn parse(name: Option<&str>) -> Self {
        name.and_then(|n| n.trim().parse::<Tz>().ok())
            .map_or(Zone::Utc, Zone::Named)
    }
}

const MONTHS: [[&str; 12]; 4] = [
    [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ],
    [
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ],
    [
        "janvier",
        "février",
        "mars",
        "avril",
        "mai",
        "juin",
        "juillet",
        "août",
        "septembre",
        "octobre",
        "novembre",
        "décembre",
    ],
    [
        "enero",
        "febrero",
        "marzo",
        "abril",
        "mayo",
        "junio",
        "julio",
        "agosto",
        "septiembre",
        "octubre",
        "noviembre",
        "diciembre",
    ],
];

fn month(lang: Lang, m: u32) -> &'static str {
    let l = Lang::ALL.iter().position(|x| *x == lang).unwrap_or(0);
    MONTHS[l][(m.clamp(1, 12) - 1) as usize]
}

/// A calendar date: "December 3, 2026", "3. Dezember 2026", "1er décembre
/// 2026", "3 de diciembre de 2026".
pub fn date(lang: Lang, d: NaiveDate) -> String {
    let (day, m, y) = (d.day(), month(lang, d.month()), d.year());
    match lang {
        Lang::En => format!("{m} {day}, {y}"),
        Lang::De => format!("{day}. {m} {y}"),
        Lang::Fr if day == 1 => format!("1er {m} {y}"),
        Lang::Fr => format!("{day} {m} {y}"),
        Lang::Es => format!("{day} de {m} de {y}"),
    }
}

/// An instant (unix ms) in `zone`, with the time of day.
pub fn date_time(lang: Lang, zone: Zone, ms: i64) -> String {
    let Some(utc) = DateTime::<Utc>::from_timestamp_millis(ms) else {
        return String::new();
    };
    let (local_date, hour, minute) = match zone {
        Zone::Named(tz) => {
            let t = tz.from_utc_datetime(&utc.naive_utc());
            (t.date_naive(), t.hour(), t.minute())
        }
        Zone::Fixed(offset) => {
            let t = utc.with_timezone(&offset);
            (t.date_naive(), t.hour(), t.minute())
        }
        Zone::Utc => (utc.date_naive(), utc.hour(), utc.minute()),
    };
    let day = date(lang, local_date);
    let mut out = match lang {
        Lang::En => {
            let (h12, pm) = match hour {
                0 => (12, false),
                1..=11 => (hour, false),
                12 => (12, true),
                _ => (hour - 12, true),
            };
            format!("{day}, {h12}:{minute:02} {}", if pm { "PM" } else { "AM" })
        }
        Lang::De | Lang::Es => format!("{day}, {hour:02}:{minute:02}"),
        Lang::Fr => format!("{day} {hour:02}:{minute:02}"),
    };
    if zone == Zone::Utc {
        out.push_str(" UTC");
    }
    out
}

/// A half-open window of whole UTC days (as estimates and promises are kept)
/// as a date or a range of dates.
pub fn day_window(lang: Lang, from_ms: i64, to_ms: i64) -> String {
    let day = |ms: i64| DateTime::<Utc>::from_timestamp_millis(ms).map(|d| d.date_naive());
    let (Some(first), Some(last)) = (day(from_ms), day(to_ms.saturating_sub(1).max(from_ms))) else {
        return String::new();
    };
    if first == last {
        date(lang, first)
    } else {
        format!("{} – {}", date(lang, first), date(lang, last))
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// 2026-12-03T13:05:00Z: 14:05 in Berlin and Paris.
    const AT: i64 = 1_796_303_100_000;

    #[test]
    fn each_language_has_its_format_in_the_customers_zone() {
        let berlin = Zone::parse(Some("Europe/Berlin"));
        assert_eq!(date_time(Lang::De, berlin, AT), "3. Dezember 2026, 14:05");
        assert_eq!(
            date_time(Lang::Fr, Zone::parse(Some("Europe/Paris")), AT),
            "3 décembre 2026 14:05"
        );
        assert_eq!(
            date_time(Lang::Es, Zone::parse(Some("Europe/Madrid")), AT),
            "3 de diciembre de 2026, 14:05"
        );
        assert_eq!(date_time(Lang::En, berlin, AT), "December 3, 2026, 2:05 PM");
        let new_york = Zone::parse(Some("America/New_York"));
        assert_eq!(date_time(Lang::En, new_york, AT), "December 3, 2026, 8:05 AM");
        assert_eq!(
            date_time(Lang::En, Zone::parse(Some("Mars/Olympus")), AT),
            "December 3, 2026, 1:05 PM UTC"
        );
        assert_eq!(
            date_time(Lang::En, Zone::Utc, AT - 13 * 3_600_000),
            "December 3, 2026, 12:05 AM UTC"
        );
    }

    #[test]
    fn windows_read_as_a_day_or_a_range() {
        let day = 86_400_000;
        let from = NaiveDate::from_ymd_opt(2026, 12, 1)
            .and_then(|d| d.and_hms_opt(0, 0, 0))
            .map(|d| d.and_utc().timestamp_millis())
            .expect("date");
        assert_eq!(day_window(Lang::Fr, from, from + day), "1er décembre 2026");
        assert_eq!(
            day_window(Lang::En, from, from + 3 * day),
            "December 1, 2026 – December 3, 2026"
        );
    }

    proptest! {
        #[test]
        fn any_instant_formats_without_panicking(ms in any::<i64>(), l in 0usize..4) {
            let _text = date_time(Lang::ALL[l], Zone::parse(Some("Asia/Kolkata")), ms);
            let _window = day_window(Lang::ALL[l], ms, ms.saturating_add(1));
        }
    }
}
