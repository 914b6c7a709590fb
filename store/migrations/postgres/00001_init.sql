-- Departures, their status history, users, sessions and the outbox.
-- Tables are created in the connection's current schema (search_path).

-- +goose Up
CREATE TABLE departures (
    id                  BIGSERIAL   PRIMARY KEY, -- the public id DEP-000123 is derived from it
    po_number           TEXT        NOT NULL,
    destination         TEXT        NOT NULL,
    carrier             TEXT        NOT NULL,
    vehicle             TEXT        NOT NULL DEFAULT '',
    dock                TEXT        NOT NULL,
    scheduled_at        TIMESTAMPTZ NOT NULL,
    estimated_at        TIMESTAMPTZ,
    actual_departure_at TIMESTAMPTZ,
    status              TEXT        NOT NULL,
    notes               TEXT        NOT NULL DEFAULT '',
    version             BIGINT      NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL,
    updated_by          TEXT        NOT NULL
);
CREATE INDEX departures_scheduled ON departures (scheduled_at, id);
CREATE INDEX departures_status ON departures (status, scheduled_at);
CREATE INDEX departures_dock ON departures (dock, scheduled_at);

CREATE TABLE status_history (
    id           BIGSERIAL   PRIMARY KEY,
    departure_id BIGINT      NOT NULL REFERENCES departures (id),
    from_status  TEXT        NOT NULL, -- '' for the creation
    to_status    TEXT        NOT NULL,
    reason       TEXT        NOT NULL DEFAULT '',
    changed_by   TEXT        NOT NULL,
    changed_at   TIMESTAMPTZ NOT NULL,
    version      BIGINT      NOT NULL  -- the departure's version after the change
);
CREATE INDEX status_history_departure ON status_history (departure_id, id);

CREATE TABLE users (
    id            BIGSERIAL   PRIMARY KEY,
    username      TEXT        NOT NULL UNIQUE,
    role          TEXT        NOT NULL,
    password_hash BYTEA       NOT NULL, -- bcrypt, computed by the caller
    disabled      BOOLEAN     NOT NULL DEFAULT FALSE,
    created_at    TIMESTAMPTZ NOT NULL
);

CREATE TABLE sessions (
    "key"      TEXT        PRIMARY KEY,
    data       BYTEA       NOT NULL,
    expires_at TIMESTAMPTZ -- NULL: never
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE outbox (
    id            BIGSERIAL   PRIMARY KEY, -- the order of publication
    message_id    TEXT        NOT NULL UNIQUE,
    message_type  TEXT        NOT NULL,
    departure_id  TEXT        NOT NULL, -- public id, DEP-000123
    version       BIGINT      NOT NULL,
    body          TEXT        NOT NULL, -- the event's JSON byte for byte (jsonb would rewrite it)
    created_at    TIMESTAMPTZ NOT NULL,
    published_at  TIMESTAMPTZ,          -- NULL: pending
    attempts      INTEGER     NOT NULL DEFAULT 0,
    last_error    TEXT        NOT NULL DEFAULT '',
    claimed_by    TEXT,
    claimed_until TIMESTAMPTZ
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE status_history;
DROP TABLE departures;
