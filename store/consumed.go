package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// HandledVersion returns the highest version of departure departureID (a public id) that
// consumer has handled, or 0 when it has handled none. Consumers compare an event's version
// with it to skip redeliveries, replays and older events that arrive late.
func (s *Store) HandledVersion(ctx context.Context, consumer, departureID string) (int64, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var v int64
	err = tx.queryRow(ctx, `SELECT version FROM consumed_versions WHERE consumer = ? AND departure_id = ?`,
		consumer, departureID).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("store: handled version: %w", err)
	}
	return v, nil
}

// RecordHandled records that consumer has handled version of departureID, brought by message
// messageID. The highest version wins: recording an older one changes nothing, so consumers
// running side by side may record in any order.
func (s *Store) RecordHandled(ctx context.Context, consumer, departureID string, version int64, messageID string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.exec(ctx, `INSERT INTO consumed_versions (consumer, departure_id, version, message_id, handled_at)
		VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (consumer, departure_id) DO UPDATE SET
			version = excluded.version, message_id = excluded.message_id, handled_at = excluded.handled_at
		WHERE consumed_versions.version < excluded.version`,
		consumer, departureID, version, messageID, now())
	if err != nil {
		return fmt.Errorf("store: record handled: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: record handled: %w", err)
	}
	return nil
}
