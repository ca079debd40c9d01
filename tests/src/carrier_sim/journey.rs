//! One parcel's trip as a carrier reports it: label, pickup, facility scans,
//! out for delivery, perhaps a failed attempt, then delivered or returned to
//! sender; every step with its time and place. Pure and seeded, so a test
//! and a rerun see the same trip.

use chrono::{DateTime, Duration, FixedOffset, NaiveDate, Offset, Utc};
use waymark_sync::status::Milestone;

use super::Scenario;

/// What happens at one step. Finer than [`Milestone`]: a facility scan is an
/// arrival or a departure, which providers word and code differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Label,
    Accepted,
    Departure,
    Arrival,
    OutForDelivery,
    Attempt,
    Delivered,
    Returned,
}

impl Kind {
    pub fn milestone(self) -> Milestone {
        match self {
            Self::Label => Milestone::LabelCreated,
            Self::Accepted => Milestone::CarrierAccepted,
            Self::Departure | Self::Arrival => Milestone::InTransit,
            Self::OutForDelivery => Milestone::OutForDelivery,
            Self::Attempt => Milestone::DeliveryAttempted,
            Self::Delivered => Milestone::Delivered,
            Self::Returned => Milestone::ReturnedToSender,
        }
    }

    /// The words a carrier's scan would carry.
    pub fn description(self) -> &'static str {
        match self {
            Self::Label => "Shipment information received, label created",
            Self::Accepted => "Picked up",
            Self::Departure => "Departed from facility",
            Self::Arrival => "Arrived at facility",
            Self::OutForDelivery => "Out for delivery",
            Self::Attempt => "Delivery attempted: receiver not available, notice left",
            Self::Delivered => "Delivered",
            Self::Returned => "Returned to sender",
        }
    }
}

/// A place a scan happens, with its UTC offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Place {
    pub city: &'static str,
    pub state: &'static str,
    pub postal_code: &'static str,
    /// ISO 3166-1 alpha-2.
    pub country: &'static str,
    pub offset_minutes: i32,
}

const fn place(city: &'static str, state: &'static str, postal_code: &'static str, offset_h: i32) -> Place {
    Place {
        city,
        state,
        postal_code,
        country: "US",
        offset_minutes: offset_h * 60,
    }
}

/// Origins, hubs and destinations the trips are drawn from.
const ORIGINS: [Place; 3] = [
    place("Louisville", "KY", "40213", -5),
    place("Reno", "NV", "89502", -8),
    place("Edison", "NJ", "08837", -5),
];
const HUBS: [Place; 3] = [
    place("Chicago", "IL", "60638", -6),
    place("Dallas", "TX", "75261", -6),
    place("Atlanta", "GA", "30349", -5),
];
const DESTINATIONS: [Place; 3] = [
    place("Denver", "CO", "80216", -7),
    place("Seattle", "WA", "98108", -8),
    place("Boston", "MA", "02118", -5),
];
const SIGNERS: [&str; 4] = ["J. SMITH", "FRONT DOOR", "K. MUELLER", "RECEPTION"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub kind: Kind,
    pub at: DateTime<Utc>,
    pub place: Place,
}

impl Step {
    /// The step's time in its place's own offset.
    pub fn local(&self) -> DateTime<FixedOffset> {
        self.at.with_timezone(&fixed_offset(self.place.offset_minutes))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Journey {
    pub tracking_number: String,
    /// The carrier as aggregators name it, lowercased ("ups", "fedex", "dhl").
    pub carrier: String,
    /// A stable hex id for this trip, for provider ids (`trk_`, `evt_` ...).
    pub id: String,
    pub steps: Vec<Step>,
    /// The day the carrier promises, in the destination's calendar.
    pub estimate: NaiveDate,
    pub origin: Place,
    pub destination: Place,
    /// Who signed, on a delivered trip.
    pub signed_by: Option<&'static str>,
}

impl Journey {
    /// The trip of `tracking_number` under `scenario`: the same number and
    /// seed always give the same trip, whatever the other numbers are.
    pub fn plan(tracking_number: &str, scenario: &Scenario) -> Self {
        let id = stable_id(&[&scenario.seed.to_string(), tracking_number]);
        let mut rng = fastrand::Rng::with_seed(scenario.seed ^ fnv(tracking_number.as_bytes()));
        let roll = |rng: &mut fastrand::Rng, percent: f64| rng.f64() * 100.0 < percent;
        let origin = ORIGINS[rng.usize(..ORIGINS.len())];
        let hub = HUBS[rng.usize(..HUBS.len())];
        let destination = DESTINATIONS[rng.usize(..DESTINATIONS.len())];
        let two_scans = rng.bool();
        let returned = roll(&mut rng, scenario.return_to_sender_percent);
        // A return to sender follows a failed attempt.
        let attempt = returned || roll(&mut rng, scenario.failed_attempts_percent);

        // (kind, place, fraction of the journey)
        let mut plan = vec![(Kind::Label, origin, 0.0), (Kind::Accepted, origin, 0.06)];
        if two_scans {
            plan.push((Kind::Departure, origin, 0.15));
            plan.push((Kind::Arrival, hub, 0.32));
        } else {
            plan.push((Kind::Arrival, hub, 0.25));
        }
        if attempt {
            plan.push((Kind::OutForDelivery, destination, 0.5));
            plan.push((Kind::Attempt, destination, 0.6));
            if returned {
                plan.push((Kind::Returned, destination, 1.0));
            } else {
                plan.push((Kind::OutForDelivery, destination, 0.9));
                plan.push((Kind::Delivered, destination, 1.0));
            }
        } else {
            plan.push((Kind::OutForDelivery, destination, 0.8));
            plan.push((Kind::Delivered, destination, 1.0));
        }

        // Each trip starts a little after the scenario's start (up to 5 % of
        // the journey), so trips of many numbers interleave.
        let total_ms = scenario.journey.as_millis().min(i64::MAX as u128) as f64;
        let lead_ms = rng.f64() * 0.05 * total_ms;
        let span_ms = total_ms * 0.95;
        let steps: Vec<Step> = plan
            .into_iter()
            .map(|(kind, place, f)| Step {
                kind,
                at: scenario.start + Duration::milliseconds((lead_ms + f * span_ms) as i64),
                place,
            })
            .collect();
        let end = steps.last().map_or(scenario.start, |s| s.at);
        let offset = Duration::minutes(i64::from(destination.offset_minutes));
        Self {
            tracking_number: tracking_number.to_string(),
            carrier: scenario.carrier.to_lowercase(),
            id,
            estimate: (end + offset).date_naive(),
            steps,
            origin,
            destination,
            signed_by: (!returned).then(|| SIGNERS[rng.usize(..SIGNERS.len())]),
        }
    }

    /// The milestones of the trip, in order.
    pub fn milestones(&self) -> Vec<Milestone> {
        self.steps.iter().map(|s| s.kind.milestone()).collect()
    }
}

/// `minutes` east of UTC as an offset (UTC when out of range).
pub fn fixed_offset(minutes: i32) -> FixedOffset {
    FixedOffset::east_opt(minutes * 60).unwrap_or_else(|| Utc.fix())
}

/// 16 hex digits that depend only on `parts`.
pub fn stable_id(parts: &[&str]) -> String {
    let joined = parts.join("\u{1f}");
    format!("{:016x}", fnv(joined.as_bytes()))
}

/// FNV-1a, 64 bits: ids and seeds, nothing secret.
fn fnv(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
