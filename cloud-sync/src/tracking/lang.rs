//! The page language: `?lang=` in the URL (or the signed link's), then the
//! browser's `Accept-Language` by q-value, then the customer's language on
//! the order, then the brand's default, then English. Pure.

/// A language the tracking page is translated into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lang {
    En,
    De,
    Fr,
    Es,
}

impl Lang {
    pub const ALL: [Lang; 4] = [Lang::En, Lang::De, Lang::Fr, Lang::Es];

    /// The BCP 47 primary subtag, as in `<html lang>`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::En => "en",
            Self::De => "de",
            Self::Fr => "fr",
            Self::Es => "es",
        }
    }

    /// A language tag (`de`, `de-AT`, `DE_ch`): its primary subtag, if translated.
    pub fn parse(tag: &str) -> Option<Self> {
        let primary = tag.trim().split(['-', '_']).next()?;
        Self::ALL.into_iter().find(|l| l.as_str().eq_ignore_ascii_case(primary))
    }
}

/// Most `Accept-Language` entries read; the rest are ignored.
const MAX_ACCEPT_ENTRIES: usize = 32;

/// The best translated language of an `Accept-Language` header: the highest
/// q-value, the earlier entry on a tie; `q=0` means "not this one".
pub fn from_accept_language(header: &str) -> Option<Lang> {
    let mut best: Option<(u16, Lang)> = None;
    for entry in header.split(',').take(MAX_ACCEPT_ENTRIES) {
        let mut parts = entry.split(';');
        let Some(lang) = parts.next().and_then(Lang::parse) else {
            continue;
        };
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .next()
            .map_or(Some(1000), parse_q);
        let Some(q) = q else { continue };
        if q > 0 && best.is_none_or(|(b, _)| q > b) {
            best = Some((q, lang));
        }
    }
    best.map(|(_, l)| l)
}

/// A q-value in thousandths; `None` when not a number in 0..=1.
fn parse_q(s: &str) -> Option<u16> {
    let v: f32 = s.trim().parse().ok()?;
    (0.0..=1.0).contains(&v).then(|| (v * 1000.0).round() as u16)
}

/// Every source in order of precedence; the first that names a translated
/// language wins, English otherwise.
#[derive(Debug, Default, Clone, Copy)]
pub struct LangSources<'a> {
    /// `?lang=` in the URL.
    pub query: Option<&'a str>,
    /// The language a signed link was minted with.
    pub link: Option<Lang>,
    pub accept_language: Option<&'a str>,
    /// `Customer.language` on the order, once the order is known.
    pub customer: Option<&'a str>,
    pub brand_default: Option<Lang>,
}

pub fn negotiate(s: LangSources<'_>) -> Lang {
    s.query
        .and_then(Lang::parse)
        .or(s.link)
        .or_else(|| s.accept_language.and_then(from_accept_language))
        .or_else(|| s.customer.and_then(Lang::parse))
        .or(s.brand_default)
        .unwrap_or(Lang::En)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn q_values_decide_and_zero_refuses() {
        assert_eq!(
            from_accept_language("fr-CH, fr;q=0.9, en;q=0.8, de;q=0.7"),
            Some(Lang::Fr)
        );
        assert_eq!(from_accept_language("en;q=0.5, de;q=0.9"), Some(Lang::De));
        assert_eq!(from_accept_language("ja, es;q=0.1"), Some(Lang::Es));
        assert_eq!(from_accept_language("de;q=0, ja"), None);
        assert_eq!(from_accept_language("*"), None);
        assert_eq!(from_accept_language("de;q=abc, fr;q=0.2"), Some(Lang::Fr));
    }

    #[test]
    fn the_url_beats_the_browser_which_beats_the_defaults() {
        let mut s = LangSources {
            query: Some("es"),
            link: Some(Lang::Fr),
            accept_language: Some("de"),
            customer: Some("fr"),
            brand_default: Some(Lang::De),
        };
        assert_eq!(negotiate(s), Lang::Es);
        s.query = Some("xx");
        assert_eq!(negotiate(s), Lang::Fr);
        s.link = None;
        assert_eq!(negotiate(s), Lang::De);
        s.accept_language = Some("ja");
        assert_eq!(negotiate(s), Lang::Fr);
        s.customer = None;
        assert_eq!(negotiate(s), Lang::De);
        assert_eq!(negotiate(LangSources::default()), Lang::En);
    }

    proptest! {
        #[test]
        fn any_header_gives_a_translated_language_or_none(h in ".{0,300}") {
            if let Some(l) = from_accept_language(&h) {
                prop_assert!(Lang::ALL.contains(&l));
            }
        }

        #[test]
        fn a_single_known_tag_is_chosen(i in 0usize..4, region in "[A-Z]{2}", q in 1u16..=1000) {
            let l = Lang::ALL[i];
            let h = format!("ja;q=0.0005, {}-{region};q={}", l.as_str(), f32::from(q) / 1000.0);
            prop_assert_eq!(from_accept_language(&h), Some(l));
        }
    }
}
