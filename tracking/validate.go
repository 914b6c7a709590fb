package tracking

import "time"

// Validate checks fields that did not come through a form, such as the snapshot in an event
// from the broker, against the rules DepartureForm.Parse applies: required fields present,
// lengths within the limits, valid UTF-8, no control characters (newlines and tabs in notes
// only), no surrounding spaces, times in the years 2000 to 2999 (give or take the day a time
// zone moves them). It returns one EINVALID error naming every bad field, or nil.
func (f DepartureFields) Validate() error {
	errs := FieldErrors{}
	for _, c := range []struct {
		name, value         string
		max                 int
		required, multiline bool
	}{
		{"po_number", f.PONumber, MaxPONumber, true, false},
		{"destination", f.Destination, MaxDestination, true, false},
		{"carrier", f.Carrier, MaxCarrier, true, false},
		{"vehicle", f.Vehicle, MaxVehicle, false, false},
		{"dock", f.Dock, MaxDock, true, false},
		{"notes", f.Notes, MaxNotes, false, true},
	} {
		if got := text(errs, c.name, c.value, c.max, c.required, c.multiline); got != c.value {
			errs.Add(c.name, "Has spaces around it.")
		}
	}
	// Parse checks the year in the depot's zone, which is up to a day off UTC either way.
	earliest := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, -1)
	latest := time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, 1)
	inRange := func(t time.Time) bool { return !t.Before(earliest) && t.Before(latest) }
	if !inRange(f.ScheduledAt) {
		errs.Add("scheduled_at", "The year must be between 2000 and 2999.")
	}
	if f.EstimatedAt != nil && !inRange(*f.EstimatedAt) {
		errs.Add("estimated_at", "The year must be between 2000 and 2999.")
	}
	return errs.Err()
}
