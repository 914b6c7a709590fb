package tracking

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Departure is one planned departure of a vehicle from a dock.
type Departure struct {
	ID int64 // internal sequence; the public form is PublicID()
	DepartureFields
	Status Status
	// ActualDepartureAt is set when the departure goes In Transit.
	ActualDepartureAt *time.Time
	// Version grows by one with every change; forms and events carry it.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	UpdatedBy string
}

// DepartureFields are the fields a dispatcher edits.
type DepartureFields struct {
	PONumber    string
	Destination string
	Carrier     string
	Vehicle     string
	Dock        string
	ScheduledAt time.Time
	EstimatedAt *time.Time
	Notes       string
}

// PublicID is the id users and events see, such as DEP-000123.
func (d Departure) PublicID() string { return FormatID(d.ID) }

// ExpectedAt is when the departure is now expected to leave: the estimate when there is one,
// the schedule otherwise. Boards sort by it.
func (d Departure) ExpectedAt() time.Time {
	if d.EstimatedAt != nil {
		return *d.EstimatedAt
	}
	return d.ScheduledAt
}

// Delay is how late the estimate is against the schedule; zero or negative means on time.
func (d Departure) Delay() time.Duration {
	if d.EstimatedAt == nil {
		return 0
	}
	return d.EstimatedAt.Sub(d.ScheduledAt)
}

const idPrefix = "DEP-"

// FormatID turns the internal sequence into the public id.
func FormatID(id int64) string { return fmt.Sprintf("%s%06d", idPrefix, id) }

// ParseID turns a public id (DEP-000123) back into the internal sequence. Anything else is
// ENOTFOUND, so a malformed id in a URL answers 404 like an unknown one.
func ParseID(s string) (int64, error) {
	digits, ok := strings.CutPrefix(s, idPrefix)
	if !ok || len(digits) < 6 || len(digits) > 18 {
		return 0, Errorf(ENOTFOUND, "No departure %q.", truncate(s, 40))
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return 0, Errorf(ENOTFOUND, "No departure %q.", truncate(s, 40))
		}
	}
	n, err := strconv.ParseInt(digits, 10, 64)
	if err != nil || n <= 0 {
		return 0, Errorf(ENOTFOUND, "No departure %q.", truncate(s, 40))
	}
	return n, nil
}

// Field limits, in characters. The database columns are wider; these are what a dispatcher
// may type.
const (
	MaxPONumber    = 40
	MaxDestination = 120
	MaxCarrier     = 80
	MaxVehicle     = 40
	MaxDock        = 16
	MaxNotes       = 1000
	MaxReason      = 500
)

// DateTimeLayout is the value of an <input type=datetime-local>.
const DateTimeLayout = "2006-01-02T15:04"

// DepartureForm is the raw text of a departure form, exactly as posted.
type DepartureForm struct {
	PONumber    string
	Destination string
	Carrier     string
	Vehicle     string
	Dock        string
	ScheduledAt string
	EstimatedAt string
	Notes       string
}

// FormOf returns the form that shows d's current values in loc.
func FormOf(d DepartureFields, loc *time.Location) DepartureForm {
	f := DepartureForm{
		PONumber:    d.PONumber,
		Destination: d.Destination,
		Carrier:     d.Carrier,
		Vehicle:     d.Vehicle,
		Dock:        d.Dock,
		Notes:       d.Notes,
	}
	if !d.ScheduledAt.IsZero() {
		f.ScheduledAt = d.ScheduledAt.In(loc).Format(DateTimeLayout)
	}
	if d.EstimatedAt != nil {
		f.EstimatedAt = d.EstimatedAt.In(loc).Format(DateTimeLayout)
	}
	return f
}

// Parse validates the form and returns the fields, with times read in loc (the depot's time
// zone) and stored in UTC. Every problem is reported at once, per field, as one EINVALID error.
func (f DepartureForm) Parse(loc *time.Location) (DepartureFields, error) {
	errs := FieldErrors{}
	out := DepartureFields{
		PONumber:    text(errs, "po_number", f.PONumber, MaxPONumber, true, false),
		Destination: text(errs, "destination", f.Destination, MaxDestination, true, false),
		Carrier:     text(errs, "carrier", f.Carrier, MaxCarrier, true, false),
		Vehicle:     text(errs, "vehicle", f.Vehicle, MaxVehicle, false, false),
		Dock:        text(errs, "dock", f.Dock, MaxDock, true, false),
		Notes:       text(errs, "notes", f.Notes, MaxNotes, false, true),
	}
	if t, ok := dateTime(errs, "scheduled_at", f.ScheduledAt, loc, true); ok {
		out.ScheduledAt = t
	}
	if t, ok := dateTime(errs, "estimated_at", f.EstimatedAt, loc, false); ok && !t.IsZero() {
		out.EstimatedAt = &t
	}
	if err := errs.Err(); err != nil {
		return DepartureFields{}, err
	}
	return out, nil
}

// CheckReason validates the optional reason of a status change and returns it trimmed.
func CheckReason(reason string) (string, error) {
	errs := FieldErrors{}
	r := text(errs, "reason", reason, MaxReason, false, false)
	return r, errs.Err()
}

// text trims s and checks it: required, valid UTF-8, no control characters (newlines only
// where multiline), at most max characters.
func text(errs FieldErrors, field, s string, max int, required, multiline bool) string {
	if !utf8.ValidString(s) {
		errs.Add(field, "Contains invalid characters.")
		return ""
	}
	s = strings.TrimSpace(s)
	if required && s == "" {
		errs.Add(field, "Required.")
		return ""
	}
	if n := utf8.RuneCountInString(s); n > max {
		errs.Add(field, fmt.Sprintf("At most %d characters (this has %d).", max, n))
		return ""
	}
	for _, r := range s {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			errs.Add(field, "Contains control characters.")
			return ""
		}
	}
	return s
}

// dateTime reads a datetime-local value. Browsers send seconds when a step is set, so both
// forms are accepted.
func dateTime(errs FieldErrors, field, s string, loc *time.Location, required bool) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		if required {
			errs.Add(field, "Required.")
			return time.Time{}, false
		}
		return time.Time{}, true
	}
	if len(s) > len("2006-01-02T15:04:05") {
		errs.Add(field, "Use the format YYYY-MM-DDTHH:MM.")
		return time.Time{}, false
	}
	for _, layout := range []string{DateTimeLayout, "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			if t.Year() < 2000 || t.Year() > 2999 {
				errs.Add(field, "The year must be between 2000 and 2999.")
				return time.Time{}, false
			}
			return t.UTC(), true
		}
	}
	errs.Add(field, "Use the format YYYY-MM-DDTHH:MM.")
	return time.Time{}, false
}

func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n]) + "…"
}
