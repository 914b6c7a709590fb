package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/google/uuid"

	"calipso/tracking"
)

// OutboxMessage is one event waiting to be published.
type OutboxMessage struct {
	ID          int64  // order of publication
	MessageID   string // a GUID, fixed at write time so that a re-publish is a recognisable duplicate
	MessageType string // tracking.MessageStatusUpdated or tracking.MessageDepartureUpdate
	DepartureID string // public id, for per-departure ordering
	Version     int64
	Body        []byte // the JSON of the event (the MassTransit "message" field)
	CreatedAt   time.Time
	Attempts    int
}

// insertOutbox records event for publication, inside the transaction of the change it
// describes: the event commits if and only if the change does. The caller commits with
// commitOutbox so that the relay wakes up.
func insertOutbox(ctx context.Context, tx *dbtx, messageType string, dep tracking.Departure, event any) error {
	body, err := json.Marshal(event)
	if err != nil {
		return fmt.Errorf("store: encode %s: %w", messageType, err)
	}
	_, err = tx.exec(ctx, `INSERT INTO outbox
		(message_id, message_type, departure_id, version, body, created_at)
		VALUES (?, ?, ?, ?, ?, ?)`,
		uuid.NewString(), messageType, dep.PublicID(), dep.Version, string(body), now())
	if err != nil {
		return fmt.Errorf("store: insert outbox: %w", err)
	}
	return nil
}

// pendingOutbox returns up to limit unpublished messages in publication order, claimed or not.
func pendingOutbox(ctx context.Context, tx *dbtx, limit int) ([]OutboxMessage, error) {
	msgs, err := scanOutbox(tx.query(ctx, `SELECT `+outboxColumns+`
		FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?`, limit))
	if err != nil {
		return nil, fmt.Errorf("store: pending outbox: %w", err)
	}
	return msgs, nil
}

// maxClaim caps one claim: the relay's window of unconfirmed messages is far smaller.
const maxClaim = 1000

// ClaimOutbox leases up to limit pending messages to claimant for lease, oldest first, so that
// it can publish them. A message leased to someone else, or held back after a failure (see
// ReleaseOutbox), is not claimed until its lease has passed.
//
// Several instances may claim at once (PostgreSQL): rows are read FOR UPDATE SKIP LOCKED, so
// two claims never return the same row. Order per departure is kept as well: a message is
// left out while an earlier pending message of the same departure is not part of this claim
// (leased elsewhere, locked by a concurrent claim, or held back), so the messages of one
// departure are always published by one claimant, in id order. The earliest pending message
// of a departure is never held back by this rule, so every departure makes progress.
//
// Each claim counts as an attempt.
func (s *Store) ClaimOutbox(ctx context.Context, claimant string, limit int, lease time.Duration) ([]OutboxMessage, error) {
	if limit <= 0 || limit > maxClaim {
		limit = maxClaim
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	at := now()
	candidates, err := scanOutbox(tx.query(ctx, `SELECT `+outboxColumns+` FROM outbox
		WHERE published_at IS NULL AND (claimed_until IS NULL OR claimed_until <= ?)
		ORDER BY id LIMIT ?`+tx.d.skipLocked(), at, limit))
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	if len(candidates) == 0 {
		return nil, nil
	}

	// For each departure among the candidates, the first pending row that is not a candidate.
	// Candidates of that departure after it must wait until it is published.
	var (
		deps, ids []any
		seen      = map[string]bool{}
	)
	for _, m := range candidates {
		ids = append(ids, m.ID)
		if !seen[m.DepartureID] {
			seen[m.DepartureID] = true
			deps = append(deps, m.DepartureID)
		}
	}
	rows, err := tx.query(ctx, `SELECT departure_id, MIN(id) FROM outbox
		WHERE published_at IS NULL
		AND departure_id IN (`+placeholders(len(deps))+`)
		AND id NOT IN (`+placeholders(len(ids))+`)
		GROUP BY departure_id`, append(deps, ids...)...)
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	firstOther := map[string]int64{}
	for rows.Next() {
		var dep string
		var id int64
		if err := rows.Scan(&dep, &id); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: claim outbox: %w", err)
		}
		firstOther[dep] = id
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}

	claimed := candidates[:0]
	var claimedIDs []any
	for _, m := range candidates {
		if first, ok := firstOther[m.DepartureID]; ok && first < m.ID {
			continue
		}
		m.Attempts++
		claimed = append(claimed, m)
		claimedIDs = append(claimedIDs, m.ID)
	}
	if len(claimed) == 0 {
		return nil, nil
	}
	_, err = tx.exec(ctx, `UPDATE outbox SET claimed_by = ?, claimed_until = ?, attempts = attempts + 1
		WHERE id IN (`+placeholders(len(claimedIDs))+`)`,
		append([]any{claimant, at.Add(lease)}, claimedIDs...)...)
	if err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("store: claim outbox: %w", err)
	}
	return claimed, nil
}

// MarkPublished records that the broker confirmed the messages ids: they are never claimed
// again. Only a confirm may lead here; a message marked too early would be lost.
func (s *Store) MarkPublished(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.exec(ctx, `UPDATE outbox SET published_at = ?, claimed_by = NULL, claimed_until = NULL, last_error = ''
		WHERE published_at IS NULL AND id IN (`+placeholders(len(ids))+`)`,
		append([]any{now()}, int64Args(ids)...)...)
	if err != nil {
		return fmt.Errorf("store: mark published: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: mark published: %w", err)
	}
	return nil
}

// ReleaseOutbox gives claimed messages back after a failed publish (nack, return, timeout, lost
// connection), keeping reason as their last error. They may be claimed again from retryAt on
// (at once when it is zero); until then they also hold back the later messages of their
// departures.
func (s *Store) ReleaseOutbox(ctx context.Context, ids []int64, retryAt time.Time, reason string) error {
	if len(ids) == 0 {
		return nil
	}
	var until *time.Time
	if !retryAt.IsZero() {
		until = &retryAt
	}
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	_, err = tx.exec(ctx, `UPDATE outbox SET claimed_by = NULL, claimed_until = ?, last_error = ?
		WHERE published_at IS NULL AND id IN (`+placeholders(len(ids))+`)`,
		append([]any{until, reason}, int64Args(ids)...)...)
	if err != nil {
		return fmt.Errorf("store: release outbox: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: release outbox: %w", err)
	}
	return nil
}

// OutboxStats describes the messages not yet published, for the backlog gauge and the admin
// page.
type OutboxStats struct {
	Pending int       // messages not yet confirmed by the broker
	Failing int       // pending messages whose last publish failed
	Oldest  time.Time // when the oldest pending message was written; zero when none
}

// OutboxStats counts the pending messages.
func (s *Store) OutboxStats(ctx context.Context) (OutboxStats, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return OutboxStats{}, err
	}
	defer tx.Rollback()
	var (
		st     OutboxStats
		oldest *time.Time
	)
	err = tx.queryRow(ctx, `SELECT COUNT(*), COALESCE(SUM(CASE WHEN last_error <> '' THEN 1 ELSE 0 END), 0), MIN(created_at)
		FROM outbox WHERE published_at IS NULL`).Scan(&st.Pending, &st.Failing, nullTimeCol{&oldest})
	if err != nil {
		return OutboxStats{}, fmt.Errorf("store: outbox stats: %w", err)
	}
	if oldest != nil {
		st.Oldest = *oldest
	}
	return st, nil
}

// PruneOutbox deletes the messages published before before, and returns how many it deleted.
// Pending messages are never deleted.
func (s *Store) PruneOutbox(ctx context.Context, before time.Time) (int64, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	res, err := tx.exec(ctx, `DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < ?`, before)
	if err != nil {
		return 0, fmt.Errorf("store: prune outbox: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("store: prune outbox: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("store: prune outbox: %w", err)
	}
	return n, nil
}

const outboxColumns = `id, message_id, message_type, departure_id, version, body, created_at, attempts`

// scanOutbox reads the rows of a query of outboxColumns.
func scanOutbox(rows *sql.Rows, err error) ([]OutboxMessage, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []OutboxMessage
	for rows.Next() {
		var m OutboxMessage
		if err := rows.Scan(&m.ID, &m.MessageID, &m.MessageType, &m.DepartureID, &m.Version, &m.Body,
			timeCol{&m.CreatedAt}, &m.Attempts); err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, rows.Err()
}

func int64Args(ids []int64) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
