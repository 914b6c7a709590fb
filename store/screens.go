package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"calipso/tracking"
)

const screenColumns = `id, name, token_hash, docks, destinations, carriers, statuses, page_size, rotate_seconds, language,
	theme, remove_after_minutes, version, created_at, updated_at, updated_by, revoked_at`

// CreateScreen registers a screen whose link has the token with tokenHash
// (tracking.HashScreenToken). ECONFLICT when the name is taken.
func (s *Store) CreateScreen(ctx context.Context, p tracking.ScreenProfile, tokenHash, by string) (tracking.Screen, error) {
	ctx = orActor(ctx, by)
	tx, err := s.begin(ctx)
	if err != nil {
		return tracking.Screen{}, err
	}
	defer tx.Rollback()

	lists, err := screenLists(p)
	if err != nil {
		return tracking.Screen{}, err
	}
	at := now()
	var id int64
	err = tx.queryRow(ctx, `INSERT INTO screens (name, token_hash, docks, destinations, carriers, statuses,
		page_size, rotate_seconds, language, theme, remove_after_minutes, version, created_at, updated_at, updated_by)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?) RETURNING id`,
		p.Name, tokenHash, lists[0], lists[1], lists[2], lists[3],
		p.PageSize, p.RotateSeconds, string(p.Language), string(p.Theme), p.RemoveAfterMinutes, at, at, by).Scan(&id)
	if isUniqueViolation(err) {
		return tracking.Screen{}, screenNameTaken(p.Name)
	} else if err != nil {
		return tracking.Screen{}, fmt.Errorf("store: create screen: %w", err)
	}
	sc, err := findScreen(ctx, tx, `id = ?`, id)
	if err != nil {
		return tracking.Screen{}, err
	}
	if err := writeAudit(ctx, tx, tracking.AuditScreenCreate, sc.Name, "screen added with a new link"); err != nil {
		return tracking.Screen{}, err
	}
	if err := tx.Commit(); err != nil {
		return tracking.Screen{}, fmt.Errorf("store: commit: %w", err)
	}
	return sc, nil
}

// UpdateScreen replaces a screen's profile when its version is still version, and bumps the
// version so that connected screens pick the change up. ENOTFOUND, ECONFLICT (stale version
// or a taken name).
func (s *Store) UpdateScreen(ctx context.Context, id, version int64, p tracking.ScreenProfile, by string) (tracking.Screen, error) {
	lists, err := screenLists(p)
	if err != nil {
		return tracking.Screen{}, err
	}
	return s.changeScreen(ctx, id, version, by, tracking.AuditScreenUpdate, "profile saved",
		`name = ?, docks = ?, destinations = ?, carriers = ?, statuses = ?,
		page_size = ?, rotate_seconds = ?, language = ?, theme = ?, remove_after_minutes = ?`,
		p.Name, lists[0], lists[1], lists[2], lists[3],
		p.PageSize, p.RotateSeconds, string(p.Language), string(p.Theme), p.RemoveAfterMinutes)
}

// RevokeScreen makes the screen's link stop working. Revoking a revoked screen changes
// nothing but its version. ENOTFOUND.
func (s *Store) RevokeScreen(ctx context.Context, id int64, by string) (tracking.Screen, error) {
	return s.changeScreen(ctx, id, 0, by, tracking.AuditScreenRevoke, "link revoked",
		`revoked_at = COALESCE(revoked_at, ?)`, now())
}

// SetScreenToken gives the screen a new link (the old one stops working) and lifts a
// revocation. ENOTFOUND.
func (s *Store) SetScreenToken(ctx context.Context, id int64, tokenHash, by string) (tracking.Screen, error) {
	return s.changeScreen(ctx, id, 0, by, tracking.AuditScreenLink, "new link; the old one stops working",
		`token_hash = ?, revoked_at = NULL`, tokenHash)
}

// changeScreen runs one UPDATE of a screen (set is a constant of this file, never user
// input), bumping its version, and audits it as action; version 0 skips the version check.
func (s *Store) changeScreen(ctx context.Context, id, version int64, by, action, detail, set string, args ...any) (tracking.Screen, error) {
	ctx = orActor(ctx, by)
	tx, err := s.begin(ctx)
	if err != nil {
		return tracking.Screen{}, err
	}
	defer tx.Rollback()

	q := `UPDATE screens SET ` + set + `, version = version + 1, updated_at = ?, updated_by = ? WHERE id = ?`
	args = append(args, now(), by, id)
	if version != 0 {
		q += ` AND version = ?`
		args = append(args, version)
	}
	res, err := tx.exec(ctx, q, args...)
	if isUniqueViolation(err) {
		return tracking.Screen{}, tracking.Errorf(tracking.ECONFLICT, "Another screen already has this name or link.")
	} else if err != nil {
		return tracking.Screen{}, fmt.Errorf("store: update screen: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return tracking.Screen{}, fmt.Errorf("store: update screen: %w", err)
	}
	if n == 0 {
		if _, err := findScreen(ctx, tx, `id = ?`, id); err != nil {
			return tracking.Screen{}, err
		}
		return tracking.Screen{}, tracking.Errorf(tracking.ECONFLICT,
			"Screen %d was changed by someone else. Reload to see the current values.", id)
	}
	sc, err := findScreen(ctx, tx, `id = ?`, id)
	if err != nil {
		return tracking.Screen{}, err
	}
	if err := writeAudit(ctx, tx, action, sc.Name, detail); err != nil {
		return tracking.Screen{}, err
	}
	if err := tx.Commit(); err != nil {
		return tracking.Screen{}, fmt.Errorf("store: commit: %w", err)
	}
	return sc, nil
}

// Screen returns one screen; ENOTFOUND when there is none.
func (s *Store) Screen(ctx context.Context, id int64) (tracking.Screen, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return tracking.Screen{}, err
	}
	defer tx.Rollback()
	return findScreen(ctx, tx, `id = ?`, id)
}

// ScreenByTokenHash returns the screen whose link has the token with this hash, revoked or
// not; ENOTFOUND when there is none.
func (s *Store) ScreenByTokenHash(ctx context.Context, tokenHash string) (tracking.Screen, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return tracking.Screen{}, err
	}
	defer tx.Rollback()
	return findScreen(ctx, tx, `token_hash = ?`, tokenHash)
}

// Screens lists every screen by name.
func (s *Store) Screens(ctx context.Context) ([]tracking.Screen, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	rows, err := tx.query(ctx, `SELECT `+screenColumns+` FROM screens ORDER BY name`+tx.d.bytewise()+`, id`)
	if err != nil {
		return nil, fmt.Errorf("store: screens: %w", err)
	}
	defer rows.Close()
	var out []tracking.Screen
	for rows.Next() {
		sc, err := scanScreen(rows)
		if err != nil {
			return nil, fmt.Errorf("store: screens: %w", err)
		}
		out = append(out, sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: screens: %w", err)
	}
	return out, nil
}

func findScreen(ctx context.Context, tx *dbtx, cond string, arg any) (tracking.Screen, error) {
	sc, err := scanScreen(tx.queryRow(ctx, `SELECT `+screenColumns+` FROM screens WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return tracking.Screen{}, tracking.Errorf(tracking.ENOTFOUND, "No such screen.")
	} else if err != nil {
		return tracking.Screen{}, fmt.Errorf("store: screen: %w", err)
	}
	return sc, nil
}

func scanScreen(row interface{ Scan(...any) error }) (tracking.Screen, error) {
	var (
		sc                                        tracking.Screen
		docks, destinations, carriers, statusList string
	)
	err := row.Scan(&sc.ID, &sc.Name, &sc.TokenHash, &docks, &destinations, &carriers, &statusList, &sc.PageSize, &sc.RotateSeconds,
		&sc.Language, &sc.Theme, &sc.RemoveAfterMinutes, &sc.Version,
		timeCol{&sc.CreatedAt}, timeCol{&sc.UpdatedAt}, &sc.UpdatedBy, nullTimeCol{&sc.RevokedAt})
	if err != nil {
		return sc, err
	}
	var statuses []string
	for _, l := range []struct {
		raw string
		dst *[]string
	}{{docks, &sc.Docks}, {destinations, &sc.Destinations}, {carriers, &sc.Carriers}, {statusList, &statuses}} {
		if err := json.Unmarshal([]byte(l.raw), l.dst); err != nil {
			return sc, fmt.Errorf("screen %d: bad filter list %q: %w", sc.ID, l.raw, err)
		}
		if len(*l.dst) == 0 {
			*l.dst = nil // "any", as in a profile that was never stored
		}
	}
	for _, st := range statuses {
		sc.Statuses = append(sc.Statuses, tracking.Status(st))
	}
	return sc, nil
}

// screenLists encodes the profile's filter lists as JSON arrays (never null).
func screenLists(p tracking.ScreenProfile) ([4]string, error) {
	statuses := make([]string, len(p.Statuses))
	for i, st := range p.Statuses {
		statuses[i] = string(st)
	}
	var out [4]string
	for i, l := range [][]string{p.Docks, p.Destinations, p.Carriers, statuses} {
		if l == nil {
			l = []string{}
		}
		b, err := json.Marshal(l)
		if err != nil {
			return out, fmt.Errorf("store: encode screen filter: %w", err)
		}
		out[i] = string(b)
	}
	return out, nil
}

func screenNameTaken(name string) error {
	return tracking.Errorf(tracking.ECONFLICT, "A screen named %q already exists.", name)
}
