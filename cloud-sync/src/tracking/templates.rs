//! The page templates (minijinja, HTML autoescaped): embedded defaults, any
//! of which a file of the same name in `[tracking] template_dir` replaces at
//! start. Every template is rendered against sample pages in every language
//! at start, so a broken override fails the start with a clear message
//! instead of a customer's page.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::{Environment, UndefinedBehavior};
use serde::Serialize;

use super::brand::{Brand, BrandView};
use super::catalog::words;
use super::lang::Lang;
use super::page::{NumberPage, OrderPage, ParcelPage, ShipmentPage, Step};

pub const BASE: &str = "base.html";
pub const LOOKUP: &str = "lookup.html";
pub const ORDER: &str = "order.html";
pub const NUMBER: &str = "number.html";
pub const NOT_FOUND: &str = "not_found.html";
pub const RATE_LIMITED: &str = "rate_limited.html";
/// A parcel's steps, included by the order and tracking-number pages.
pub const STEPS: &str = "steps.html";
/// Not a template, but overridable the same way.
pub const STYLESHEET: &str = "style.css";

const EMBEDDED: [(&str, &str); 8] = [
    (BASE, include_str!("templates/base.html")),
    (LOOKUP, include_str!("templates/lookup.html")),
    (ORDER, include_str!("templates/order.html")),
    (NUMBER, include_str!("templates/number.html")),
    (NOT_FOUND, include_str!("templates/not_found.html")),
    (RATE_LIMITED, include_str!("templates/rate_limited.html")),
    (STEPS, include_str!("templates/steps.html")),
    (STYLESHEET, include_str!("templates/style.css")),
];

/// Largest override file read.
const MAX_TEMPLATE_BYTES: u64 = 256 * 1024;

/// The language switch on the lookup page, each name in its own language.
#[derive(Debug, Serialize)]
pub struct LangName {
    pub code: &'static str,
    pub name: &'static str,
}

const LANGUAGES: [LangName; 4] = [
    LangName {
        code: "en",
        name: "English",
    },
    LangName {
        code: "de",
        name: "Deutsch",
    },
    LangName {
        code: "fr",
        name: "Français",
    },
    LangName {
        code: "es",
        name: "Español",
    },
];

/// What every template reads: `lang`, `t` (the words), `brand`, `page`, `languages`.
#[derive(Serialize)]
struct Context<'a, P: Serialize> {
    lang: &'static str,
    t: minijinja::Value,
    brand: &'a BrandView,
    page: &'a P,
    languages: &'static [LangName],
}

/// The template sources after overrides, compiled.
pub struct Templates {
    env: Environment<'static>,
    stylesheet: String,
}

impl std::fmt::Debug for Templates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Templates").finish_non_exhaustive()
    }
}

impl Templates {
    /// The embedded templates, with the files of `dir` replacing theirs;
    /// every problem (unreadable file, unknown name, syntax, a sample that
    /// does not render) is pushed to `problems`.
    pub fn load(dir: Option<&Path>, problems: &mut Vec<String>) -> Option<Self> {
        let mut sources: BTreeMap<&'static str, String> =
            EMBEDDED.iter().map(|(n, s)| (*n, (*s).to_string())).collect();
        if let Some(dir) = dir {
            read_overrides(dir, &mut sources, problems);
        }
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        let mut stylesheet = String::new();
        let before = problems.len();
        for (name, source) in sources {
            if name == STYLESHEET {
                stylesheet = source;
            } else if let Err(e) = env.add_template_owned(name, source) {
                problems.push(format!("tracking template {name}: {e:#}"));
            }
        }
        if problems.len() > before {
            return None;
        }
        let templates = Self { env, stylesheet };
        templates.check_samples(problems);
        (problems.len() == before).then_some(templates)
    }

    /// Renders every page against samples, in every language.
    fn check_samples(&self, problems: &mut Vec<String>) {
        let brand = Brand {
            logo_url: Some("https://example.com/logo.png".into()),
            support_url: Some("https://example.com/help".into()),
            support_email: Some("help@example.com".into()),
            ..Brand::default()
        };
        let plain = Brand::default();
        let (order, number) = (sample_order(), sample_number());
        for lang in Lang::ALL {
            for b in [&brand, &plain] {
                let view = b.view();
                let results = [
                    (LOOKUP, self.render(LOOKUP, lang, &view, &())),
                    (ORDER, self.render(ORDER, lang, &view, &order)),
                    (NUMBER, self.render(NUMBER, lang, &view, &number)),
                    (NOT_FOUND, self.render(NOT_FOUND, lang, &view, &())),
                    (RATE_LIMITED, self.render(RATE_LIMITED, lang, &view, &())),
                ];
                for (name, r) in results {
                    if let Err(e) = r {
                        problems.push(format!(
                            "tracking template {name} does not render a sample page ({}): {e:#}",
                            lang.as_str()
                        ));
                        return;
                    }
                }
            }
        }
    }

    /// The embedded templates without the sample check (a unit test holds
    /// them valid): what a config with problems carries until it is refused.
    pub fn embedded() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        let mut stylesheet = String::new();
        for (name, source) in EMBEDDED {
            if name == STYLESHEET {
                stylesheet = source.to_string();
            } else if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "an embedded tracking template does not compile");
            }
        }
        Self { env, stylesheet }
    }

    pub fn render<P: Serialize>(
        &self,
        name: &str,
        lang: Lang,
        brand: &BrandView,
        page: &P,
    ) -> Result<String, minijinja::Error> {
        self.env.get_template(name)?.render(Context {
            lang: lang.as_str(),
            t: words_value(lang),
            brand,
            page,
            languages: &LANGUAGES,
        })
    }

    pub fn stylesheet(&self) -> &str {
        &self.stylesheet
    }
}

/// The words of `lang` as a template value, made once: a page then shares
/// them instead of converting ~100 strings per render.
fn words_value(lang: Lang) -> minijinja::Value {
    static ALL: std::sync::OnceLock<[minijinja::Value; 4]> = std::sync::OnceLock::new();
    let all = ALL.get_or_init(|| Lang::ALL.map(|l| minijinja::Value::from_serialize(words(l))));
    all[Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0)].clone()
}

fn read_overrides(dir: &Path, sources: &mut BTreeMap<&'static str, String>, problems: &mut Vec<String>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            problems.push(format!("tracking.template_dir: cannot read {}: {e}", dir.display()));
            return;
        }
    };
    let known: Vec<&str> = EMBEDDED.iter().map(|(n, _)| *n).collect();
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(name) = known.iter().find(|n| **n == file) else {
            if file.ends_with(".html") || file.ends_with(".css") {
                problems.push(format!(
                    "tracking.template_dir: {file} replaces no template (the names are {})",
                    known.join(", ")
                ));
            }
            continue;
        };
        let too_large = entry.metadata().map(|m| m.len() > MAX_TEMPLATE_BYTES).unwrap_or(false);
        if too_large {
            problems.push(format!(
                "tracking.template_dir: {} is larger than {MAX_TEMPLATE_BYTES} bytes",
                path.display()
            ));
            continue;
        }
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                sources.insert(name, text);
            }
            Err(e) => problems.push(format!("tracking.template_dir: cannot read {}: {e}", path.display())),
        }
    }
}

fn sample_order() -> OrderPage {
    let step = Step {
        when: "December 3, 2026, 2:05 PM".into(),
        what: "In transit",
        place: Some("Memphis, TN, US".into()),
    };
    let parcel = ParcelPage {
        parcel_id: "SAMPLE-1".into(),
        heading: "Parcel 1".into(),
        heading_id: "parcel-1".into(),
        status: "in_transit",
        status_text: "In transit",
        tracking_number: Some("1Z999".into()),
        estimate: Some("December 5, 2026".into()),
        original_estimate: Some("December 4, 2026".into()),
        estimate_unknown: false,
        notices: vec!["Delayed.".into()],
        attempt_guidance: true,
        pickup: Some("Memphis".into()),
        proof_of_delivery: Some("J. Doe".into()),
        steps: vec![step],
    };
    let bare = ParcelPage {
        parcel_id: "SAMPLE-2".into(),
        heading: "Parcel 2".into(),
        heading_id: "parcel-2".into(),
        status: "order_received",
        status_text: "Order received",
        tracking_number: None,
        estimate: None,
        original_estimate: None,
        estimate_unknown: true,
        notices: Vec::new(),
        attempt_guidance: false,
        pickup: None,
        proof_of_delivery: None,
        steps: Vec::new(),
    };
    OrderPage {
        order_number: "SAMPLE".into(),
        summary: "0 of 2 parcels delivered".into(),
        parcel_count: 2,
        shipments: vec![
            ShipmentPage {
                heading: "Shipment 1 of 2".into(),
                carrier: Some("UPS".into()),
                tracking_number: Some("1Z999".into()),
                cancelled: false,
                parcels: vec![parcel],
            },
            ShipmentPage {
                heading: String::new(),
                carrier: None,
                tracking_number: None,
                cancelled: true,
                parcels: vec![bare],
            },
        ],
    }
}

fn sample_number() -> NumberPage {
    NumberPage {
        tracking_number: "1Z999".into(),
        status: "in_transit",
        status_text: "In transit",
        estimate: Some("December 5, 2026".into()),
        estimate_unknown: false,
        steps: Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_templates_render_every_sample() {
        let mut problems = Vec::new();
        let t = Templates::load(None, &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let t = t.expect("templates");
        let html = t
            .render(NOT_FOUND, Lang::De, &Brand::default().view(), &())
            .expect("render");
        assert!(html.contains("<html lang=\"de\">"), "{html}");
        assert!(html.contains("id=\"not-found\""));
    }

    #[test]
    fn a_broken_override_is_a_problem_naming_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(ORDER), "{% if %}").expect("write");
        std::fs::write(dir.path().join("ordr.html"), "x").expect("write");
        let mut problems = Vec::new();
        assert!(Templates::load(Some(dir.path()), &mut problems).is_none());
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("order.html")), "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("ordr.html")), "{problems:?}");
    }

    #[test]
    fn an_override_reading_an_unknown_variable_fails_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(NOT_FOUND), "{{ page.nothing_here.deeper }}").expect("write");
        let mut problems = Vec::new();
        assert!(Templates::load(Some(dir.path()), &mut problems).is_none());
        assert!(problems[0].contains("not_found.html"), "{problems:?}");
    }

    #[test]
    fn values_are_escaped() {
        let mut problems = Vec::new();
        let t = Templates::load(None, &mut problems).expect("templates");
        let brand = Brand {
            display_name: "<script>x</script>".into(),
            ..Brand::default()
        };
        let html = t.render(NOT_FOUND, Lang::En, &brand.view(), &()).expect("render");
        assert!(!html.contains("<script>"), "{html}");
    }
}
