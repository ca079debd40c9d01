//! Status engine: one parcel's status recomputed from all of its events, as the
//! projection does when an event arrives. The events are mixed as a busy parcel
//! has them: order intake, site scans (with a rescan), a carrier's possession and
//! in-transit scans, estimates, exceptions and their resolutions, resent
//! webhooks, an operator correction, and a return; shuffled, since arrival order
//! does not matter.

use std::time::{Duration, Instant};

use waymark_sync::status::{
    Context, Fact, Milestone, ParcelEvent, Party, Provenance, Source, Window, order_status, parcel_status,
};

const T0: i64 = 1_795_269_600_000;
const MIN: i64 = 60_000;
const DAY: i64 = 24 * 60 * MIN;

pub fn run(events: usize, recomputes: usize) -> anyhow::Result<()> {
    anyhow::ensure!(events >= 20, "--events must be at least 20");
    anyhow::ensure!(recomputes > 0, "--recomputes must be at least 1");
    let mut rng = fastrand::Rng::with_seed(14);
    let mut parcel = mixed_events(events, &mut rng);
    rng.shuffle(&mut parcel);
    let ctx = Context {
        now_ms: T0 + 3 * DAY,
        promised: Some(Window {
            from_ms: T0 + DAY,
            to_ms: T0 + 2 * DAY,
        }),
        acceptance_window_ms: 6 * 60 * MIN,
    };
    let status = parcel_status(&parcel, &ctx);
    let sources = [
        Source::OrderIntake,
        Source::Site,
        Source::Carrier,
        Source::Operator,
        Source::Returns,
    ]
    .into_iter()
    .filter(|s| parcel.iter().any(|e| e.provenance.source == *s))
    .count();
    println!(
        "{} events from {sources} sources -> {:?} ({}), {} milestones, {} overlays, order {}",
        parcel.len(),
        status.milestone,
        status.customer.text(),
        status.milestones.len(),
        status.overlays.len(),
        order_status(std::slice::from_ref(&status)).as_str()
    );
    // Warm up, then time each recompute on its own.
    for _ in 0..recomputes.min(1_000) {
        std::hint::black_box(parcel_status(std::hint::black_box(&parcel), &ctx));
    }
    let mut took: Vec<Duration> = Vec::with_capacity(recomputes);
    let started = Instant::now();
    for _ in 0..recomputes {
        let t = Instant::now();
        std::hint::black_box(parcel_status(std::hint::black_box(&parcel), &ctx));
        took.push(t.elapsed());
    }
    let secs = started.elapsed().as_secs_f64();
    took.sort_unstable();
    let at = |q: f64| took[((took.len() - 1) as f64 * q).round() as usize];
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    let over_target = took.iter().filter(|d| **d > Duration::from_millis(1)).count();
    println!(
        "{recomputes} recomputes in {secs:.2} s on one thread: p50 {:.1} µs, p99 {:.1} µs, max {:.1} µs; {over_target} over 1 ms",
        us(at(0.5)),
        us(at(0.99)),
        us(at(1.0))
    );
    println!(
        "| status recompute | {} events | p50 {:.1} µs | p99 {:.1} µs | max {:.1} µs | {:.0} recomputes/s |",
        parcel.len(),
        us(at(0.5)),
        us(at(0.99)),
        us(at(1.0)),
        recomputes as f64 / secs
    );
    Ok(())
}

fn event(minutes: i64, source: Source, id: String, fact: Fact) -> ParcelEvent {
    let actor = match source {
        Source::OrderIntake => "oms",
        Source::Site => "door-3",
        Source::Carrier => "easypost",
        Source::Operator => "ops-alice",
        Source::Returns => "returns-portal",
    };
    ParcelEvent {
        fact,
        event_time_ms: T0 + minutes * MIN,
        offset_minutes: 60,
        record_time_ms: T0 + minutes * MIN + 4_000,
        provenance: Provenance {
            source,
            actor: actor.to_owned(),
            evidence: format!("{actor}/{id}"),
            event_id: id,
        },
    }
}

fn reached(minutes: i64, source: Source, m: Milestone) -> ParcelEvent {
    let id = format!("{}-{minutes}", m.as_str());
    let detail = (m == Milestone::InTransit).then(|| format!("hub-{}", minutes % 7));
    event(minutes, source, id, Fact::Reached { milestone: m, detail })
}

/// `n` events of one parcel: its whole life, then filler of the kinds that
/// repeat (in-transit scans, estimates, exceptions and resolutions, resends).
fn mixed_events(n: usize, rng: &mut fastrand::Rng) -> Vec<ParcelEvent> {
    use Milestone as M;
    let mut out = vec![
        reached(0, Source::OrderIntake, M::Ordered),
        reached(5, Source::Carrier, M::LabelCreated),
        reached(60, Source::Site, M::Picked),
        reached(90, Source::Site, M::Packed),
        reached(120, Source::Site, M::Staged),
        reached(180, Source::Site, M::Loaded),
        reached(181, Source::Site, M::Loaded),
        reached(300, Source::Carrier, M::CarrierAccepted),
        reached(2000, Source::Carrier, M::OutForDelivery),
        reached(2100, Source::Carrier, M::DeliveryAttempted),
        reached(3400, Source::Carrier, M::OutForDelivery),
        reached(3500, Source::Carrier, M::Delivered),
        event(
            3600,
            Source::Operator,
            "corr-1".into(),
            Fact::Correction {
                assert: false,
                milestone: M::Delivered,
                reason: "delivered to the wrong address".into(),
            },
        ),
        reached(4500, Source::Carrier, M::Delivered),
        reached(9000, Source::Returns, M::ReturnRequested),
        reached(9010, Source::Returns, M::ReturnApproved),
    ];
    let mut i = 0;
    while out.len() < n {
        i += 1;
        let minutes = 300 + rng.i64(0..1700);
        let e = match rng.u8(0..10) {
            0..=3 => reached(minutes, Source::Carrier, M::InTransit),
            4 | 5 => {
                let day = rng.i64(1..4);
                let fact = Fact::Estimate {
                    from_ms: T0 + day * DAY,
                    to_ms: T0 + (day + 1) * DAY,
                };
                event(minutes, Source::Carrier, format!("est-{i}"), fact)
            }
            6 => {
                let (reason, party) = ("weather_delay".to_owned(), Party::Weather);
                event(
                    minutes,
                    Source::Carrier,
                    format!("x-{i}"),
                    Fact::Exception { reason, party },
                )
            }
            7 => {
                let event_ids = vec![format!("x-{}", i - 1), format!("x-{}", i - 2)];
                event(minutes, Source::Site, format!("res-{i}"), Fact::Resolved { event_ids })
            }
            // A resent webhook: an exact copy of an earlier event.
            _ => out[rng.usize(0..out.len())].clone(),
        };
        out.push(e);
    }
    out.truncate(n);
    out
}
