package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync/atomic"
	"time"
)

// sessionTimeout bounds each session call: fiber.Storage has no context, and a request must
// not hang forever on a stuck database.
const sessionTimeout = 10 * time.Second

// sessionPurgeInterval is how often Set also deletes expired sessions. Get ignores them
// anyway; the purge only keeps the table small.
const sessionPurgeInterval = 10 * time.Minute

// Sessions returns the session storage. It has the method set of fiber.Storage, so the web
// layer hands it to Fiber's session middleware; sessions live in the database, so logging in
// works while Redis is down and across instances.
func (s *Store) Sessions() *SessionStorage { return s.sessions }

// SessionStorage keeps opaque session blobs with an expiry.
type SessionStorage struct {
	s         *Store
	nextPurge atomic.Int64 // unix nanoseconds; 0 means purge on the next Set
}

// Get returns nil, nil for a missing or expired key.
func (ss *SessionStorage) Get(key string) ([]byte, error) {
	if key == "" {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	tx, err := ss.s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var data []byte
	err = tx.queryRow(ctx, `SELECT data FROM sessions WHERE "key" = ? AND (expires_at IS NULL OR expires_at > ?)`,
		key, now()).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("store: get session: %w", err)
	}
	return data, nil
}

// Set stores val under key; exp 0 means no expiry.
func (ss *SessionStorage) Set(key string, val []byte, exp time.Duration) error {
	// As Fiber's own storages do: an empty key or value stores nothing.
	if key == "" || len(val) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	tx, err := ss.s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	at := now()
	var expires *time.Time
	if exp != 0 {
		t := at.Add(exp)
		expires = &t
	}
	_, err = tx.exec(ctx, `INSERT INTO sessions ("key", data, expires_at) VALUES (?, ?, ?)
		ON CONFLICT ("key") DO UPDATE SET data = excluded.data, expires_at = excluded.expires_at`,
		key, val, expires)
	if err != nil {
		return fmt.Errorf("store: set session: %w", err)
	}
	if ss.purgeDue(at) {
		if err := purgeSessions(ctx, tx, at); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// Delete removes key; a missing key is not an error.
func (ss *SessionStorage) Delete(key string) error {
	return ss.exec(`DELETE FROM sessions WHERE "key" = ?`, key)
}

// Reset removes every session.
func (ss *SessionStorage) Reset() error {
	return ss.exec(`DELETE FROM sessions`)
}

// Close does nothing: the Store owns the database.
func (ss *SessionStorage) Close() error { return nil }

func (ss *SessionStorage) exec(query string, args ...any) error {
	ctx, cancel := context.WithTimeout(context.Background(), sessionTimeout)
	defer cancel()
	tx, err := ss.s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.exec(ctx, query, args...); err != nil {
		return fmt.Errorf("store: sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// purgeDue reports whether this Set should purge, at most once per interval per process:
// only the caller that moves nextPurge forward does it.
func (ss *SessionStorage) purgeDue(at time.Time) bool {
	next := ss.nextPurge.Load()
	if at.UnixNano() < next {
		return false
	}
	return ss.nextPurge.CompareAndSwap(next, at.Add(sessionPurgeInterval).UnixNano())
}

func purgeSessions(ctx context.Context, tx *dbtx, at time.Time) error {
	if _, err := tx.exec(ctx, `DELETE FROM sessions WHERE expires_at <= ?`, at); err != nil {
		return fmt.Errorf("store: purge sessions: %w", err)
	}
	return nil
}
