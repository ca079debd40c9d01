-- Waymark central, schema 1 (PostgreSQL). Times are unix milliseconds (BIGINT);
-- events and orders are stored as their protobuf encoding (BYTEA).

-- Per-site replication stream: the fencing epoch (bumped by every stream that
-- opens) and the high-water mark, written in the same transaction as the events.
CREATE TABLE site_streams (
    site_id TEXT PRIMARY KEY,
    epoch BIGINT NOT NULL DEFAULT 0,
    high_water_mark BIGINT NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',
    opened_ms BIGINT NOT NULL DEFAULT 0
);

-- The acknowledged write: append-only, one row per event.
CREATE TABLE events (
    site_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    event_time_ms BIGINT NOT NULL,
    event_id TEXT NOT NULL,
    body BYTEA NOT NULL,
    PRIMARY KEY (site_id, seq)
);
-- An event re-derived under a new sequence is the same event: the id index,
-- led by the event time so new entries land at its end.
CREATE UNIQUE INDEX events_by_id ON events (site_id, event_time_ms, event_id);

CREATE TABLE site_gaps (
    site_id TEXT NOT NULL,
    first_seq BIGINT NOT NULL,
    last_seq BIGINT NOT NULL,
    reason TEXT NOT NULL,
    recorded_ms BIGINT NOT NULL,
    PRIMARY KEY (site_id, first_seq)
);

CREATE TABLE gateway_status (
    site_id TEXT PRIMARY KEY,
    body BYTEA NOT NULL,
    received_ms BIGINT NOT NULL
);

CREATE TABLE orders (
    order_number TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    body BYTEA NOT NULL
);
-- Every identifier a read may name, owned by one order.
CREATE TABLE order_identifiers (
    identifier TEXT PRIMARY KEY,
    order_number TEXT NOT NULL REFERENCES orders (order_number)
);
-- The downlink: per-site order revisions, in commit order.
CREATE TABLE site_revision_counters (
    site_id TEXT PRIMARY KEY,
    last_revision BIGINT NOT NULL
);
CREATE TABLE order_revisions (
    site_id TEXT NOT NULL,
    revision BIGINT NOT NULL,
    order_number TEXT NOT NULL REFERENCES orders (order_number),
    PRIMARY KEY (site_id, revision)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT,
    revoked BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE enrollment_tokens (
    hash BYTEA PRIMARY KEY,
    site_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    used_ms BIGINT
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Projections follow the events from a cursor per (projection, site).
CREATE TABLE projection_cursors (
    projection TEXT NOT NULL,
    site_id TEXT NOT NULL,
    position BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (projection, site_id)
);
-- The timeline projection: every identifier an event names, and its order.
CREATE TABLE timeline (
    identifier TEXT NOT NULL,
    site_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (identifier, site_id, seq)
);
