// Package store is Calipso's system of record: departures, their status history, the outbox,
// users and sessions. It speaks SQLite (modernc.org/sqlite, the embedded default) and
// PostgreSQL (pgx) behind one API, checked by one conformance suite.
//
// Every exported method owns its transaction. A change to a departure writes the departure
// row, its history row and its outbox row in the same transaction, so an event is never lost
// and never published for a change that did not commit.
package store

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
)

// Store is the database. It is safe for concurrent use.
type Store struct {
	db        *sql.DB
	dialect   dialect
	committed chan struct{}
	sessions  *SessionStorage
}

// Open connects to url: "sqlite:PATH" (the directory is created) or "postgres://…".
// It does not migrate; call Migrate.
func Open(ctx context.Context, url string) (*Store, error) {
	var (
		db  *sql.DB
		d   dialect
		err error
	)
	switch {
	case strings.HasPrefix(url, "sqlite:"):
		d = dialectSQLite
		db, err = openSQLite(strings.TrimPrefix(url, "sqlite:"))
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		d = dialectPostgres
		db, err = openPostgres(url)
	default:
		// Only the scheme is shown: the rest of a URL may hold a password.
		scheme, _, _ := strings.Cut(url, ":")
		return nil, fmt.Errorf("store: unsupported database URL scheme %q: use sqlite:PATH or postgres://…", scheme)
	}
	if err != nil {
		return nil, err
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", d, err)
	}
	s := &Store{db: db, dialect: d, committed: make(chan struct{}, 1)}
	s.sessions = &SessionStorage{s: s}
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the database is reachable (for /readyz).
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Dialect is "sqlite" or "postgres".
func (s *Store) Dialect() string { return string(s.dialect) }

// Committed is signalled (without blocking, capacity 1) after every commit that wrote an
// outbox row, so the relay publishes at once instead of waiting for its next poll.
func (s *Store) Committed() <-chan struct{} { return s.committed }

// begin starts a read-write transaction.
func (s *Store) begin(ctx context.Context) (*dbtx, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	return &dbtx{Tx: tx, d: s.dialect}, nil
}

// beginRead starts a read-only transaction: one consistent snapshot, and on SQLite no wait
// for the write lock.
func (s *Store) beginRead(ctx context.Context) (*dbtx, error) {
	tx, err := s.db.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: begin: %w", err)
	}
	return &dbtx{Tx: tx, d: s.dialect}, nil
}

// commitOutbox commits a transaction that wrote an outbox row and wakes the relay.
func (s *Store) commitOutbox(tx *dbtx) error {
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	select {
	case s.committed <- struct{}{}:
	default: // a wake-up is already pending; the relay will see this row too
	}
	return nil
}
