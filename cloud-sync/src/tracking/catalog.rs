//! Every word the tracking page shows, per language: one table per language
//! with the same keys (a test holds them equal), placeholders written `{n}`.
//! Templates read the table as `t`; Rust code fills placeholders with
//! [`fill`]. Pure.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use super::lang::Lang;

mod de;
mod en;
mod es;
mod fr;

use de::DE;
use en::EN;
use es::ES;
use fr::FR;

type Table = &'static [(&'static str, &'static str)];

fn table(lang: Lang) -> Table {
    match lang {
        Lang::En => EN,
        Lang::De => DE,
        Lang::Fr => FR,
        Lang::Es => ES,
    }
}

/// The words of `lang` by key, as templates read them (`t.key`).
pub fn words(lang: Lang) -> &'static BTreeMap<&'static str, &'static str> {
    static ALL: OnceLock<[BTreeMap<&'static str, &'static str>; 4]> = OnceLock::new();
    let all = ALL.get_or_init(|| Lang::ALL.map(|l| table(l).iter().copied().collect()));
    &all[Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0)]
}

/// The text of `key` in `lang`; English when the key is missing there (a
/// test forbids that), the key itself when it is missing everywhere.
pub fn text(lang: Lang, key: &str) -> &'static str {
    words(lang)
        .get(key)
        .or_else(|| words(Lang::En).get(key))
        .copied()
        .unwrap_or("")
}

/// `template` with each `{name}` replaced by its value.
pub fn fill(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (name, value) in values {
        out = out.replace(&format!("{{{name}}}"), value);
    }
    out
}

/// "2 of 3 parcels delivered" with each language's plural rule: English,
/// German and Spanish inflect the noun after the total; French the
/// participle after the count (and 0 and 1 are singular).
pub fn delivered_count(lang: Lang, n: usize, total: usize) -> String {
    let one = match lang {
        Lang::Fr => n <= 1,
        Lang::En | Lang::De | Lang::Es => total == 1,
    };
    let key = if one { "delivered_one" } else { "delivered_other" };
    fill(text(lang, key), &[("n", &n.to_string()), ("total", &total.to_string())])
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn every_key_exists_once_in_every_language() {
        let keys = |t: Table| -> BTreeSet<&str> { t.iter().map(|(k, _)| *k).collect() };
        let english = keys(EN);
        assert_eq!(english.len(), EN.len(), "a key is repeated in English");
        for lang in Lang::ALL {
            let t = table(lang);
            assert_eq!(keys(t), english, "{lang:?} has other keys than English");
            assert_eq!(t.len(), EN.len(), "{lang:?} repeats a key");
            for (k, v) in t {
                assert!(!v.trim().is_empty(), "{lang:?} {k} is empty");
                let placeholders = |s: &str| s.matches('{').count();
                assert_eq!(placeholders(v), placeholders(text(Lang::En, k)), "{lang:?} {k}");
            }
        }
    }

    #[test]
    fn every_customer_status_has_words() {
        use crate::status::CustomerStatus as C;
        for s in [
            C::OrderReceived,
            C::Preparing,
            C::HandedToCarrier,
            C::InTransit,
            C::OutForDelivery,
            C::DeliveryAttempted,
            C::ReadyForPickup,
            C::Delivered,
            C::ReturningToSender,
            C::ReturnStarted,
            C::ReturnDeclined,
            C::ReturnReceived,
            C::Refunded,
            C::ReplacementSent,
            C::Cancelled,
        ] {
            let key = format!("status_{}", s.as_str());
            assert!(words(Lang::En).contains_key(key.as_str()), "{key}");
            assert_eq!(
                text(Lang::En, &key),
                s.text(),
                "English words agree with CustomerStatus::text"
            );
        }
    }

    #[test]
    fn plurals_follow_each_language() {
        assert_eq!(delivered_count(Lang::En, 2, 3), "2 of 3 parcels delivered");
        assert_eq!(delivered_count(Lang::En, 1, 1), "1 of 1 parcel delivered");
        assert_eq!(delivered_count(Lang::De, 1, 2), "1 von 2 Paketen zugestellt");
        assert_eq!(delivered_count(Lang::Fr, 1, 2), "1 colis sur 2 livré");
        assert_eq!(delivered_count(Lang::Fr, 2, 3), "2 colis sur 3 livrés");
        assert_eq!(delivered_count(Lang::Es, 0, 2), "0 de 2 paquetes entregados");
    }
}
