package store

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"calipso/tracking"
)

// AuditLog returns at most this many entries unless the filter asks for fewer; a filter may
// ask for up to maxAudit.
const (
	defaultAudit = 200
	maxAudit     = 1000
)

// writeAudit records a change inside tx, the transaction of the change itself, so the entry
// commits if and only if the change does. Who and from where come from ctx (see
// tracking.WithActor); a change made with no actor is recorded as tracking.ActorSystem.
//
// Every exported method that changes something calls it once, before its commit.
func writeAudit(ctx context.Context, tx *dbtx, action, subject, detail string) error {
	a, ok := tracking.ActorFrom(ctx)
	if !ok || a.Username == "" {
		a = tracking.ActorSystem
	}
	_, err := tx.exec(ctx, `INSERT INTO audit_log (at, username, ip, action, subject, detail)
		VALUES (?, ?, ?, ?, ?, ?)`,
		now(), auditText(a.Username, 100), auditText(a.IP, 64), auditText(action, 64),
		auditText(subject, tracking.MaxAuditSubject), auditText(detail, tracking.MaxAuditDetail))
	if err != nil {
		return fmt.Errorf("store: write audit: %w", err)
	}
	return nil
}

// orActor returns ctx with the actor `by` when ctx carries none: changes made outside a web
// request (the demo, a simulator) still name who made them.
func orActor(ctx context.Context, by string) context.Context {
	if _, ok := tracking.ActorFrom(ctx); ok || by == "" {
		return ctx
	}
	return tracking.WithActor(ctx, tracking.Actor{Username: by})
}

// Audit records a change that has no transaction in this store, such as an action on the
// broker (a dead letter replayed or discarded). Prefer writeAudit inside the transaction of
// any change that does write here.
func (s *Store) Audit(ctx context.Context, action, subject, detail string) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := writeAudit(ctx, tx, action, subject, detail); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// AuditLog returns the entries matching f, newest first.
func (s *Store) AuditLog(ctx context.Context, f tracking.AuditFilter) ([]tracking.AuditEntry, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	var where []string
	var args []any
	if f.Username != "" {
		where = append(where, `username = ?`)
		args = append(args, f.Username)
	}
	if f.Subject != "" {
		where = append(where, `subject = ?`)
		args = append(args, f.Subject)
	}
	if f.Action != "" {
		where = append(where, `(action = ? OR action LIKE ? ESCAPE '!')`)
		args = append(args, f.Action, likeEscape(f.Action)+".%")
	}
	if !f.From.IsZero() {
		where = append(where, `at >= ?`)
		args = append(args, f.From)
	}
	if !f.To.IsZero() {
		where = append(where, `at < ?`)
		args = append(args, f.To)
	}
	if f.Before > 0 {
		where = append(where, `id < ?`)
		args = append(args, f.Before)
	}
	q := `SELECT id, at, username, ip, action, subject, detail FROM audit_log`
	if len(where) > 0 {
		q += ` WHERE ` + strings.Join(where, ` AND `)
	}
	q += ` ORDER BY id DESC LIMIT ?`
	args = append(args, auditLimit(f.Limit))

	rows, err := tx.query(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	defer rows.Close()
	var out []tracking.AuditEntry
	for rows.Next() {
		var e tracking.AuditEntry
		if err := rows.Scan(&e.ID, timeCol{&e.At}, &e.Username, &e.IP, &e.Action, &e.Subject, &e.Detail); err != nil {
			return nil, fmt.Errorf("store: audit log: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return out, nil
}

func auditLimit(n int) int {
	switch {
	case n <= 0:
		return defaultAudit
	case n > maxAudit:
		return maxAudit
	}
	return n
}

// auditText makes s storable on both dialects and bounded: valid UTF-8 without NUL (which
// PostgreSQL's TEXT refuses), at most max characters. Details may quote untrusted input, such
// as a message from the broker.
func auditText(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.ReplaceAll(s, "\x00", "\uFFFD")
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max-1]) + "…"
	}
	return s
}

// The details of departure changes, in words: field names as the form names them, strings
// quoted, times in UTC.

func departureCreatedDetail(d tracking.Departure) string {
	return strings.Join([]string{
		"po_number: " + fmt.Sprintf("%q", d.PONumber),
		"destination: " + fmt.Sprintf("%q", d.Destination),
		"carrier: " + fmt.Sprintf("%q", d.Carrier),
		"vehicle: " + fmt.Sprintf("%q", d.Vehicle),
		"dock: " + fmt.Sprintf("%q", d.Dock),
		"scheduled_at: " + auditTime(&d.ScheduledAt),
		"estimated_at: " + auditTime(d.EstimatedAt),
		"notes: " + fmt.Sprintf("%q", d.Notes),
	}, "; ")
}

// departureChangesDetail names each field that differs between before and after.
func departureChangesDetail(before, after tracking.DepartureFields) string {
	var parts []string
	str := func(name, a, b string) {
		if a != b {
			parts = append(parts, fmt.Sprintf("%s: %q → %q", name, a, b))
		}
	}
	tm := func(name string, a, b *time.Time) {
		if x, y := auditTime(a), auditTime(b); x != y {
			parts = append(parts, fmt.Sprintf("%s: %s → %s", name, x, y))
		}
	}
	str("po_number", before.PONumber, after.PONumber)
	str("destination", before.Destination, after.Destination)
	str("carrier", before.Carrier, after.Carrier)
	str("vehicle", before.Vehicle, after.Vehicle)
	str("dock", before.Dock, after.Dock)
	tm("scheduled_at", &before.ScheduledAt, &after.ScheduledAt)
	tm("estimated_at", before.EstimatedAt, after.EstimatedAt)
	str("notes", before.Notes, after.Notes)
	if len(parts) == 0 {
		return "saved without changes"
	}
	return strings.Join(parts, "; ")
}

func statusChangeDetail(from, to tracking.Status, reason string) string {
	s := string(from) + " → " + string(to)
	if reason != "" {
		s += fmt.Sprintf("; reason: %q", reason)
	}
	return s
}

func auditTime(t *time.Time) string {
	if t == nil || t.IsZero() {
		return "none"
	}
	return t.UTC().Format(time.RFC3339)
}
