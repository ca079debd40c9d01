//! GS1 Application Identifiers: the AIs Waymark reads and the rules for one AI's value
//! (GS1 General Specifications section 3 and the GS1 Barcode Syntax Dictionary).
//!
//! The table covers logistics labels: keys (SSCC, GTIN, GLN, GRAI, GIAI), lot, serial and
//! dates, trade and logistic measures, order and routing numbers, and the 4300-series
//! ship-to / return-to fields. An AI outside it is reported, never skipped.

use crate::gs1;

/// How an AI's value is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AiFormat {
    /// Exactly `len` digits; with `check`, the last one is a GS1 mod-10 check digit.
    Digits { len: u8, check: bool },
    /// One to `max` digits.
    DigitsUpTo { max: u8 },
    /// One to `max` characters of GS1 AI encodable character set 82.
    Text { max: u8 },
    /// Exactly `len` characters of set 82 (an ISO 3166 alpha-2 country code).
    TextFixed { len: u8 },
    /// `YYMMDD`; with `zero_day`, `DD = 00` means the last day of the month.
    Date { zero_day: bool },
    /// `YYMMDDhhmm`.
    DateTime,
    /// Six digits; the AI's last digit (0-5) is the number of implied decimal places.
    Decimal,
    /// A three-digit ISO 3166 numeric country code, then one to `max` characters (AI 421).
    CountryText { max: u8 },
    /// GRAI: 14 digits ending in a check digit, then up to 16 characters of serial (AI 8003).
    Grai,
    /// One digit, `0` or `1`.
    Flag,
}

impl AiFormat {
    /// The value's length when it is fixed by the format.
    pub fn fixed_len(self) -> Option<usize> {
        match self {
            Self::Digits { len, .. } | Self::TextFixed { len } => Some(usize::from(len)),
            Self::Date { .. } | Self::Decimal => Some(6),
            Self::DateTime => Some(10),
            Self::Flag => Some(1),
            Self::DigitsUpTo { .. } | Self::Text { .. } | Self::CountryText { .. } | Self::Grai => None,
        }
    }

    /// The longest value the format allows.
    pub fn max_len(self) -> usize {
        match self {
            Self::DigitsUpTo { max } | Self::Text { max } => usize::from(max),
            Self::CountryText { max } => 3 + usize::from(max),
            Self::Grai => 30,
            other => other.fixed_len().unwrap_or(0),
        }
    }
}

/// One row of the AI table. `code` is the whole AI, except for the measure families
/// (310n, 330n, ...) where it is the first three digits and `ai_len` is 4.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AiSpec {
    pub code: &'static str,
    pub ai_len: u8,
    pub title: &'static str,
    pub format: AiFormat,
}

const fn ai(code: &'static str, title: &'static str, format: AiFormat) -> AiSpec {
    AiSpec {
        code,
        ai_len: code.len() as u8,
        title,
        format,
    }
}

const fn measure(code: &'static str, title: &'static str) -> AiSpec {
    AiSpec {
        code,
        ai_len: 4,
        title,
        format: AiFormat::Decimal,
    }
}

use AiFormat::{CountryText, Date, DateTime, Digits, DigitsUpTo, Flag, Grai, Text, TextFixed};

const KEY14: AiFormat = Digits { len: 14, check: true };
const GLN: AiFormat = Digits { len: 13, check: true };
const DATE0: AiFormat = Date { zero_day: true };

#[rustfmt::skip]
static TABLE: &[AiSpec] = &[
    ai("00", "SSCC", Digits { len: 18, check: true }),
    ai("01", "GTIN", KEY14),
    ai("02", "CONTENT", KEY14),
    ai("10", "BATCH/LOT", Text { max: 20 }),
    ai("11", "PROD DATE", DATE0),
    ai("12", "DUE DATE", DATE0),
    ai("13", "PACK DATE", DATE0),
    ai("15", "BEST BEFORE or BEST BY", DATE0),
    ai("16", "SELL BY", DATE0),
    ai("17", "USE BY OR EXPIRY", DATE0),
    ai("20", "VARIANT", Digits { len: 2, check: false }),
    ai("21", "SERIAL", Text { max: 20 }),
    ai("22", "CPV", Text { max: 20 }),
    ai("240", "ADDITIONAL ID", Text { max: 30 }),
    ai("241", "CUST. PART No.", Text { max: 30 }),
    ai("254", "GLN EXTENSION COMPONENT", Text { max: 20 }),
    ai("30", "VAR. COUNT", DigitsUpTo { max: 8 }),
    measure("310", "NET WEIGHT (kg)"), measure("311", "LENGTH (m)"), measure("312", "WIDTH (m)"),
    measure("313", "HEIGHT (m)"), measure("314", "AREA (m²)"), measure("315", "NET VOLUME (l)"),
    measure("316", "NET VOLUME (m³)"),
    measure("320", "NET WEIGHT (lb)"), measure("321", "LENGTH (in)"), measure("322", "LENGTH (ft)"),
    measure("323", "LENGTH (yd)"), measure("324", "WIDTH (in)"), measure("325", "WIDTH (ft)"),
    measure("326", "WIDTH (yd)"), measure("327", "HEIGHT (in)"), measure("328", "HEIGHT (ft)"),
    measure("329", "HEIGHT (yd)"),
    measure("330", "GROSS WEIGHT (kg)"), measure("331", "LENGTH (m), log"), measure("332", "WIDTH (m), log"),
    measure("333", "HEIGHT (m), log"), measure("334", "AREA (m²), log"), measure("335", "VOLUME (l), log"),
    measure("336", "VOLUME (m³), log"), measure("337", "KG PER m²"),
    measure("340", "GROSS WEIGHT (lb)"), measure("341", "LENGTH (in), log"), measure("342", "LENGTH (ft), log"),
    measure("343", "LENGTH (yd), log"), measure("344", "WIDTH (in), log"), measure("345", "WIDTH (ft), log"),
    measure("346", "WIDTH (yd), log"), measure("347", "HEIGHT (in), log"), measure("348", "HEIGHT (ft), log"),
    measure("349", "HEIGHT (yd), log"),
    measure("350", "AREA (in²)"), measure("351", "AREA (ft²)"), measure("352", "AREA (yd²)"),
    measure("353", "AREA (in²), log"), measure("354", "AREA (ft²), log"), measure("355", "AREA (yd²), log"),
    measure("356", "NET WEIGHT (troy oz)"), measure("357", "NET VOLUME (oz)"),
    measure("360", "NET VOLUME (qt)"), measure("361", "NET VOLUME (gal.)"), measure("362", "VOLUME (qt), log"),
    measure("363", "VOLUME (gal.), log"), measure("364", "VOLUME (in³)"), measure("365", "VOLUME (ft³)"),
    measure("366", "VOLUME (yd³)"), measure("367", "VOLUME (in³), log"), measure("368", "VOLUME (ft³), log"),
    measure("369", "VOLUME (yd³), log"),
    ai("37", "COUNT", DigitsUpTo { max: 8 }),
    ai("400", "ORDER NUMBER", Text { max: 30 }),
    ai("401", "GINC", Text { max: 30 }),
    ai("402", "GSIN", Digits { len: 17, check: true }),
    ai("403", "ROUTE", Text { max: 30 }),
    ai("410", "SHIP TO LOC", GLN), ai("411", "BILL TO", GLN), ai("412", "PURCHASE FROM", GLN),
    ai("413", "SHIP FOR LOC", GLN), ai("414", "LOC No.", GLN), ai("415", "PAY TO", GLN),
    ai("416", "PROD/SERV LOC", GLN), ai("417", "PARTY", GLN),
    ai("420", "SHIP TO POST", Text { max: 20 }),
    ai("421", "SHIP TO POST", CountryText { max: 9 }),
    ai("422", "ORIGIN", Digits { len: 3, check: false }),
    ai("4300", "SHIP TO COMP", Text { max: 35 }), ai("4301", "SHIP TO NAME", Text { max: 35 }),
    ai("4302", "SHIP TO ADD1", Text { max: 70 }), ai("4303", "SHIP TO ADD2", Text { max: 70 }),
    ai("4304", "SHIP TO SUB", Text { max: 70 }), ai("4305", "SHIP TO LOC", Text { max: 70 }),
    ai("4306", "SHIP TO REG", Text { max: 70 }), ai("4307", "SHIP TO COUNTRY", TextFixed { len: 2 }),
    ai("4308", "SHIP TO PHONE", Text { max: 30 }), ai("4309", "SHIP TO GEO", Digits { len: 20, check: false }),
    ai("4310", "RTN TO COMP", Text { max: 35 }), ai("4311", "RTN TO NAME", Text { max: 35 }),
    ai("4312", "RTN TO ADD1", Text { max: 70 }), ai("4313", "RTN TO ADD2", Text { max: 70 }),
    ai("4314", "RTN TO SUB", Text { max: 70 }), ai("4315", "RTN TO LOC", Text { max: 70 }),
    ai("4316", "RTN TO REG", Text { max: 70 }), ai("4317", "RTN TO COUNTRY", TextFixed { len: 2 }),
    ai("4318", "RTN TO POST", Text { max: 20 }), ai("4319", "RTN TO PHONE", Text { max: 30 }),
    ai("4320", "SRV DESCRIPTION", Text { max: 35 }), ai("4321", "DANGEROUS GOODS", Flag),
    ai("4322", "AUTH LEAVE", Flag), ai("4323", "SIG REQUIRED", Flag),
    ai("4324", "NBEF DEL DT", DateTime), ai("4325", "NAFT DEL DT", DateTime),
    ai("4326", "REL DATE", Date { zero_day: false }),
    ai("8003", "GRAI", Grai),
    ai("8004", "GIAI", Text { max: 30 }),
    ai("8018", "GSRN - RECIPIENT", Digits { len: 18, check: true }),
    ai("90", "INTERNAL", Text { max: 30 }),
    ai("91", "INTERNAL", Text { max: 90 }), ai("92", "INTERNAL", Text { max: 90 }),
    ai("93", "INTERNAL", Text { max: 90 }), ai("94", "INTERNAL", Text { max: 90 }),
    ai("95", "INTERNAL", Text { max: 90 }), ai("96", "INTERNAL", Text { max: 90 }),
    ai("97", "INTERNAL", Text { max: 90 }), ai("98", "INTERNAL", Text { max: 90 }),
    ai("99", "INTERNAL", Text { max: 90 }),
];

/// AIs whose element string has a predefined length and so needs no FNC1 separator after it
/// (GS1 General Specifications, "Element strings with predefined length using AIs").
const PREDEFINED_LENGTH_PREFIXES: [&str; 22] = [
    "00", "01", "02", "03", "04", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "31", "32", "33", "34",
    "35", "36", "41",
];

/// The spec of the exact AI `ai` (e.g. `"3103"`), if Waymark knows it.
pub fn lookup(ai: &str) -> Option<AiSpec> {
    if !(2..=4).contains(&ai.len()) || !ai.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    TABLE.iter().copied().find(|spec| {
        usize::from(spec.ai_len) == ai.len()
            && match spec.format {
                AiFormat::Decimal => ai.starts_with(spec.code) && matches!(ai.as_bytes()[3], b'0'..=b'5'),
                _ => spec.code == ai,
            }
    })
}

/// The AI at the start of `data` and its spec. GS1 AIs are prefix-free, so at most one
/// of the 2-, 3- and 4-digit candidates is an AI.
pub fn lookup_prefix(data: &str) -> Option<(&str, AiSpec)> {
    (2..=4).find_map(|len| {
        let candidate = data.get(..len)?;
        lookup(candidate).map(|spec| (candidate, spec))
    })
}

/// True when an element string with this AI needs no FNC1 separator after it.
pub fn has_predefined_length(ai: &str) -> bool {
    PREDEFINED_LENGTH_PREFIXES.iter().any(|p| ai.starts_with(p))
}

/// True for characters of GS1 AI encodable character set 82.
pub fn is_cset82(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!\"%&'()*+,-./:;<=>?_".contains(c)
}

/// A GS1 date as encoded: two-digit year, month, and day where 0 means "end of month".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Gs1Date {
    pub yy: u8,
    pub month: u8,
    pub day: u8,
}

/// Parses `YYMMDD`. The century is not encoded; the day is checked against the month of
/// year 20YY (so `000229` is valid, as 2000 was a leap year).
pub fn parse_date(s: &str, zero_day: bool) -> Option<Gs1Date> {
    if s.len() != 6 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let num = |range: std::ops::Range<usize>| s.get(range).and_then(|d| d.parse::<u8>().ok());
    let (yy, month, day) = (num(0..2)?, num(2..4)?, num(4..6)?);
    let year = 2000 + u32::from(yy);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    let day_ok = (1..=days).contains(&day) || (zero_day && day == 0);
    day_ok.then_some(Gs1Date { yy, month, day })
}

/// Checks one AI's value against its format; the error says what is wrong.
pub fn validate(ai: &str, spec: &AiSpec, value: &str) -> Result<(), String> {
    let len = value.len();
    if len == 0 {
        return Err("is empty".into());
    }
    if len > spec.format.max_len() {
        return Err(format!("is {len} characters, more than {}", spec.format.max_len()));
    }
    if let Some(fixed) = spec.format.fixed_len().filter(|&f| f != len) {
        return Err(format!("is {len} characters, not {fixed}"));
    }
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let text = |s: &str| s.chars().all(is_cset82);
    let ok = match spec.format {
        AiFormat::Digits { check, .. } => digits(value) && (!check || gs1::check_digit_valid(value)),
        AiFormat::DigitsUpTo { .. } | AiFormat::Decimal => digits(value),
        AiFormat::Text { .. } | AiFormat::TextFixed { .. } => text(value),
        AiFormat::Date { zero_day } => parse_date(value, zero_day).is_some(),
        AiFormat::DateTime => {
            let (date, time) = value.split_at(6.min(len));
            let hh = time.get(0..2).and_then(|h| h.parse::<u8>().ok());
            let mm = time.get(2..4).and_then(|m| m.parse::<u8>().ok());
            digits(value)
                && parse_date(date, false).is_some()
                && hh.is_some_and(|h| h < 24)
                && mm.is_some_and(|m| m < 60)
        }
        AiFormat::CountryText { .. } => {
            len > 3 && value.get(..3).is_some_and(digits) && value.get(3..).is_some_and(text)
        }
        AiFormat::Grai => {
            let key = value.get(..14).unwrap_or_default();
            key.len() == 14
                && digits(key)
                && key.starts_with('0')
                && gs1::check_digit_valid(key)
                && value.get(14..).is_some_and(text)
        }
        AiFormat::Flag => value == "0" || value == "1",
    };
    if ok {
        Ok(())
    } else {
        Err(format!("`{value}` is not a valid {} ({ai})", spec.title))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_find_fixed_variable_and_measure_ais() {
        assert_eq!(lookup("00").map(|s| s.title), Some("SSCC"));
        assert_eq!(lookup("3303").map(|s| s.format), Some(AiFormat::Decimal));
        assert_eq!(lookup("3306"), None, "at most five implied decimals");
        assert_eq!(lookup("4307").map(|s| s.title), Some("SHIP TO COUNTRY"));
        assert_eq!(lookup("05"), None);
        assert_eq!(lookup_prefix("4211234567").map(|(ai, _)| ai), Some("421"));
        assert_eq!(lookup_prefix("3103000123").map(|(ai, _)| ai), Some("3103"));
        assert_eq!(lookup_prefix("0"), None);
        assert!(has_predefined_length("3303") && has_predefined_length("410") && !has_predefined_length("400"));
    }

    #[test]
    fn every_table_row_is_well_formed() {
        for spec in TABLE {
            let ai = if spec.format == AiFormat::Decimal {
                format!("{}0", spec.code)
            } else {
                spec.code.to_string()
            };
            assert_eq!(lookup(&ai), Some(*spec), "{ai}");
            assert!(spec.format.max_len() > 0, "{ai}");
            // Prefix-free: no other row's AI starts with this one.
            assert_eq!(
                TABLE.iter().filter(|o| o.code.starts_with(spec.code)).count(),
                1,
                "{ai}"
            );
        }
    }

    #[test]
    fn dates_follow_the_general_specifications() {
        // DD = 00 is allowed for the dates of AIs 11-17 (GS1 General Specifications 7.12).
        assert_eq!(
            parse_date("261200", true),
            Some(Gs1Date {
                yy: 26,
                month: 12,
                day: 0
            })
        );
        assert_eq!(parse_date("261200", false), None);
        assert!(parse_date("240229", true).is_some());
        assert!(parse_date("250229", true).is_none());
        assert!(parse_date("251301", true).is_none());
        assert!(parse_date("250431", true).is_none());
        assert!(parse_date("2504a1", true).is_none());
    }

    #[test]
    fn values_are_checked_against_their_format() {
        let check = |ai: &str, v: &str| lookup(ai).map(|spec| validate(ai, &spec, v));
        assert_eq!(check("00", "106141412345678908"), Some(Ok(())));
        assert!(matches!(check("00", "106141412345678907"), Some(Err(_))));
        assert_eq!(check("410", "0614141000005"), Some(Ok(())));
        assert!(matches!(check("10", "ABC 123"), Some(Err(_))), "space is not in set 82");
        assert!(matches!(check("10", &"A".repeat(21)), Some(Err(_))));
        assert_eq!(check("421", "840101"), Some(Ok(())));
        assert!(matches!(check("421", "840"), Some(Err(_))));
        assert_eq!(check("4324", "2512312359"), Some(Ok(())));
        assert!(matches!(check("4324", "2512312460"), Some(Err(_))));
        assert_eq!(check("8003", "00614141123452400"), Some(Ok(())));
        assert_eq!(check("4321", "1"), Some(Ok(())));
        assert!(matches!(check("4321", "2"), Some(Err(_))));
        assert!(matches!(check("3303", "12345"), Some(Err(_))));
    }
}
