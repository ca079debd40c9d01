use std::time::Duration;

use chrono::Utc;
use waymark_sync::carriers::signature::{self, Request};
use waymark_sync::carriers::{CarrierEvent, Provider, normalize};
use waymark_sync::status::Milestone;

use super::*;

struct Headers(Vec<(&'static str, String)>);

impl Request for Headers {
    fn header(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn scenario(failed_attempts: f64, returned: f64) -> Scenario {
    Scenario {
        carrier: "ups".into(),
        failed_attempts_percent: failed_attempts,
        return_to_sender_percent: returned,
        seed: 7,
        ..Scenario::default()
    }
}

/// Whether `provider`'s normalizer has a milestone for this step: UPS
/// reports an attempt and a return as exceptions (type `X`), FedEx has no
/// return-to-sender code in its table.
fn says(provider: Provider, kind: Kind) -> bool {
    !matches!(
        (provider, kind),
        (Provider::Ups, Kind::Attempt | Kind::Returned) | (Provider::FedEx, Kind::Returned)
    )
}

/// Every event of every webhook of `journey`, once per key, in event-time order.
fn decoded(provider: Provider, journey: &Journey, scenario: &Scenario) -> Vec<CarrierEvent> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for w in webhooks(provider, std::slice::from_ref(journey), scenario) {
        let events = normalize(provider, &w.body)
            .unwrap_or_else(|e| panic!("{provider} step {}: {e}\n{}", w.step, String::from_utf8_lossy(&w.body)));
        out.extend(events.into_iter().filter(|e| seen.insert(e.event_key.clone())));
    }
    out.sort_by_key(|e| e.event_time_ms);
    out
}

#[test]
fn every_provider_decodes_to_the_journey_milestones_in_order() {
    for (failed, returned) in [(0.0, 0.0), (100.0, 0.0), (0.0, 100.0)] {
        let s = scenario(failed, returned);
        for n in ["1ZSIM0000000001", "1ZSIM0000000002"] {
            let journey = Journey::plan(n, &s);
            for provider in Provider::ALL {
                let events = decoded(provider, &journey, &s);
                let got: Vec<Milestone> = events.iter().filter_map(|e| e.milestone).collect();
                let want: Vec<Milestone> = journey
                    .steps
                    .iter()
                    .filter(|st| says(provider, st.kind))
                    .map(|st| st.kind.milestone())
                    .collect();
                assert_eq!(got, want, "{provider}, {n}, attempts {failed} %, returns {returned} %");
                for e in &events {
                    assert_eq!(e.tracking_number, n, "{provider}");
                    if e.milestone == Some(Milestone::LabelCreated) {
                        assert!(!e.carrier_possession, "{provider}: a label is never possession");
                    }
                    if e.milestone.is_some() {
                        assert!(
                            e.carrier_possession || e.milestone == Some(Milestone::LabelCreated),
                            "{provider}: {e:?}"
                        );
                    }
                }
                let day = journey.estimate.format("%Y-%m-%d").to_string();
                assert!(
                    events.iter().any(|e| e
                        .estimated_delivery
                        .as_ref()
                        .is_some_and(|d| d.from == day && d.to == day)),
                    "{provider}: the estimate {day} is in some event"
                );
                if journey.steps.last().map(|st| st.kind) == Some(Kind::Delivered) {
                    assert_eq!(got.last(), Some(&Milestone::Delivered), "{provider}: delivered last");
                }
            }
        }
    }
}

#[test]
fn every_provider_signs_what_central_verifies() {
    let s = scenario(50.0, 10.0);
    let journey = Journey::plan("1ZSIGNED", &s);
    let now_s = Utc::now().timestamp();
    for provider in Provider::ALL {
        let secret = "sécret-for-tests";
        for w in webhooks(provider, std::slice::from_ref(&journey), &s) {
            let headers = Headers(signature::sign(provider, secret, &w.body, now_s, &w.event_id));
            assert_eq!(
                signature::verify(provider, secret, &headers, &w.body, now_s),
                Ok(()),
                "{provider}"
            );
            assert!(
                signature::verify(provider, "another secret", &headers, &w.body, now_s).is_err(),
                "{provider}: a wrong secret fails"
            );
        }
    }
}

#[test]
fn journeys_are_in_the_past_and_in_order() {
    for seed in 0..20 {
        let s = Scenario {
            seed,
            failed_attempts_percent: 30.0,
            return_to_sender_percent: 10.0,
            ..Scenario::default()
        };
        let j = Journey::plan("1ZORDER", &s);
        assert!(j.steps.windows(2).all(|w| w[0].at < w[1].at), "{seed}: times increase");
        assert!(
            j.steps
                .first()
                .is_some_and(|st| st.kind == Kind::Label && st.at >= s.start)
        );
        assert!(
            j.steps.last().is_some_and(|st| st.at < Utc::now()),
            "{seed}: over before now"
        );
        let last = j.steps.last().map(|st| st.kind);
        assert!(matches!(last, Some(Kind::Delivered | Kind::Returned)));
        let scans = j
            .steps
            .iter()
            .filter(|st| matches!(st.kind, Kind::Arrival | Kind::Departure))
            .count();
        assert!((1..=2).contains(&scans));
    }
    assert_eq!(
        Journey::plan("1ZSAME", &scenario(0.0, 0.0)),
        Journey::plan("1ZSAME", &scenario(0.0, 0.0)),
        "seeded: the same trip again"
    );
}

#[test]
fn duplicates_and_swaps_follow_the_percentages() {
    let numbers: Vec<Journey> = (0..10)
        .map(|i| Journey::plan(&format!("1ZMANY{i}"), &scenario(0.0, 0.0)))
        .collect();
    let steps: usize = numbers.iter().map(|j| j.steps.len()).sum();
    let plain = webhooks(Provider::Ups, &numbers, &scenario(0.0, 0.0));
    assert_eq!(plain.len(), steps);
    assert!(
        plain.windows(2).all(|w| w[0].event_time <= w[1].event_time),
        "by event time"
    );

    let twice = Scenario {
        duplicates_percent: 100.0,
        ..scenario(0.0, 0.0)
    };
    let dup = webhooks(Provider::Ups, &numbers, &twice);
    assert_eq!(dup.len(), 2 * steps);
    assert!(dup.chunks(2).all(|c| c[0] == c[1]), "a resend is the same body and id");

    let swapped = Scenario {
        out_of_order_percent: 100.0,
        ..scenario(0.0, 0.0)
    };
    let swap = webhooks(Provider::Ups, &numbers, &swapped);
    assert_eq!(swap.len(), steps);
    let late = numbers
        .iter()
        .filter(|j| {
            let order: Vec<usize> = swap
                .iter()
                .filter(|w| w.tracking_number == j.tracking_number)
                .map(|w| w.step)
                .collect();
            order.windows(2).any(|w| w[0] > w[1])
        })
        .count();
    assert_eq!(late, numbers.len(), "every journey has a swapped pair");
    assert_eq!(Scenario::default().delay, Duration::ZERO);
}
