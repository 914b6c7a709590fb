package tracking

import (
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the fuzzed zone loads on a machine without tzdata
	"unicode"
	"unicode/utf8"
)

// Fuzz targets: whatever comes in, no panic, and every rejection is an *Error with the
// documented code. Seeds are in testdata/fuzz/<target>; `make fuzz` runs each briefly.

var formFields = map[string]bool{
	"po_number": true, "destination": true, "carrier": true, "vehicle": true, "dock": true,
	"scheduled_at": true, "estimated_at": true, "notes": true,
}

func FuzzDepartureFormParse(f *testing.F) {
	v := validForm()
	f.Add(v.PONumber, v.Destination, v.Carrier, v.Vehicle, v.Dock, v.ScheduledAt, v.EstimatedAt, v.Notes)
	f.Add("", "", "", "", "", "", "", "")
	f.Add("<script>alert(1)</script>", `"><img src=x onerror=alert(1)>`, "{{.}}", "${x}", "D\x00", "2026-02-30T25:61", "9999-12-31T23:59:59", "\xff\xfe")
	// A zone with daylight saving time: its gaps and repeated hours are where times go wrong.
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, po, dest, carrier, vehicle, dock, sched, est, notes string) {
		form := DepartureForm{PONumber: po, Destination: dest, Carrier: carrier, Vehicle: vehicle, Dock: dock,
			ScheduledAt: sched, EstimatedAt: est, Notes: notes}
		got, err := form.Parse(loc)
		if err != nil {
			fields := ErrorFields(err)
			if ErrorCode(err) != EINVALID || len(fields) == 0 {
				t.Fatalf("rejection %v is not EINVALID with field errors", err)
			}
			for name, msg := range fields {
				if !formFields[name] || msg == "" {
					t.Fatalf("rejection names field %q with message %q", name, msg)
				}
			}
			return
		}
		for name, tc := range map[string]struct {
			value     string
			max       int
			multiline bool
		}{
			"po_number": {got.PONumber, MaxPONumber, false}, "destination": {got.Destination, MaxDestination, false},
			"carrier": {got.Carrier, MaxCarrier, false}, "vehicle": {got.Vehicle, MaxVehicle, false},
			"dock": {got.Dock, MaxDock, false}, "notes": {got.Notes, MaxNotes, true},
		} {
			if !utf8.ValidString(tc.value) || utf8.RuneCountInString(tc.value) > tc.max || tc.value != strings.TrimSpace(tc.value) {
				t.Fatalf("%s accepted as %q", name, tc.value)
			}
			for _, r := range tc.value {
				if unicode.IsControl(r) && !(tc.multiline && strings.ContainsRune("\n\r\t", r)) {
					t.Fatalf("%s accepted with control character %U", name, r)
				}
			}
		}
		if got.PONumber == "" || got.Destination == "" || got.Carrier == "" || got.Dock == "" {
			t.Fatalf("a required field accepted empty: %+v", got)
		}
		if got.ScheduledAt.Location() != time.UTC || got.ScheduledAt.Year() < 1999 || got.ScheduledAt.Year() > 3000 {
			t.Fatalf("scheduled at %v", got.ScheduledAt)
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("Validate refuses what Parse accepted: %v", err)
		}
		// What was accepted shows in a form that is accepted again, with the same values.
		again, err := FormOf(got, loc).Parse(loc)
		if err != nil {
			t.Fatalf("the form of accepted fields is refused: %v", err)
		}
		got.ScheduledAt = got.ScheduledAt.Truncate(time.Minute)
		if got.EstimatedAt != nil {
			e := got.EstimatedAt.Truncate(time.Minute)
			got.EstimatedAt = &e
		}
		if !sameFields(got, again) {
			t.Fatalf("round trip changed the fields:\n%+v\n%+v", got, again)
		}
	})
}

func sameFields(a, b DepartureFields) bool {
	if (a.EstimatedAt == nil) != (b.EstimatedAt == nil) || (a.EstimatedAt != nil && !a.EstimatedAt.Equal(*b.EstimatedAt)) {
		return false
	}
	a.EstimatedAt, b.EstimatedAt = nil, nil
	return a.ScheduledAt.Equal(b.ScheduledAt) && a.PONumber == b.PONumber && a.Destination == b.Destination &&
		a.Carrier == b.Carrier && a.Vehicle == b.Vehicle && a.Dock == b.Dock && a.Notes == b.Notes
}

func FuzzCheckReason(f *testing.F) {
	f.Add("traffic")
	f.Add("  " + strings.Repeat("é", MaxReason) + " ")
	f.Add("a\x00b")
	f.Fuzz(func(t *testing.T, reason string) {
		got, err := CheckReason(reason)
		if err != nil {
			if ErrorCode(err) != EINVALID || ErrorFields(err)["reason"] == "" {
				t.Fatalf("rejection %v is not EINVALID on the reason", err)
			}
			return
		}
		if !utf8.ValidString(got) || utf8.RuneCountInString(got) > MaxReason || strings.IndexFunc(got, unicode.IsControl) >= 0 {
			t.Fatalf("accepted %q", got)
		}
	})
}

// FuzzTransitions checks the transition table through the text a form posts: a status is
// parsed, then checked against the table, and only the table's pairs pass.
func FuzzTransitions(f *testing.F) {
	for _, from := range Statuses {
		for _, to := range Statuses {
			f.Add(string(from), string(to))
		}
	}
	f.Add("in_transit", "arrived")
	f.Add("", "Pending")
	f.Add("Pending", "PENDING")
	f.Fuzz(func(t *testing.T, fromText, toText string) {
		from, to := Status(fromText), Status(toText)
		err := CheckTransition(from, to)
		if err != nil {
			if ErrorCode(err) != EINVALID || ErrorFields(err)["status"] == "" {
				t.Fatalf("%q → %q: rejection %v is not EINVALID on the status", fromText, toText, err)
			}
		}
		if allowed := err == nil; allowed != (from.Valid() && to.Valid() && from.CanBecome(to)) {
			t.Fatalf("%q → %q: allowed=%v disagrees with the table", fromText, toText, allowed)
		}
		if err == nil && (from.Final() || from == to) {
			t.Fatalf("%q → %q allowed out of a final status or to itself", fromText, toText)
		}
		// Parsing never invents a status, and a parsed status is one of the table's.
		if st, err := ParseStatus(toText); err == nil {
			if !st.Valid() || (toText != string(st) && toText != st.Slug()) {
				t.Fatalf("ParseStatus(%q) = %q", toText, st)
			}
		} else if ErrorCode(err) != EINVALID {
			t.Fatalf("ParseStatus(%q): %v", toText, err)
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"DEP-000123", "DEP-", "DEP-999999999999999999", "dep-000001", "DEP-00000٠", "DEP-+00001", "DEP-000001\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseID(s)
		if err != nil {
			if ErrorCode(err) != ENOTFOUND {
				t.Fatalf("ParseID(%q): %v, want ENOTFOUND", s, err)
			}
			// The message quotes at most 40 characters of the input, each escaped (at most
			// \U0001F600, ten bytes), however long the input.
			if msg := ErrorMessage(err); len(msg) > 40*10+20 {
				t.Fatalf("the message echoes too much of the input: %q", msg)
			}
			return
		}
		if id <= 0 {
			t.Fatalf("ParseID(%q) = %d", s, id)
		}
		if back, err := ParseID(FormatID(id)); err != nil || back != id {
			t.Fatalf("FormatID(%d) = %q does not parse back: %d, %v", id, FormatID(id), back, err)
		}
	})
}
