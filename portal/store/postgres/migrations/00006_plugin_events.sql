-- +goose Up
-- The plugin event outbox: every platform event, recorded once when it
-- happens, in the order the dispatcher delivers them. Recorders serialise
-- their inserts (a transaction advisory lock), so ids become visible in
-- id order and a reader that has seen id N has seen every id below it.
CREATE TABLE plugin_events (
    id          BIGSERIAL PRIMARY KEY,
    type        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    at          TIMESTAMPTZ NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    data        TEXT NOT NULL,
    -- what makes an event the same one seen again (a Session transition
    -- replayed after a restart); NULL: every record is a new event
    dedup_key   TEXT UNIQUE
);
CREATE INDEX plugin_events_recorded_at ON plugin_events (recorded_at);

-- Delivery state per installed plugin: every event with id <= done_id is
-- done for it (delivered, failed for good, or not for it); the counters
-- and the last attempt are what the portal shows.
CREATE TABLE plugin_delivery (
    plugin       TEXT PRIMARY KEY,
    done_id      BIGINT NOT NULL,
    -- event types the plugin receives (subscribed and permitted), JSON,
    -- to count what is pending
    types        TEXT NOT NULL DEFAULT '[]',
    active       BOOLEAN NOT NULL DEFAULT TRUE,
    delivered    BIGINT NOT NULL DEFAULT 0,
    failed       BIGINT NOT NULL DEFAULT 0,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    last_attempt TIMESTAMPTZ,
    last_success TIMESTAMPTZ
);

-- +goose Down
DROP TABLE plugin_delivery;
DROP TABLE plugin_events;
