//! What central accepts as an identifier: order numbers, shipment and parcel
//! ids, tracking numbers, SSCCs, EPCs and SKUs (site ids, carrier account names
//! and token names are narrower still: ASCII letters, digits, `-`, `_`, `.`).
//! Nothing in one may render as nothing or reorder the text around it, so two
//! identifiers that look the same are the same: `SO-1001` with a zero-width
//! space or a right-to-left override inside is refused, not stored as a new
//! order that renders like the real one.

use std::fmt;

use unicode_general_category::{GeneralCategory, get_general_category};

/// Longest identifier, in bytes of UTF-8.
pub const MAX_IDENTIFIER: usize = 128;

/// Why a string is not an identifier (or not printable text).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Length {
        max: usize,
    },
    Space,
    /// The first hidden character found.
    Hidden(char),
}

impl Refusal {
    /// The metrics reason.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Length { .. } => "length",
            Self::Space => "space",
            Self::Hidden(_) => "hidden_character",
        }
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Length { max } => write!(f, "must be 1-{max} bytes"),
            Self::Space => f.write_str("must not contain spaces"),
            Self::Hidden(c) => write!(
                f,
                "contains U+{:04X}, an invisible, bidirectional-control or format character",
                u32::from(*c)
            ),
        }
    }
}

/// A character that is invisible, reorders text or is not text at all:
/// controls (Cc), format characters (Cf: zero-width, bidirectional controls,
/// soft hyphen, BOM ...), line and paragraph separators (Zl, Zp), and the
/// other default-ignorable characters that render as nothing (combining
/// grapheme joiner, Hangul fillers, variation selectors). The zero-width and
/// bidirectional ranges are also listed by hand, so they stay refused
/// whatever a Unicode table update says.
pub fn is_hidden(c: char) -> bool {
    c.is_control()
        || matches!(
            get_general_category(c),
            GeneralCategory::Format | GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
        )
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200F}'
                | '\u{2028}'..='\u{202E}'
                | '\u{2060}'..='\u{206F}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{FFF0}'..='\u{FFFB}'
                | '\u{E0000}'..='\u{E0FFF}'
        )
}

/// Text a person reads (a brand, a service level): 1-`max` bytes, spaces
/// allowed, no hidden character.
pub fn check_text(s: &str, max: usize) -> Result<(), Refusal> {
    if let Some(c) = s.chars().find(|&c| is_hidden(c)) {
        return Err(Refusal::Hidden(c));
    }
    if !(1..=max).contains(&s.len()) {
        return Err(Refusal::Length { max });
    }
    Ok(())
}

/// An identifier: 1-128 bytes, no spaces, no hidden character.
pub fn check(s: &str) -> Result<(), Refusal> {
    check_text(s, MAX_IDENTIFIER)?;
    if s.chars().any(char::is_whitespace) {
        return Err(Refusal::Space);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const LISTED: &[char] = &[
        '\u{00AD}',
        '\u{200B}',
        '\u{200C}',
        '\u{200D}',
        '\u{200E}',
        '\u{200F}',
        '\u{202A}',
        '\u{202B}',
        '\u{202C}',
        '\u{202D}',
        '\u{202E}',
        '\u{2066}',
        '\u{2067}',
        '\u{2068}',
        '\u{2069}',
        '\u{FEFF}',
        '\u{2028}',
        '\u{2029}',
        '\u{0000}',
        '\u{001B}',
        '\u{007F}',
        '\u{0085}',
        '\u{061C}',
        '\u{2060}',
        '\u{E0041}',
    ];

    #[test]
    fn look_alikes_of_an_order_number_are_named_by_code_point() {
        assert_eq!(check("SO-1001"), Ok(()));
        assert_eq!(check("SO-1\u{200B}001"), Err(Refusal::Hidden('\u{200B}')));
        assert_eq!(check("SO-\u{202E}1001"), Err(Refusal::Hidden('\u{202E}')));
        assert!(
            Refusal::Hidden('\u{202E}').to_string().contains("U+202E"),
            "{}",
            Refusal::Hidden('\u{202E}')
        );
        assert_eq!(check("SO 1001"), Err(Refusal::Space));
        assert_eq!(check(""), Err(Refusal::Length { max: MAX_IDENTIFIER }));
        // Letters of any script are not hidden: an order number may be Ünïcödé.
        assert_eq!(check("Bestellung-Größe-注文"), Ok(()));
        assert_eq!(check_text("Acme Outdoor", 128), Ok(()));
    }

    proptest! {
        /// Wherever a hidden character goes in an accepted identifier, the
        /// result is refused and the refusal names that character.
        #[test]
        fn a_hidden_character_anywhere_is_refused_and_named(
            id in "[A-Za-z0-9._/#-]{1,100}",
            at in 0usize..100,
            hidden in proptest::sample::select(LISTED),
        ) {
            prop_assert_eq!(check(&id), Ok(()));
            let at = at.min(id.len());
            let mut spoofed = id.clone();
            spoofed.insert(at, hidden);
            prop_assert_eq!(check(&spoofed), Err(Refusal::Hidden(hidden)));
        }

        /// Any string at all: no panic, and an accepted one holds nothing hidden.
        #[test]
        fn accepted_identifiers_hold_nothing_hidden(s in "\\PC{0,40}|.{0,40}") {
            match check(&s) {
                Ok(()) => prop_assert!(!s.chars().any(is_hidden) && !s.is_empty()),
                Err(Refusal::Hidden(c)) => prop_assert!(s.contains(c) && is_hidden(c)),
                Err(_) => {}
            }
        }
    }
}
