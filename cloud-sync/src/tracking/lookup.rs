//! The second factor of a lookup: exactly one, the email address
//! (case-insensitive, trimmed) when the customer gave one, else the postal
//! code (uppercase, without spaces or hyphens), compared with what the order
//! was placed with. A customer who fills both fields with a right email is
//! not turned away for a postal code the order lacks or spells otherwise.
//! Compared in constant time, and compared the same way when the order does
//! not exist (against a placeholder). Pure.

use ring::hmac;

use crate::orders::model::Customer;

/// Longest order number, email or postal code read from a form.
pub const MAX_FIELD_LEN: usize = 254;

/// What the customer typed besides the order number, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Factors {
    pub email: Option<String>,
    pub postal_code: Option<String>,
}

pub fn normalize_email(s: &str) -> String {
    s.trim().to_lowercase()
}

pub fn normalize_postal_code(s: &str) -> String {
    s.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect::<String>()
        .to_uppercase()
}

/// An order number as typed: trimmed; `None` when it cannot be one.
pub fn order_number(s: &str) -> Option<&str> {
    let s = s.trim();
    crate::identifier::check(s).is_ok().then_some(s)
}

impl Factors {
    /// The factors given (blank fields are absent); `None` when there is none.
    pub fn from_form(email: Option<&str>, postal_code: Option<&str>) -> Option<Self> {
        let given =
            |v: Option<&str>, f: fn(&str) -> String| v.map(f).filter(|v| !v.is_empty() && v.len() <= MAX_FIELD_LEN);
        let factors = Self {
            email: given(email, normalize_email),
            postal_code: given(postal_code, normalize_postal_code),
        };
        (factors.email.is_some() || factors.postal_code.is_some()).then_some(factors)
    }

    /// Whether the factor that counts matches the customer's: the email
    /// when one was given, else the postal code.
    pub fn match_customer(&self, customer: &Customer) -> bool {
        match (&self.email, &self.postal_code) {
            (Some(email), _) => {
                let stored = customer.email.as_deref().map(normalize_email);
                equal(email, stored.as_deref())
            }
            (None, Some(postal)) => {
                let stored = customer.postal_code.as_deref().map(normalize_postal_code);
                equal(postal, stored.as_deref())
            }
            (None, None) => false,
        }
    }
}

/// Compares as HMACs under a fixed key: the time says nothing about how much
/// matched, nor the stored value's length. A missing stored value is compared
/// against a placeholder no input can equal.
fn equal(given: &str, stored: Option<&str>) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, b"waymark tracking lookup comparison");
    let expected = hmac::sign(&key, stored.unwrap_or("\u{0}absent").as_bytes());
    hmac::verify(&key, given.as_bytes(), expected.as_ref()).is_ok() && stored.is_some()
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn customer() -> Customer {
        Customer {
            email: Some("Ana.Garcia@Example.com".into()),
            postal_code: Some("sw1a 1aa".into()),
            ..Customer::default()
        }
    }

    #[test]
    fn email_and_postal_code_match_as_customers_type_them() {
        let c = customer();
        let f = |e: Option<&str>, p: Option<&str>| Factors::from_form(e, p).expect("a factor");
        assert!(f(Some("  ana.garcia@example.COM "), None).match_customer(&c));
        assert!(f(None, Some("SW1A1AA")).match_customer(&c));
        assert!(f(Some("ana.garcia@example.com"), Some("SW1A 1AA")).match_customer(&c));
        assert!(!f(Some("ana@example.com"), None).match_customer(&c));
        assert!(
            f(Some("ana.garcia@example.com"), Some("EC1A 1BB")).match_customer(&c),
            "the email counts when given, the postal code then does not"
        );
        assert!(!f(Some("ana@example.com"), Some("SW1A 1AA")).match_customer(&c));
        let no_postal = Customer {
            postal_code: None,
            ..customer()
        };
        assert!(f(Some("ana.garcia@example.com"), Some("SW1A 1AA")).match_customer(&no_postal));
        let zip = Customer {
            postal_code: Some("12345-6789".into()),
            ..Customer::default()
        };
        assert!(f(None, Some("123456789")).match_customer(&zip));
        assert!(f(None, Some("12345 6789")).match_customer(&zip));
        assert!(!f(None, Some("12345")).match_customer(&zip));
        assert!(!f(Some("x@y.z"), None).match_customer(&Customer::default()));
        assert_eq!(Factors::from_form(Some("  "), Some("")), None);
    }

    #[test]
    fn order_numbers_are_trimmed_and_bounded() {
        assert_eq!(order_number(" SO-1 "), Some("SO-1"));
        assert_eq!(order_number("SO 1"), None);
        assert_eq!(order_number(""), None);
        assert_eq!(order_number(&"x".repeat(129)), None);
    }

    proptest! {
        #[test]
        fn a_customer_without_data_matches_nothing(e in ".{0,80}", p in ".{0,20}") {
            if let Some(f) = Factors::from_form(Some(&e), Some(&p)) {
                prop_assert!(!f.match_customer(&Customer::default()));
            }
        }

        #[test]
        fn spacing_and_case_do_not_matter(p in "[a-z0-9]{2,8}", spaces in 0usize..3) {
            let c = Customer { postal_code: Some(p.clone()), ..Customer::default() };
            let typed = format!("{}{}", " ".repeat(spaces), p.to_uppercase());
            let f = Factors::from_form(None, Some(&typed)).expect("factor");
            prop_assert!(f.match_customer(&c));
        }
    }
}
