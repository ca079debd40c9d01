-- Waymark central, schema 2 (PostgreSQL): orders split into shipments, parcels with
-- their status, operator corrections. The order itself is kept whole in
-- orders.body (JSON from this version on; protobuf in rows written by schema 1
-- until they are upgraded by the data step that runs with this migration).

ALTER TABLE orders ADD COLUMN revision BIGINT NOT NULL DEFAULT 1;
ALTER TABLE orders ADD COLUMN status TEXT NOT NULL DEFAULT 'ordered';
-- Active overlays, as ",delayed,exception," (empty when none).
ALTER TABLE orders ADD COLUMN overlays TEXT NOT NULL DEFAULT '';
ALTER TABLE orders ADD COLUMN updated_ms BIGINT NOT NULL DEFAULT 0;
-- When a time-driven overlay (delayed, label_not_accepted) may next change
-- without any new event: the status clock recomputes the order then.
ALTER TABLE orders ADD COLUMN recheck_ms BIGINT;
CREATE INDEX orders_by_recheck ON orders (recheck_ms);
-- Lists page through orders by last change.
CREATE INDEX orders_by_update ON orders (updated_ms, order_number);
CREATE INDEX orders_by_status ON orders (status, updated_ms, order_number);

CREATE TABLE shipments (
    order_number TEXT NOT NULL REFERENCES orders (order_number),
    shipment_id TEXT NOT NULL,
    site_id TEXT NOT NULL,
    carrier TEXT NOT NULL DEFAULT '',
    tracking_number TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'ordered',
    cancelled BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_number, shipment_id)
);
CREATE INDEX shipments_by_site ON shipments (site_id, order_number);

-- One row per parcel with the status engine's latest answer.
CREATE TABLE parcels (
    order_number TEXT NOT NULL REFERENCES orders (order_number),
    parcel_id TEXT NOT NULL,
    shipment_id TEXT NOT NULL,
    milestone TEXT NOT NULL DEFAULT '',
    customer_status TEXT NOT NULL DEFAULT '',
    overlays TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT '{}',
    updated_ms BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (order_number, parcel_id)
);

-- Active overlays per order, so a list by overlay reads only the orders that
-- have it (kept in step with orders.updated_ms).
CREATE TABLE order_overlays (
    overlay TEXT NOT NULL,
    updated_ms BIGINT NOT NULL,
    order_number TEXT NOT NULL REFERENCES orders (order_number),
    PRIMARY KEY (overlay, updated_ms, order_number)
);
CREATE INDEX order_overlays_by_order ON order_overlays (order_number);

-- Audited operator corrections: assert or retract a milestone of a parcel.
CREATE TABLE corrections (
    correction_id TEXT PRIMARY KEY,
    order_number TEXT NOT NULL REFERENCES orders (order_number),
    parcel_id TEXT NOT NULL,
    milestone TEXT NOT NULL,
    assert_milestone BIGINT NOT NULL,
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    event_time_ms BIGINT NOT NULL,
    recorded_ms BIGINT NOT NULL
);
CREATE INDEX corrections_by_parcel ON corrections (order_number, parcel_id);
