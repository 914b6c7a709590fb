package tracking

import "time"

// DepartureFilter selects departures for a list or a board. Zero values mean "any".
type DepartureFilter struct {
	// From and To bound the scheduled time: From <= scheduled_at < To.
	From, To time.Time
	Statuses []Status
	Docks    []string
	// Destinations and Carriers match exactly (screen profiles use them).
	Destinations []string
	Carriers     []string
	// Query matches the public id, the PO number or the destination, case-insensitively.
	Query string
	// Limit caps the number of rows; 0 means the store's default (500).
	Limit int
}

// Day returns the bounds of the calendar day of t in loc.
func Day(t time.Time, loc *time.Location) (from, to time.Time) {
	y, m, d := t.In(loc).Date()
	from = time.Date(y, m, d, 0, 0, 0, 0, loc)
	return from, from.AddDate(0, 0, 1)
}
