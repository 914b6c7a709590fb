package store

import (
	"context"
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

// pendingOutbox returns up to limit unpublished messages in publication order. It does not
// claim them; the relay's claiming read belongs beside it.
func pendingOutbox(ctx context.Context, tx *dbtx, limit int) ([]OutboxMessage, error) {
	rows, err := tx.query(ctx, `SELECT id, message_id, message_type, departure_id, version, body, created_at, attempts
		FROM outbox WHERE published_at IS NULL ORDER BY id LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: pending outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxMessage
	for rows.Next() {
		var m OutboxMessage
		if err := rows.Scan(&m.ID, &m.MessageID, &m.MessageType, &m.DepartureID, &m.Version, &m.Body,
			timeCol{&m.CreatedAt}, &m.Attempts); err != nil {
			return nil, fmt.Errorf("store: pending outbox: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: pending outbox: %w", err)
	}
	return out, nil
}
