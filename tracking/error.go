// Package tracking is the domain of Calipso Tracking: departures, their statuses and the
// transitions between them, validation, the events a change produces, and the error codes
// every other package speaks. It imports only the standard library, so that storage,
// messaging and the web layer depend on it and never the other way round.
package tracking

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Application error codes. The web layer maps each to an HTTP status; messaging maps them to
// "retry" or "dead-letter". Internal details never travel in an Error: they go to the log.
const (
	ECONFLICT     = "conflict"     // a stale version, or a state that forbids the action
	EINTERNAL     = "internal"     // anything unexpected
	EINVALID      = "invalid"      // bad input; Fields says which
	ENOTFOUND     = "not_found"    // no such thing
	EUNAUTHORIZED = "unauthorized" // not logged in, or bad credentials
	EFORBIDDEN    = "forbidden"    // logged in, but not allowed
	ETOOLARGE     = "too_large"    // a body or value over its limit
	EUNAVAILABLE  = "unavailable"  // a dependency is down; try again later
)

// Error is the one application error type. Message is safe to show to a user.
type Error struct {
	Code    string
	Message string
	// Fields maps a form field name to what is wrong with it (EINVALID only).
	Fields map[string]string
}

func (e *Error) Error() string {
	if len(e.Fields) == 0 {
		return fmt.Sprintf("tracking error: code=%s message=%s", e.Code, e.Message)
	}
	return fmt.Sprintf("tracking error: code=%s message=%s fields=%v", e.Code, e.Message, e.Fields)
}

// Errorf is a helper returning an *Error with a formatted, user-safe message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, EINTERNAL for any other error and ""
// for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-safe message of an application error, or a generic one.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorFields returns the per-field messages of an EINVALID error, or nil.
func ErrorFields(err error) map[string]string {
	var e *Error
	if errors.As(err, &e) {
		return e.Fields
	}
	return nil
}

// FieldSummary is one line naming each field of an EINVALID error with what is wrong with
// it, in a stable order: for a banner above a form, or the reason of a refused message.
func FieldSummary(err error) string {
	fields := ErrorFields(err)
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = name + ": " + fields[name]
	}
	return strings.Join(parts, "; ")
}

// FieldErrors collects per-field validation messages and turns them into one EINVALID error.
type FieldErrors map[string]string

// Add records msg for field unless the field already has a message: the first problem found
// is the one worth showing.
func (f FieldErrors) Add(field, msg string) {
	if _, ok := f[field]; !ok {
		f[field] = msg
	}
}

// Err returns nil when nothing was added.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	return &Error{Code: EINVALID, Message: "Please correct the highlighted fields.", Fields: map[string]string(f)}
}
