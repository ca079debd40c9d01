//! Central's Prometheus metrics.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct SiteLabel {
    pub site: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ReasonLabel {
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ServerReasonLabel {
    pub server: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct PageLabel {
    pub page: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProjectionLabel {
    pub projection: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderLabel {
    pub provider: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderReasonLabel {
    pub provider: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ProviderOutcomeLabel {
    pub provider: &'static str,
    pub outcome: &'static str,
}

/// `waymark_carrier_*`: the carrier webhook receivers and their normalization.
#[derive(Debug)]
pub struct CarrierMetrics {
    pub received: Family<ProviderLabel, Counter>,
    /// Refused before storing: signature reasons, unknown account, too large, busy.
    pub rejected: Family<ProviderReasonLabel, Counter>,
    /// Canonical events by outcome: new, known (a duplicate or a snapshot's
    /// old history), unmapped (kept, no milestone), held (no order yet).
    pub events: Family<ProviderOutcomeLabel, Counter>,
    pub normalize_failures: Family<ProviderReasonLabel, Counter>,
    pub pending: Gauge,
    pub failed: Gauge,
    /// From the request's arrival to its stored acknowledgement.
    pub ack_seconds: Histogram,
}

pub struct SyncMetrics {
    registry: Registry,
    carriers_registry: Registry,
    pub carriers: CarrierMetrics,
    /// `waymark_projection_*`: named without the `sync` prefix, as documented.
    projections: Registry,
    /// Events applied but not yet projected, by projection.
    pub projection_lag: Family<ProjectionLabel, Gauge>,
    pub projected_events: Family<ProjectionLabel, Counter>,
    /// Batches refused because a newer stream for the site had opened, by site.
    pub streams_fenced: Family<SiteLabel, Counter>,
    pub events_applied: Family<SiteLabel, Counter>,
    pub events_duplicate: Family<SiteLabel, Counter>,
    /// Events applied ahead of the ordered stream (priority lane), by site.
    pub events_expedited: Family<SiteLabel, Counter>,
    /// Sequences a gateway reported it can no longer deliver (recorded gaps), by site.
    pub events_lost: Family<SiteLabel, Counter>,
    pub batches_refused: Family<ReasonLabel, Counter>,
    pub apply_seconds: Histogram,
    pub replication_streams: Gauge,
    pub orders_created: Counter,
    /// Order submissions refused (422), by reason: `hidden_character` (an
    /// invisible or bidirectional-control character in an identifier) or
    /// `invalid_field`.
    pub orders_rejected: Family<ReasonLabel, Counter>,
    /// HTTP connections central closed, by server (`api`, `ops`) and reason:
    /// `per_client` (over the client's connection budget), `header_timeout`,
    /// `body_timeout` (a request answered 408).
    pub http_connections_closed: Family<ServerReasonLabel, Counter>,
    pub enrollments: Counter,
    pub enrollments_refused: Family<ReasonLabel, Counter>,
    /// gRPC calls refused for their identity (no certificate, another site's data).
    pub calls_refused: Family<ReasonLabel, Counter>,
    /// API requests refused before their handler: missing, malformed, unknown,
    /// revoked, expired, scope, rate_limited.
    pub api_auth_rejected: Family<ReasonLabel, Counter>,
    /// `waymark_tracking_rejections_total`: tracking lookups and links refused,
    /// by reason (unknown_order, wrong_factor, link_expired, rate_limited ...).
    pub tracking_rejections: Family<ReasonLabel, Counter>,
    /// `waymark_tracking_pages_total`: tracking pages served, by page.
    pub tracking_pages: Family<PageLabel, Counter>,
}

impl std::fmt::Debug for SyncMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncMetrics").finish_non_exhaustive()
    }
}

impl Default for SyncMetrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("waymark_sync");
        let carriers = CarrierMetrics {
            received: Family::default(),
            rejected: Family::default(),
            events: Family::default(),
            normalize_failures: Family::default(),
            pending: Gauge::default(),
            failed: Gauge::default(),
            ack_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
        };
        let mut carriers_registry = Registry::with_prefix("waymark_carrier");
        carriers_registry.register(
            "webhooks_received",
            "Verified carrier webhooks stored, by provider",
            carriers.received.clone(),
        );
        carriers_registry.register(
            "webhooks_rejected",
            "Carrier webhooks refused before storing, by provider and reason",
            carriers.rejected.clone(),
        );
        carriers_registry.register(
            "events",
            "Canonical carrier events, by provider and outcome (new, known, unmapped, held)",
            carriers.events.clone(),
        );
        carriers_registry.register(
            "normalize_failures",
            "Stored webhooks the normalizer refused, by provider and reason (retried, then listed as failed)",
            carriers.normalize_failures.clone(),
        );
        carriers_registry.register(
            "webhooks_pending",
            "Stored webhooks not normalized yet",
            carriers.pending.clone(),
        );
        carriers_registry.register(
            "webhooks_failed",
            "Stored webhooks that failed normalization after their retries",
            carriers.failed.clone(),
        );
        carriers_registry.register(
            "ack_seconds",
            "Time from a webhook's arrival to its stored acknowledgement",
            carriers.ack_seconds.clone(),
        );
        let m = Self {
            registry: Registry::default(),
            carriers_registry,
            carriers,
            projections: Registry::default(),
            projection_lag: Family::default(),
            projected_events: Family::default(),
            streams_fenced: Family::default(),
            events_applied: Family::default(),
            events_duplicate: Family::default(),
            events_expedited: Family::default(),
            events_lost: Family::default(),
            batches_refused: Family::default(),
            apply_seconds: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
            replication_streams: Gauge::default(),
            orders_created: Counter::default(),
            orders_rejected: Family::default(),
            http_connections_closed: Family::default(),
            enrollments: Counter::default(),
            enrollments_refused: Family::default(),
            calls_refused: Family::default(),
            api_auth_rejected: Family::default(),
            tracking_rejections: Family::default(),
            tracking_pages: Family::default(),
        };
        registry.register("events_applied", "Events applied, by site", m.events_applied.clone());
        registry.register(
            "events_duplicate",
            "Redelivered events that changed nothing, by site",
            m.events_duplicate.clone(),
        );
        registry.register(
            "events_expedited",
            "Milestone and exception events applied ahead of a backlog (priority lane), by site",
            m.events_expedited.clone(),
        );
        registry.register(
            "events_lost",
            "Events a gateway could no longer deliver after central lost them (recorded gaps), by site",
            m.events_lost.clone(),
        );
        registry.register(
            "batches_refused",
            "Batches refused, by reason",
            m.batches_refused.clone(),
        );
        registry.register(
            "apply_seconds",
            "Time to apply and fdatasync one batch",
            m.apply_seconds.clone(),
        );
        registry.register(
            "replication_streams",
            "Open replication streams from gateways",
            m.replication_streams.clone(),
        );
        registry.register("orders_created", "Orders created", m.orders_created.clone());
        registry.register(
            "orders_rejected",
            "Order submissions refused, by reason",
            m.orders_rejected.clone(),
        );
        registry.register(
            "http_connections_closed",
            "HTTP connections closed by central, by server and reason",
            m.http_connections_closed.clone(),
        );
        registry.register("enrollments", "Gateways enrolled", m.enrollments.clone());
        registry.register(
            "enrollments_refused",
            "Enrollment attempts refused, by reason",
            m.enrollments_refused.clone(),
        );
        registry.register(
            "calls_refused",
            "gRPC calls refused for the caller's identity, by reason",
            m.calls_refused.clone(),
        );
        registry.register(
            "api_auth_rejected",
            "API requests refused for authentication or scope, by reason",
            m.api_auth_rejected.clone(),
        );
        registry.register(
            "streams_fenced",
            "Batches refused because a newer stream for the same site had opened (two gateways with one identity?), by site",
            m.streams_fenced.clone(),
        );
        let mut projections = Registry::with_prefix("waymark");
        projections.register(
            "projection_lag_events",
            "Events applied but not yet projected, by projection",
            m.projection_lag.clone(),
        );
        projections.register(
            "projection_events",
            "Events projected, by projection",
            m.projected_events.clone(),
        );
        projections.register(
            "tracking_rejections",
            "Tracking lookups and links refused, by reason",
            m.tracking_rejections.clone(),
        );
        projections.register(
            "tracking_pages",
            "Tracking pages served, by page",
            m.tracking_pages.clone(),
        );
        Self {
            registry,
            projections,
            ..m
        }
    }
}

impl SyncMetrics {
    pub fn render(&self) -> String {
        let mut out = String::new();
        let encoded = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)
            .and_then(|()| prometheus_client::encoding::text::encode_registry(&mut out, &self.projections))
            .and_then(|()| prometheus_client::encoding::text::encode_registry(&mut out, &self.carriers_registry))
            .and_then(|()| prometheus_client::encoding::text::encode_eof(&mut out));
        if encoded.is_err() {
            out.clear();
        }
        out
    }

    pub fn projection_lag(&self, projection: &'static str, lag: u64) {
        self.projection_lag
            .get_or_create(&ProjectionLabel { projection })
            .set(i64::try_from(lag).unwrap_or(i64::MAX));
    }

    pub fn projected(&self, projection: &'static str, events: u64) {
        self.projected_events
            .get_or_create(&ProjectionLabel { projection })
            .inc_by(events);
    }
}
