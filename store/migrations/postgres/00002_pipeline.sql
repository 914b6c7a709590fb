-- The event pipeline: what the outbox relay and the consumers need beyond 00001.

-- +goose Up
-- The relay claims the oldest pending rows and checks, per departure, that no earlier row is
-- pending elsewhere (store/outbox.go).
CREATE INDEX outbox_pending_departure ON outbox (departure_id, id) WHERE published_at IS NULL;
-- Published rows are pruned by age.
CREATE INDEX outbox_published ON outbox (published_at) WHERE published_at IS NOT NULL;

-- The highest version of each departure a consumer has handled, so that a redelivered,
-- replayed or out-of-order older event has no second effect.
CREATE TABLE consumed_versions (
    consumer     TEXT        NOT NULL, -- the receive endpoint (queue) name
    departure_id TEXT        NOT NULL, -- public id, DEP-000123
    version      BIGINT      NOT NULL,
    message_id   TEXT        NOT NULL, -- the message that brought this version
    handled_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (consumer, departure_id)
);

-- +goose Down
DROP TABLE consumed_versions;
DROP INDEX outbox_published;
DROP INDEX outbox_pending_departure;
