-- Waymark central, schema 1 (SQLite). Times are unix milliseconds (INTEGER);
-- events and orders are stored as their protobuf encoding (BLOB).

-- Per-site replication stream: the fencing epoch (bumped by every stream that
-- opens) and the high-water mark, written in the same transaction as the events.
CREATE TABLE site_streams (
    site_id TEXT PRIMARY KEY,
    epoch INTEGER NOT NULL DEFAULT 0,
    high_water_mark INTEGER NOT NULL DEFAULT 0,
    owner TEXT NOT NULL DEFAULT '',
    opened_ms INTEGER NOT NULL DEFAULT 0
);

-- The acknowledged write: append-only, one row per event.
CREATE TABLE events (
    site_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event_time_ms INTEGER NOT NULL,
    event_id TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (site_id, seq)
) WITHOUT ROWID;
-- An event re-derived under a new sequence is the same event: the id index,
-- led by the event time so new entries land at its end.
CREATE UNIQUE INDEX events_by_id ON events (site_id, event_time_ms, event_id);

CREATE TABLE site_gaps (
    site_id TEXT NOT NULL,
    first_seq INTEGER NOT NULL,
    last_seq INTEGER NOT NULL,
    reason TEXT NOT NULL,
    recorded_ms INTEGER NOT NULL,
    PRIMARY KEY (site_id, first_seq)
);

CREATE TABLE gateway_status (
    site_id TEXT PRIMARY KEY,
    body BLOB NOT NULL,
    received_ms INTEGER NOT NULL
);

CREATE TABLE orders (
    order_number TEXT PRIMARY KEY,
    site_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    body BLOB NOT NULL
);
-- Every identifier a read may name, owned by one order.
CREATE TABLE order_identifiers (
    identifier TEXT PRIMARY KEY,
    order_number TEXT NOT NULL REFERENCES orders (order_number)
);
-- The downlink: per-site order revisions, in commit order.
CREATE TABLE site_revision_counters (
    site_id TEXT PRIMARY KEY,
    last_revision INTEGER NOT NULL
);
CREATE TABLE order_revisions (
    site_id TEXT NOT NULL,
    revision INTEGER NOT NULL,
    order_number TEXT NOT NULL REFERENCES orders (order_number),
    PRIMARY KEY (site_id, revision)
);

CREATE TABLE api_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    sha256 TEXT NOT NULL UNIQUE,
    scopes TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER,
    revoked INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE enrollment_tokens (
    hash BLOB PRIMARY KEY,
    site_id TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    used_ms INTEGER
);

CREATE TABLE settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- Projections follow the events from a cursor per (projection, site).
CREATE TABLE projection_cursors (
    projection TEXT NOT NULL,
    site_id TEXT NOT NULL,
    position INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (projection, site_id)
);
-- The timeline projection: every identifier an event names, and its order.
CREATE TABLE timeline (
    identifier TEXT NOT NULL,
    site_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    PRIMARY KEY (identifier, site_id, seq)
) WITHOUT ROWID;
