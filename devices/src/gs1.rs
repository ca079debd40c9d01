//! GS1 key validation: the mod-10 check digit shared by GTIN, GLN and SSCC.

/// True when `digits` is all ASCII digits and its last digit is the GS1 check
/// digit of the others (weights 3,1,3,... from the right, excluding the check digit).
pub fn check_digit_valid(digits: &str) -> bool {
    let bytes = digits.as_bytes();
    if bytes.len() < 2 || !bytes.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let (body, check) = bytes.split_at(bytes.len() - 1);
    compute_check_digit(body) == check[0] - b'0'
}

/// The GS1 check digit for a string of ASCII digits (the body without its check digit).
pub fn compute_check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 0 { d * 3 } else { d }
        })
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// True for an 18-digit SSCC with a valid check digit.
pub fn is_valid_sscc(s: &str) -> bool {
    s.len() == 18 && check_digit_valid(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sscc_from_gs1_digital_link_example() {
        // GS1 Digital Link standard, example URI https://id.gs1.org/00/106141412345678908
        assert!(is_valid_sscc("106141412345678908"));
        assert_eq!(compute_check_digit(b"10614141234567890"), 8);
        assert!(!is_valid_sscc("106141412345678907"));
    }

    #[test]
    fn gtin_13_check_digit() {
        // EAN-13 4006381333931 is the usual textbook example (Stabilo pen).
        assert!(check_digit_valid("4006381333931"));
        assert!(!check_digit_valid("4006381333932"));
    }

    #[test]
    fn rejects_non_digits_and_short_input() {
        assert!(!check_digit_valid(""));
        assert!(!check_digit_valid("7"));
        assert!(!check_digit_valid("40063813339a1"));
        assert!(!is_valid_sscc("4006381333931"));
    }
}
