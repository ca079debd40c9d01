-- Waymark central, schema 3 (SQLite): carrier webhooks kept raw as received
-- (verified), the canonical events normalized from them, and carrier
-- accounts added through the API.

-- Accounts added through the API; those of the config file live there.
CREATE TABLE carrier_accounts (
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    secret TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    PRIMARY KEY (provider, name)
);

-- Per account, for integration engineers: last received, errors.
CREATE TABLE carrier_account_stats (
    provider TEXT NOT NULL,
    name TEXT NOT NULL,
    received INTEGER NOT NULL DEFAULT 0,
    last_received_ms INTEGER,
    failed INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_ms INTEGER,
    PRIMARY KEY (provider, name)
);

-- Every verified webhook body, stored before it is acknowledged; the
-- normalizer works from here (pending -> done, or failed after its retries).
CREATE TABLE carrier_webhooks (
    id INTEGER PRIMARY KEY,
    provider TEXT NOT NULL,
    account TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL DEFAULT 0,
    error TEXT,
    events_new INTEGER NOT NULL DEFAULT 0,
    events_known INTEGER NOT NULL DEFAULT 0,
    done_ms INTEGER
);
-- The normalizer takes the oldest pending first: read in id order, stopping
-- at its batch (a retry not yet due is skipped on the way).
CREATE INDEX carrier_webhooks_due ON carrier_webhooks (state, id);

-- The bodies apart, so that marking a webhook done does not rewrite its body.
CREATE TABLE carrier_webhook_bodies (
    id INTEGER PRIMARY KEY REFERENCES carrier_webhooks (id),
    body BLOB NOT NULL
);

-- Canonical carrier events, once each by the provider's key. order_number is
-- NULL while the tracking number matches no order (held until one arrives).
CREATE TABLE carrier_events (
    provider TEXT NOT NULL,
    event_key TEXT NOT NULL,
    tracking_number TEXT NOT NULL,
    carrier TEXT NOT NULL,
    milestone TEXT NOT NULL DEFAULT '',
    event_time_ms INTEGER,
    webhook_id INTEGER NOT NULL,
    recorded_ms INTEGER NOT NULL,
    order_number TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (provider, event_key)
);
CREATE INDEX carrier_events_by_tracking ON carrier_events (tracking_number);
CREATE INDEX carrier_events_by_order ON carrier_events (order_number);
