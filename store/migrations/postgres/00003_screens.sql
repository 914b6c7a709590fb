-- Screen profiles: wall-mounted boards reached through a token URL. Only the SHA-256 of the
-- token is kept (hex), so a copy of the database gives no working URL. Filter lists are JSON
-- arrays of strings (an empty array means "any"), kept as TEXT like the outbox body.

-- +goose Up
CREATE TABLE screens (
    id                   BIGSERIAL   PRIMARY KEY,
    name                 TEXT        NOT NULL UNIQUE,
    token_hash           TEXT        NOT NULL UNIQUE,
    docks                TEXT        NOT NULL DEFAULT '[]',
    destinations         TEXT        NOT NULL DEFAULT '[]',
    carriers             TEXT        NOT NULL DEFAULT '[]',
    statuses             TEXT        NOT NULL DEFAULT '[]',
    page_size            INTEGER     NOT NULL,
    rotate_seconds       INTEGER     NOT NULL,
    language             TEXT        NOT NULL,
    theme                TEXT        NOT NULL,
    remove_after_minutes INTEGER     NOT NULL,
    version              BIGINT      NOT NULL,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    updated_by           TEXT        NOT NULL,
    revoked_at           TIMESTAMPTZ           -- NULL: the link works
);

-- +goose Down
DROP TABLE screens;
