package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"calipso/tracking"
)

const userColumns = `id, username, role, password_hash, disabled, created_at, sessions_not_before`

// CreateUser adds a user with a bcrypt hash computed by the caller. ECONFLICT when the
// username is taken.
func (s *Store) CreateUser(ctx context.Context, username string, role tracking.Role, passwordHash []byte) (tracking.User, error) {
	tx, err := s.begin(ctx)
	if err != nil {
		return tracking.User{}, err
	}
	defer tx.Rollback()

	u := tracking.User{Username: username, Role: role, PasswordHash: passwordHash, CreatedAt: now()}
	// The UNIQUE constraint decides, not a prior SELECT: two concurrent creations of the same
	// name would both pass a SELECT.
	err = tx.queryRow(ctx, `INSERT INTO users (username, role, password_hash, disabled, created_at)
		VALUES (?, ?, ?, ?, ?) RETURNING id`,
		username, string(role), passwordHash, false, u.CreatedAt).Scan(&u.ID)
	if isUniqueViolation(err) {
		return tracking.User{}, tracking.Errorf(tracking.ECONFLICT, "The username %q is taken.", username)
	} else if err != nil {
		return tracking.User{}, fmt.Errorf("store: create user: %w", err)
	}
	if err := writeAudit(ctx, tx, tracking.AuditUserCreate, username, "role "+string(role)); err != nil {
		return tracking.User{}, err
	}
	if err := tx.Commit(); err != nil {
		return tracking.User{}, fmt.Errorf("store: commit: %w", err)
	}
	return u, nil
}

// UserByUsername returns a user, ENOTFOUND when there is none.
func (s *Store) UserByUsername(ctx context.Context, username string) (tracking.User, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return tracking.User{}, err
	}
	defer tx.Rollback()
	return findUser(ctx, tx, `username = ?`, username)
}

// UserByID returns a user, ENOTFOUND when there is none.
func (s *Store) UserByID(ctx context.Context, id int64) (tracking.User, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return tracking.User{}, err
	}
	defer tx.Rollback()
	return findUser(ctx, tx, `id = ?`, id)
}

// Users lists all users by username.
func (s *Store) Users(ctx context.Context) ([]tracking.User, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()

	// Usernames are ASCII (tracking.CheckUsername), so lower() folds them alike on both
	// dialects; the plain name breaks ties between names that differ only in case.
	c := tx.d.bytewise()
	rows, err := tx.query(ctx, `SELECT `+userColumns+` FROM users ORDER BY lower(username)`+c+`, username`+c)
	if err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	defer rows.Close()
	var out []tracking.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("store: users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: users: %w", err)
	}
	return out, nil
}

// CountUsers is used on first start to decide whether to create the admin.
func (s *Store) CountUsers(ctx context.Context) (int, error) {
	tx, err := s.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()

	var n int
	if err := tx.queryRow(ctx, `SELECT COUNT(*) FROM users`).Scan(&n); err != nil {
		return 0, fmt.Errorf("store: count users: %w", err)
	}
	return n, nil
}

// SetPassword replaces a user's hash and ends the user's sessions: any session that began
// before now no longer counts (see tracking.User.SessionsNotBefore). ENOTFOUND for an unknown
// user.
func (s *Store) SetPassword(ctx context.Context, userID int64, passwordHash []byte) error {
	return s.updateUser(ctx, userID, tracking.AuditUserPassword, "password changed; sessions ended",
		`password_hash = ?, sessions_not_before = ?`, passwordHash, now())
}

// SetDisabled disables or enables a user; ENOTFOUND for an unknown user. Disabling also ends
// the user's sessions, so that enabling the user again does not bring them back.
func (s *Store) SetDisabled(ctx context.Context, userID int64, disabled bool) error {
	if disabled {
		return s.updateUser(ctx, userID, tracking.AuditUserDisable, "disabled; sessions ended",
			`disabled = ?, sessions_not_before = ?`, true, now())
	}
	return s.updateUser(ctx, userID, tracking.AuditUserEnable, "enabled", `disabled = ?`, false)
}

// updateUser sets columns of one user and audits it (set is a constant of this file, never
// user input).
func (s *Store) updateUser(ctx context.Context, userID int64, action, detail, set string, values ...any) error {
	tx, err := s.begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback()

	var username string
	err = tx.queryRow(ctx, `UPDATE users SET `+set+` WHERE id = ? RETURNING username`,
		append(values, userID)...).Scan(&username)
	if errors.Is(err, sql.ErrNoRows) {
		return userNotFound()
	} else if err != nil {
		return fmt.Errorf("store: update user: %w", err)
	}
	if err := writeAudit(ctx, tx, action, username, detail); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

func findUser(ctx context.Context, tx *dbtx, cond string, arg any) (tracking.User, error) {
	u, err := scanUser(tx.queryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+cond, arg))
	if errors.Is(err, sql.ErrNoRows) {
		return tracking.User{}, userNotFound()
	} else if err != nil {
		return tracking.User{}, fmt.Errorf("store: user: %w", err)
	}
	return u, nil
}

func scanUser(row interface{ Scan(...any) error }) (tracking.User, error) {
	var u tracking.User
	var notBefore *time.Time
	err := row.Scan(&u.ID, &u.Username, &u.Role, &u.PasswordHash, &u.Disabled, timeCol{&u.CreatedAt},
		nullTimeCol{&notBefore})
	if notBefore != nil {
		u.SessionsNotBefore = *notBefore
	}
	return u, err
}

// userNotFound does not repeat the name or id: login errors must not tell which part was wrong.
func userNotFound() error { return tracking.Errorf(tracking.ENOTFOUND, "No such user.") }
