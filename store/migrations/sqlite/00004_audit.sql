-- Security (issue 6): the audit trail, and a per-user cut-off before which sessions no longer
-- count (set when a password changes or a user is disabled).
--
-- Times are TEXT in the store's fixed-width UTC form (see 00001_init.sql).

-- +goose Up
CREATE TABLE audit_log (
    id       INTEGER PRIMARY KEY AUTOINCREMENT, -- newest has the highest id
    at       TEXT    NOT NULL,
    username TEXT    NOT NULL, -- who; "(command line)" and "(system)" are processes
    ip       TEXT    NOT NULL DEFAULT '', -- from where; '' for processes
    action   TEXT    NOT NULL, -- area.verb, e.g. departure.status
    subject  TEXT    NOT NULL DEFAULT '', -- what: DEP-000123, a username, a screen
    detail   TEXT    NOT NULL DEFAULT ''  -- the change in words
);
CREATE INDEX audit_log_at ON audit_log (at, id);
CREATE INDEX audit_log_username ON audit_log (username, id);
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

ALTER TABLE users ADD COLUMN sessions_not_before TEXT; -- NULL: every session counts

-- +goose Down
ALTER TABLE users DROP COLUMN sessions_not_before;
DROP TABLE audit_log;
