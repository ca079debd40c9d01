//! Brands: the sender's name, logo, color and support contact on each page,
//! chosen by the order's `brand`. Colors are checked for WCAG 2.1 AA
//! contrast (4.5:1): a brand color too light for text on white falls back to
//! a dark text color, and the header band takes white or black text,
//! whichever reads better on the brand color. Pure.

use serde::Serialize;

use super::lang::Lang;

/// The color of text where a brand color would fail contrast.
pub const DARK_TEXT: Rgb = Rgb(0x1f, 0x23, 0x28);
/// WCAG 2.1 AA for normal text.
pub const MIN_CONTRAST: f64 = 4.5;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Brand {
    /// What `OrderRecord.brand` names; empty for the built-in default.
    pub name: String,
    /// The sender name customers know.
    pub display_name: String,
    pub logo_url: Option<String>,
    pub primary_color: Rgb,
    pub support_url: Option<String>,
    pub support_email: Option<String>,
    pub default_language: Option<Lang>,
}

impl Default for Brand {
    fn default() -> Self {
        Self {
            name: String::new(),
            display_name: "Waymark".into(),
            logo_url: None,
            primary_color: Rgb(0x1d, 0x4e, 0xd8),
            support_url: None,
            support_email: None,
            default_language: None,
        }
    }
}

/// A color as `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub fn parse(s: &str) -> Option<Self> {
        let hex = s.strip_prefix('#')?;
        if hex.len() != 6 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let byte = |i: usize| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok();
        Some(Self(byte(0)?, byte(2)?, byte(4)?))
    }

    pub fn hex(self) -> String {
        format!("{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG 2.1 relative luminance.
    fn luminance(self) -> f64 {
        let channel = |c: u8| {
            let c = f64::from(c) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(self.0) + 0.7152 * channel(self.1) + 0.0722 * channel(self.2)
    }
}

pub const WHITE: Rgb = Rgb(0xff, 0xff, 0xff);
pub const BLACK: Rgb = Rgb(0, 0, 0);

/// The WCAG contrast ratio of two colors, 1..=21.
pub fn contrast(a: Rgb, b: Rgb) -> f64 {
    let (la, lb) = (a.luminance(), b.luminance());
    (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
}

/// The colors a page uses for a brand color, each readable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Links, headings and buttons on white.
    pub accent: Rgb,
    /// The header band's background and its text.
    pub band: Rgb,
    pub band_text: Rgb,
}

impl Theme {
    pub fn of(color: Rgb) -> Self {
        let accent = if contrast(color, WHITE) >= MIN_CONTRAST {
            color
        } else {
            DARK_TEXT
        };
        let band_text = if contrast(WHITE, color) >= contrast(BLACK, color) {
            WHITE
        } else {
            BLACK
        };
        Self {
            accent,
            band: color,
            band_text,
        }
    }

    /// The stylesheet of this theme (served at `/track/static/theme/{rrggbb}.css`).
    pub fn css(self) -> String {
        let (a, b, t) = (self.accent.hex(), self.band.hex(), self.band_text.hex());
        format!(
            ".band{{background:#{b};color:#{t}}}\
             a,h1,h2,.accent{{color:#{a}}}\
             button{{background:#{a};border-color:#{a};color:#fff}}\
             :focus-visible{{outline:3px solid #{a};outline-offset:2px}}\n"
        )
    }
}

/// What templates read of a brand.
#[derive(Debug, Clone, Serialize)]
pub struct BrandView {
    pub display_name: String,
    pub logo_url: Option<String>,
    pub support_url: Option<String>,
    pub support_email: Option<String>,
    pub theme_css: String,
}

impl Brand {
    pub fn view(&self) -> BrandView {
        BrandView {
            display_name: self.display_name.clone(),
            logo_url: self.logo_url.clone(),
            support_url: self.support_url.clone(),
            support_email: self.support_email.clone(),
            theme_css: format!("/track/static/theme/{}.css", self.primary_color.hex()),
        }
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn contrast_matches_known_values() {
        assert!((contrast(WHITE, BLACK) - 21.0).abs() < 1e-9);
        assert!((contrast(Rgb(0x76, 0x76, 0x76), WHITE) - 4.54).abs() < 0.01);
        assert_eq!(Rgb::parse("#FFcc00"), Some(Rgb(0xff, 0xcc, 0x00)));
        for bad in ["ffcc00", "#ffcc0", "#ffcc0g", "#ffcc000", "#ff€c0"] {
            assert_eq!(Rgb::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_light_brand_color_falls_back_to_dark_text() {
        let yellow = Theme::of(Rgb(0xff, 0xcc, 0x00));
        assert_eq!(yellow.accent, DARK_TEXT);
        assert_eq!(yellow.band_text, BLACK);
        let navy = Theme::of(Rgb(0x00, 0x20, 0x60));
        assert_eq!(navy.accent, Rgb(0x00, 0x20, 0x60));
        assert_eq!(navy.band_text, WHITE);
    }

    proptest! {
        #[test]
        fn every_theme_reads_at_aa(r in any::<u8>(), g in any::<u8>(), b in any::<u8>()) {
            let t = Theme::of(Rgb(r, g, b));
            prop_assert!(contrast(t.accent, WHITE) >= MIN_CONTRAST);
            prop_assert!(contrast(t.band_text, t.band) >= MIN_CONTRAST);
        }
    }
}
