package tracking

import (
	"strings"
)

// Status is where a departure is in its life. The string values are the wire format of
// DepartureStatusUpdated and must not change.
type Status string

const (
	StatusPending   Status = "Pending"
	StatusLoading   Status = "Loading"
	StatusInTransit Status = "In Transit"
	StatusDelayed   Status = "Delayed"
	StatusArrived   Status = "Arrived"
	StatusCancelled Status = "Cancelled"
)

// Statuses lists every status in the order a departure usually moves through them. Use it for
// filters and legends.
var Statuses = []Status{StatusPending, StatusLoading, StatusDelayed, StatusInTransit, StatusArrived, StatusCancelled}

// transitions is the table of allowed status changes. A status missing from a key's list
// cannot follow it. Arrived and Cancelled are final: nothing follows them.
var transitions = map[Status][]Status{
	StatusPending:   {StatusLoading, StatusDelayed, StatusCancelled},
	StatusLoading:   {StatusInTransit, StatusDelayed, StatusCancelled},
	StatusDelayed:   {StatusLoading, StatusInTransit, StatusCancelled},
	StatusInTransit: {StatusArrived, StatusDelayed},
	StatusArrived:   nil,
	StatusCancelled: nil,
}

// ParseStatus accepts a status exactly as written on the wire, or its slug ("in_transit").
func ParseStatus(s string) (Status, error) {
	for _, st := range Statuses {
		if s == string(st) || s == st.Slug() {
			return st, nil
		}
	}
	return "", unknownStatus()
}

func unknownStatus() error {
	return &Error{Code: EINVALID, Message: "Unknown status.", Fields: map[string]string{
		"status": "Unknown status. Use one of: " + joinStatuses(Statuses) + ".",
	}}
}

// Valid reports whether s is one of the known statuses.
func (s Status) Valid() bool {
	_, ok := transitions[s]
	return ok
}

// Slug is the lower-case, underscore form used in Redis keys and CSS classes: "in_transit".
func (s Status) Slug() string {
	return strings.ReplaceAll(strings.ToLower(string(s)), " ", "_")
}

// Final reports whether no status may follow s.
func (s Status) Final() bool {
	return s.Valid() && len(transitions[s]) == 0
}

// Next returns the statuses that may follow s, in table order. The slice is a copy.
func (s Status) Next() []Status {
	return append([]Status(nil), transitions[s]...)
}

// CanBecome reports whether the table allows s → to.
func (s Status) CanBecome(to Status) bool {
	for _, n := range transitions[s] {
		if n == to {
			return true
		}
	}
	return false
}

// CheckTransition returns nil when from → to is allowed, and otherwise an EINVALID error whose
// message names the allowed statuses. Both must be statuses as written on the wire: a slug is
// text to ParseStatus first, never a status.
func CheckTransition(from, to Status) error {
	if !to.Valid() {
		return unknownStatus()
	}
	if from.CanBecome(to) {
		return nil
	}
	var msg string
	switch {
	case from == to:
		msg = "The departure is already " + string(from) + "."
	case from.Final():
		msg = "The departure is " + string(from) + ", which is final: its status cannot change."
	default:
		msg = "A departure that is " + string(from) + " cannot become " + string(to) +
			". Allowed: " + joinStatuses(from.Next()) + "."
	}
	return &Error{Code: EINVALID, Message: msg, Fields: map[string]string{"status": msg}}
}

func joinStatuses(ss []Status) string {
	parts := make([]string, len(ss))
	for i, s := range ss {
		parts[i] = string(s)
	}
	return strings.Join(parts, ", ")
}
