package tracking

import (
	"regexp"
	"time"
	"unicode/utf8"
)

// Role decides what a user may do.
type Role string

const (
	RoleDispatcher Role = "dispatcher"
	RoleAdmin      Role = "admin"
)

// ParseRole accepts "dispatcher" or "admin".
func ParseRole(s string) (Role, error) {
	switch Role(s) {
	case RoleDispatcher, RoleAdmin:
		return Role(s), nil
	}
	return "", &Error{Code: EINVALID, Message: "Unknown role: use dispatcher or admin.",
		Fields: map[string]string{"role": "Use dispatcher or admin."}}
}

// User is someone who logs in. The password hash never leaves the store and the auth code.
type User struct {
	ID           int64
	Username     string
	Role         Role
	PasswordHash []byte
	Disabled     bool
	CreatedAt    time.Time
	// SessionsNotBefore ends every session that began before it (zero: none is ended). A
	// password change and disabling the user set it.
	SessionsNotBefore time.Time
}

// IsAdmin reports whether u may use the admin pages.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

var usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9._-]{2,40}$`)

// CheckUsername validates a new username.
func CheckUsername(s string) error {
	if !usernamePattern.MatchString(s) {
		return &Error{Code: EINVALID, Message: "A username has 2 to 40 letters, digits, dots, dashes or underscores.",
			Fields: map[string]string{"username": "2 to 40 letters, digits, dots, dashes or underscores."}}
	}
	return nil
}

// Password limits. bcrypt ignores bytes past 72, so longer passwords are refused rather than
// silently cut.
const (
	MinPassword = 8
	MaxPassword = 72
)

// CheckPassword validates a new password.
func CheckPassword(s string) error {
	n := utf8.RuneCountInString(s)
	switch {
	case n < MinPassword:
		return &Error{Code: EINVALID, Message: "A password has at least 8 characters.",
			Fields: map[string]string{"password": "At least 8 characters."}}
	case len(s) > MaxPassword:
		return &Error{Code: EINVALID, Message: "A password has at most 72 bytes.",
			Fields: map[string]string{"password": "At most 72 bytes."}}
	}
	return nil
}
