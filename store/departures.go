package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"calipso/tracking"
)

// Departures returns at most this many rows unless the filter asks for fewer; a filter may
// ask for up to maxDepartures.
const (
	defaultDepartures = 500
	maxDepartures     = 5000
)

const departureColumns = `id, po_number, destination, carrier, vehicle, dock, scheduled_at, estimated_at,
	actual_departure_at, status, notes, version, created_at, updated_at, updated_by`

// CreateDeparture inserts a departure in status Pending, version 1, with its first history row
// (From "" → Pending) and a DepartureUpdated outbox row (Created true).
func (s *Store) CreateDeparture(ctx context.Context, f tracking.DepartureFields, by string) (tracking.Departure, error) {
	ctx = orActor(ctx, by)
	tx, err := s.begin(ctx)
	if err != nil {
		return tracking.Departure{}, err
	}
	defer tx.Rollback()

	at := now()
	id, err := insertDeparture(ctx, tx, f, by, at)
	if err != nil {
		return tracking.Departure{}, err
	}
	first := tracking.StatusChange{DepartureID: id, To: tracking.StatusPending, By: by, At: at, Version: 1}
	if err := insertHistory(ctx, tx, first); err != nil {
		return tracking.Departure{}, err
	}
	dep, err := findDeparture(ctx, tx, id, false)
	if err != nil {
		return tracking.Departure{}, err
	}
	event := tracking.NewDepartureUpdated(dep, true)
	if err := insertOutbox(ctx, tx, tracking.MessageDepartureUpdate, dep, event); err != nil {
		return tracking.Departure{}, err
	}
	if err := writeAudit(ctx, tx, tracking.AuditDepartureCreate, dep.PublicID(), departureCreatedDetail(dep)); err != nil {
		return tracking.Departure{}, err
	}
	if err := s.commitOutbox(tx); err != nil {
		return tracking.Departure{}, err
	}
	return dep, nil
}

// UpdateDeparture replaces the editable fields of departure id when its version is still
// version. It bumps the version and writes a DepartureUpdated outbox row. ENOTFOUND for an
// unknown id; ECONFLICT when the version is stale (nothing is written).
func (s *Store) UpdateDeparture(ctx context.Context, id, version int64, f tracking.DepartureFields, by string) (tracking.Departure, error) {
	ctx = orActor(ctx, by)
	tx, err := s.begin(ctx)
	if err != nil {
		return tracking.Departure{}, err
	}
	defer tx.Rollback()

	// The values before the change, for the audit trail. Locked, so that they are the values
	// this update replaces; the version check below still decides whether it may.
	before, err := findDeparture(ctx, tx, id, true)
	if err != nil {
		return tracking.Departure{}, err
	}

	// The version check is in the WHERE clause, so two concurrent edits cannot both pass it:
	// PostgreSQL re-checks the clause after waiting for the other's row lock, and SQLite runs
	// one writer at a time.
	res, err := tx.exec(ctx, `UPDATE departures SET
		po_number = ?, destination = ?, carrier = ?, vehicle = ?, dock = ?,
		scheduled_at = ?, estimated_at = ?, notes = ?,
		version = version + 1, updated_at = ?, updated_by = ?
		WHERE id = ? AND version = ?`,
		f.PONumber, f.Destination, f.Carrier, f.Vehicle, f.Dock,
		f.ScheduledAt, f.EstimatedAt, f.Notes,
		now(), by,
		id, version)
	if err != nil {
		return tracking.Departure{}, fmt.Errorf("store: update departure: %w", err)
	}
	if err := checkApplied(ctx, tx, res, id); err != nil {
		return tracking.Departure{}, err
	}
	dep, err := findDeparture(ctx, tx, id, false)
	if err != nil {
		return tracking.Departure{}, err
	}
	event := tracking.NewDepartureUpdated(dep, false)
	if err := insertOutbox(ctx, tx, tracking.MessageDepartureUpdate, dep, event); err != nil {
		return tracking.Departure{}, err
	}
	detail := departureChangesDetail(before.DepartureFields, dep.DepartureFields)
	if err := writeAudit(ctx, tx, tracking.AuditDepartureUpdate, dep.PublicID(), detail); err != nil {
		return tracking.Departure{}, err
	}
	if err := s.commitOutbox(tx); err != nil {
		return tracking.Departure{}, err
	}
	return dep, nil
}

// ChangeStatus moves departure id to status `to` when its version is still version and the
// transition table allows it. It bumps the version, sets ActualDepartureAt when the departure
// goes In Transit (the first time), writes a history row and a DepartureStatusUpdated outbox
// row. ENOTFOUND, ECONFLICT (stale version), or EINVALID (transition not allowed, with the
// message from tracking.CheckTransition).
func (s *Store) ChangeStatus(ctx context.Context, id, version int64, to tracking.Status, reason, by string) (tracking.Departure, error) {
	ctx = orActor(ctx, by)
	tx, err := s.begin(ctx)
	if err != nil {
		return tracking.Departure{}, err
	}
	defer tx.Rollback()

	// The transition depends on the current status, so read it under a lock: FOR UPDATE on
	// PostgreSQL, the IMMEDIATE write lock on SQLite. A concurrent change with the same
	// version waits here, then sees the new version and gets ECONFLICT.
	cur, err := findDeparture(ctx, tx, id, true)
	if err != nil {
		return tracking.Departure{}, err
	}
	if cur.Version != version {
		return tracking.Departure{}, conflict(id)
	}
	if err := tracking.CheckTransition(cur.Status, to); err != nil {
		return tracking.Departure{}, err
	}

	at := now()
	actual := cur.ActualDepartureAt
	if to == tracking.StatusInTransit && actual == nil {
		actual = &at
	}
	res, err := tx.exec(ctx, `UPDATE departures SET
		status = ?, actual_departure_at = ?, version = version + 1, updated_at = ?, updated_by = ?
		WHERE id = ? AND version = ?`,
		string(to), actual, at, by, id, version)
	if err != nil {
		return tracking.Departure{}, fmt.Errorf("store: change status: %w", err)
	}
	// Cannot fail under the lock above; kept so that the version check never rests on the
	// lock alone.
	if err := checkApplied(ctx, tx, res, id); err != nil {
		return tracking.Departure{}, err
	}
	change := tracking.StatusChange{
		DepartureID: id, From: cur.Status, To: to, Reason: reason, By: by, At: at, Version: version + 1,
	}
	if err := insertHistory(ctx, tx, change); err != nil {
		return tracking.Departure{}, err
	}
	dep, err := findDeparture(ctx, tx, id, false)
	if err != nil {
		return tracking.Departure{}, err
	}
	event := tracking.NewStatusUpdated(dep, cur.Status, reason)
	if err := insertOutbox(ctx, tx, tracking.MessageStatusUpdated, dep, event); err != nil {
		return tracking.Departure{}, err
	}
	detail := statusChangeDetail(cur.Status, to, reason)
	if err := writeAudit(ctx, tx, tracking.AuditDepartureStatus, dep.PublicID(), detail); err != nil {
		return tracking.Departure{}, err
	}
	if err := s.commitOutbox(tx); err != nil {
		return tracking.Departure{}, err
	}
	return dep, nil
}

// Departure returns one departure; ENOTFOUND when there is none.
func (s *Store) Departure(ctx context.Context, id int64) (tracking.Departure, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return tracking.Departure{}, err
	}
	defer tx.Rollback()
	return findDeparture(ctx, tx, id, false)
}

// Departures lists departures matching f, ordered by scheduled time then id.
func (s *Store) Departures(ctx context.Context, f tracking.DepartureFilter) ([]tracking.Departure, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	return findDepartures(ctx, tx, f)
}

// History returns the status changes of departure id, oldest first; ENOTFOUND for an unknown id.
func (s *Store) History(ctx context.Context, id int64) ([]tracking.StatusChange, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var one int
	err = tx.queryRow(ctx, `SELECT 1 FROM departures WHERE id = ?`, id).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, notFound(id)
	} else if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	rows, err := tx.query(ctx, `SELECT departure_id, from_status, to_status, reason, changed_by, changed_at, version
		FROM status_history WHERE departure_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	defer rows.Close()
	var out []tracking.StatusChange
	for rows.Next() {
		var c tracking.StatusChange
		if err := rows.Scan(&c.DepartureID, &c.From, &c.To, &c.Reason, &c.By, timeCol{&c.At}, &c.Version); err != nil {
			return nil, fmt.Errorf("store: history: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: history: %w", err)
	}
	return out, nil
}

func insertDeparture(ctx context.Context, tx *dbtx, f tracking.DepartureFields, by string, at time.Time) (int64, error) {
	var id int64
	err := tx.queryRow(ctx, `INSERT INTO departures (
		po_number, destination, carrier, vehicle, dock, scheduled_at, estimated_at, notes,
		status, version, created_at, updated_at, updated_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?) RETURNING id`,
		f.PONumber, f.Destination, f.Carrier, f.Vehicle, f.Dock, f.ScheduledAt, f.EstimatedAt, f.Notes,
		string(tracking.StatusPending), at, at, by).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: insert departure: %w", err)
	}
	return id, nil
}

func insertHistory(ctx context.Context, tx *dbtx, c tracking.StatusChange) error {
	_, err := tx.exec(ctx, `INSERT INTO status_history
		(departure_id, from_status, to_status, reason, changed_by, changed_at, version)
		VALUES (?, ?, ?, ?, ?, ?, ?)`,
		c.DepartureID, string(c.From), string(c.To), c.Reason, c.By, c.At, c.Version)
	if err != nil {
		return fmt.Errorf("store: insert history: %w", err)
	}
	return nil
}

// findDeparture reads one departure, locking its row until the transaction ends when lock is
// set (PostgreSQL; see dialect.forUpdate).
func findDeparture(ctx context.Context, tx *dbtx, id int64, lock bool) (tracking.Departure, error) {
	q := `SELECT ` + departureColumns + ` FROM departures WHERE id = ?`
	if lock {
		q += tx.d.forUpdate()
	}
	d, err := scanDeparture(tx.queryRow(ctx, q, id))
	if errors.Is(err, sql.ErrNoRows) {
		return tracking.Departure{}, notFound(id)
	} else if err != nil {
		return tracking.Departure{}, fmt.Errorf("store: departure: %w", err)
	}
	return d, nil
}

func findDepartures(ctx context.Context, tx *dbtx, f tracking.DepartureFilter) ([]tracking.Departure, error) {
	where, args := departureWhere(tx.d, f)
	q := `SELECT ` + departureColumns + ` FROM departures`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY scheduled_at, id LIMIT ?`
	args = append(args, departureLimit(f.Limit))

	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: departures: %w", err)
	}
	defer rows.Close()
	var out []tracking.Departure
	for rows.Next() {
		d, err := scanDeparture(rows)
		if err != nil {
			return nil, fmt.Errorf("store: departures: %w", err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: departures: %w", err)
	}
	return out, nil
}

// departureWhere turns a filter into conditions and their arguments. Values always travel as
// arguments, never inside the SQL text.
func departureWhere(d dialect, f tracking.DepartureFilter) (where []string, args []any) {
	if !f.From.IsZero() {
		where = append(where, `scheduled_at >= ?`)
		args = append(args, f.From)
	}
	if !f.To.IsZero() {
		where = append(where, `scheduled_at < ?`)
		args = append(args, f.To)
	}
	in := func(column string, values []string) {
		if len(values) == 0 {
			return
		}
		where = append(where, column+` IN (`+placeholders(len(values))+`)`)
		for _, v := range values {
			args = append(args, v)
		}
	}
	statuses := make([]string, len(f.Statuses))
	for i, st := range f.Statuses {
		statuses[i] = string(st)
	}
	in(`status`, statuses)
	in(`dock`, f.Docks)
	in(`destination`, f.Destinations)
	in(`carrier`, f.Carriers)

	if q := strings.TrimSpace(f.Query); q != "" {
		cond := d.containsFold(`po_number`) + ` OR ` + d.containsFold(`destination`)
		pattern := containsPattern(q)
		args = append(args, pattern, pattern)
		if id, ok := queryID(q); ok {
			cond += ` OR id = ?`
			args = append(args, id)
		}
		where = append(where, `(`+cond+`)`)
	}
	return where, args
}

// queryID reads a search query as a departure id: a public id in any case (dep-000123), or
// plain digits.
func queryID(q string) (int64, bool) {
	if id, err := tracking.ParseID(strings.ToUpper(q)); err == nil {
		return id, true
	}
	if strings.Trim(q, "0123456789") != "" {
		return 0, false
	}
	id, err := strconv.ParseInt(q, 10, 64)
	return id, err == nil && id > 0
}

func departureLimit(n int) int {
	switch {
	case n <= 0:
		return defaultDepartures
	case n > maxDepartures:
		return maxDepartures
	}
	return n
}

func scanDeparture(row interface{ Scan(...any) error }) (tracking.Departure, error) {
	var d tracking.Departure
	err := row.Scan(&d.ID, &d.PONumber, &d.Destination, &d.Carrier, &d.Vehicle, &d.Dock,
		timeCol{&d.ScheduledAt}, nullTimeCol{&d.EstimatedAt}, nullTimeCol{&d.ActualDepartureAt},
		&d.Status, &d.Notes, &d.Version, timeCol{&d.CreatedAt}, timeCol{&d.UpdatedAt}, &d.UpdatedBy)
	return d, err
}

// checkApplied turns an UPDATE … WHERE id = ? AND version = ? that touched no row into
// ENOTFOUND or ECONFLICT.
func checkApplied(ctx context.Context, tx *dbtx, res sql.Result, id int64) error {
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: rows affected: %w", err)
	}
	if n == 1 {
		return nil
	}
	var version int64
	err = tx.queryRow(ctx, `SELECT version FROM departures WHERE id = ?`, id).Scan(&version)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(id)
	} else if err != nil {
		return fmt.Errorf("store: departure version: %w", err)
	}
	return conflict(id)
}

func notFound(id int64) error {
	return tracking.Errorf(tracking.ENOTFOUND, "No departure %s.", tracking.FormatID(id))
}

func conflict(id int64) error {
	return tracking.Errorf(tracking.ECONFLICT,
		"Departure %s was changed by someone else. Reload to see the current values.", tracking.FormatID(id))
}
