-- Departures, their status history, users, sessions and the outbox.
--
-- Times are TEXT in one fixed-width UTC form, 2006-01-02T15:04:05.000000Z, written by the
-- store (dialect.go), so that comparing or sorting them as text compares them as times. Do
-- not write CURRENT_TIMESTAMP or strftime() values into these columns: their form differs.

-- +goose Up
CREATE TABLE departures (
    id                  INTEGER PRIMARY KEY AUTOINCREMENT, -- never reused: it is the public id
    po_number           TEXT    NOT NULL,
    destination         TEXT    NOT NULL,
    carrier             TEXT    NOT NULL,
    vehicle             TEXT    NOT NULL DEFAULT '',
    dock                TEXT    NOT NULL,
    scheduled_at        TEXT    NOT NULL,
    estimated_at        TEXT,
    actual_departure_at TEXT,
    status              TEXT    NOT NULL,
    notes               TEXT    NOT NULL DEFAULT '',
    version             INTEGER NOT NULL,
    created_at          TEXT    NOT NULL,
    updated_at          TEXT    NOT NULL,
    updated_by          TEXT    NOT NULL
);
CREATE INDEX departures_scheduled ON departures (scheduled_at, id);
CREATE INDEX departures_status ON departures (status, scheduled_at);
CREATE INDEX departures_dock ON departures (dock, scheduled_at);

CREATE TABLE status_history (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    departure_id INTEGER NOT NULL REFERENCES departures (id),
    from_status  TEXT    NOT NULL, -- '' for the creation
    to_status    TEXT    NOT NULL,
    reason       TEXT    NOT NULL DEFAULT '',
    changed_by   TEXT    NOT NULL,
    changed_at   TEXT    NOT NULL,
    version      INTEGER NOT NULL  -- the departure's version after the change
);
CREATE INDEX status_history_departure ON status_history (departure_id, id);

CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    username      TEXT    NOT NULL UNIQUE,
    role          TEXT    NOT NULL,
    password_hash BLOB    NOT NULL, -- bcrypt, computed by the caller
    disabled      INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL
);

CREATE TABLE sessions (
    "key"      TEXT PRIMARY KEY,
    data       BLOB NOT NULL,
    expires_at TEXT -- NULL: never
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT, -- the order of publication
    message_id    TEXT    NOT NULL UNIQUE,
    message_type  TEXT    NOT NULL,
    departure_id  TEXT    NOT NULL, -- public id, DEP-000123
    version       INTEGER NOT NULL,
    body          TEXT    NOT NULL, -- the event's JSON, byte for byte
    created_at    TEXT    NOT NULL,
    published_at  TEXT,             -- NULL: pending
    attempts      INTEGER NOT NULL DEFAULT 0,
    last_error    TEXT    NOT NULL DEFAULT '',
    claimed_by    TEXT,
    claimed_until TEXT
);
CREATE INDEX outbox_pending ON outbox (id) WHERE published_at IS NULL;

-- +goose Down
DROP TABLE outbox;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE status_history;
DROP TABLE departures;
