package tracking

import (
	"slices"
	"strconv"
	"strings"
)

// Match reports whether d is one of the departures the store returns for f (Limit aside).
// Live boards use it to decide, from an event alone, whether a changed departure joins,
// stays on or leaves a board; the store's conformance suite checks that both agree.
func (f DepartureFilter) Match(d Departure) bool {
	if !f.From.IsZero() && d.ScheduledAt.Before(f.From) {
		return false
	}
	if !f.To.IsZero() && !d.ScheduledAt.Before(f.To) {
		return false
	}
	if len(f.Statuses) > 0 && !slices.Contains(f.Statuses, d.Status) {
		return false
	}
	if len(f.Docks) > 0 && !slices.Contains(f.Docks, d.Dock) {
		return false
	}
	if len(f.Destinations) > 0 && !slices.Contains(f.Destinations, d.Destination) {
		return false
	}
	if len(f.Carriers) > 0 && !slices.Contains(f.Carriers, d.Carrier) {
		return false
	}
	if q := strings.TrimSpace(f.Query); q != "" {
		lq := strings.ToLower(q)
		if !strings.Contains(strings.ToLower(d.PONumber), lq) &&
			!strings.Contains(strings.ToLower(d.Destination), lq) &&
			!queryIsID(q, d.ID) {
			return false
		}
	}
	return true
}

// queryIsID reports whether a search query names the departure id: its public id in any case
// (dep-000123), or plain digits.
func queryIsID(q string, id int64) bool {
	if n, err := ParseID(strings.ToUpper(q)); err == nil {
		return n == id
	}
	if strings.Trim(q, "0123456789") != "" {
		return false
	}
	n, err := strconv.ParseInt(q, 10, 64)
	return err == nil && n > 0 && n == id
}
