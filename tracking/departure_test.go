package tracking

import (
	"strings"
	"testing"
	"time"
)

func validForm() DepartureForm {
	return DepartureForm{
		PONumber: "PO-1001", Destination: "Rotterdam", Carrier: "DHL", Vehicle: "TR-42",
		Dock: "D4", ScheduledAt: "2026-12-03T14:30", EstimatedAt: "2026-12-03T14:55", Notes: "fragile\nkeep dry",
	}
}

func TestValidFormParsesInTheDepotTimeZone(t *testing.T) {
	loc := time.FixedZone("MSK", 3*3600)
	f, err := validForm().Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 12, 3, 11, 30, 0, 0, time.UTC); !f.ScheduledAt.Equal(want) || f.ScheduledAt.Location() != time.UTC {
		t.Fatalf("scheduled %v, want %v in UTC", f.ScheduledAt, want)
	}
	if f.EstimatedAt == nil || f.EstimatedAt.Sub(f.ScheduledAt) != 25*time.Minute {
		t.Fatalf("estimated %v", f.EstimatedAt)
	}
	if back := FormOf(f, loc); back.ScheduledAt != "2026-12-03T14:30" || back.EstimatedAt != "2026-12-03T14:55" {
		t.Fatalf("FormOf round trip: %+v", back)
	}
}

func TestBadFormReportsEveryField(t *testing.T) {
	f := validForm()
	f.Destination = "   "
	f.ScheduledAt = "03.12.2026 14:30"
	f.PONumber = strings.Repeat("9", 10000)
	f.Dock = "D\x00"
	_, err := f.Parse(time.UTC)
	fields := ErrorFields(err)
	if ErrorCode(err) != EINVALID {
		t.Fatalf("got %v", err)
	}
	for _, name := range []string{"destination", "scheduled_at", "po_number", "dock"} {
		if fields[name] == "" {
			t.Errorf("no error for %s: %v", name, fields)
		}
	}
	if !strings.Contains(fields["scheduled_at"], "YYYY-MM-DDTHH:MM") {
		t.Errorf("scheduled_at message %q does not show the format", fields["scheduled_at"])
	}
}

func TestOptionalFieldsMayBeEmpty(t *testing.T) {
	f := validForm()
	f.Vehicle, f.EstimatedAt, f.Notes = "", "", ""
	got, err := f.Parse(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if got.EstimatedAt != nil {
		t.Fatalf("estimated %v, want nil", got.EstimatedAt)
	}
}

func TestInvalidUTF8IsRefused(t *testing.T) {
	f := validForm()
	f.Carrier = "DH\xffL"
	if _, err := f.Parse(time.UTC); ErrorFields(err)["carrier"] == "" {
		t.Fatalf("got %v", err)
	}
}

func TestSecondsInTimeAreAccepted(t *testing.T) {
	f := validForm()
	f.ScheduledAt = "2026-12-03T14:30:00"
	if _, err := f.Parse(time.UTC); err != nil {
		t.Fatal(err)
	}
}

func TestParseIDRoundTrips(t *testing.T) {
	id, err := ParseID(FormatID(123))
	if err != nil || id != 123 {
		t.Fatalf("got %d, %v", id, err)
	}
	if FormatID(123) != "DEP-000123" {
		t.Fatalf("FormatID(123) = %s", FormatID(123))
	}
}

func TestMalformedIDsAreNotFound(t *testing.T) {
	for _, s := range []string{"", "123", "DEP-", "DEP-12", "DEP-00012a", "dep-000123", "DEP-000000", "DEP-99999999999999999999", "DEP-+00001"} {
		if _, err := ParseID(s); ErrorCode(err) != ENOTFOUND {
			t.Errorf("ParseID(%q) = %v, want ENOTFOUND", s, err)
		}
	}
}

func TestReasonIsLimited(t *testing.T) {
	if _, err := CheckReason(strings.Repeat("x", MaxReason+1)); ErrorCode(err) != EINVALID {
		t.Fatalf("got %v", err)
	}
	if r, err := CheckReason("  traffic  "); err != nil || r != "traffic" {
		t.Fatalf("got %q, %v", r, err)
	}
}

func TestDelayIsEstimateMinusSchedule(t *testing.T) {
	s := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	e := s.Add(25 * time.Minute)
	d := Departure{DepartureFields: DepartureFields{ScheduledAt: s, EstimatedAt: &e}}
	if d.Delay() != 25*time.Minute || !d.ExpectedAt().Equal(e) {
		t.Fatalf("delay %v expected %v", d.Delay(), d.ExpectedAt())
	}
}
