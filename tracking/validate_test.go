package tracking

import (
	"strings"
	"testing"
	"time"
)

func TestValidateAcceptsWhatParseAccepts(t *testing.T) {
	f, err := validForm().Parse(time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("Validate refuses parsed fields: %v", err)
	}
}

func TestValidateRefusesWhatAFormCouldNeverHold(t *testing.T) {
	good, _ := validForm().Parse(time.UTC)
	year1 := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]struct {
		change func(*DepartureFields)
		field  string
	}{
		"huge destination":     {func(f *DepartureFields) { f.Destination = strings.Repeat("x", 4<<20) }, "destination"},
		"invalid UTF-8":        {func(f *DepartureFields) { f.Notes = "a\xffb" }, "notes"},
		"control character":    {func(f *DepartureFields) { f.Dock = "D\a" }, "dock"},
		"missing carrier":      {func(f *DepartureFields) { f.Carrier = "" }, "carrier"},
		"surrounding spaces":   {func(f *DepartureFields) { f.PONumber = " PO-1" }, "po_number"},
		"no scheduled time":    {func(f *DepartureFields) { f.ScheduledAt = time.Time{} }, "scheduled_at"},
		"estimate in year 1":   {func(f *DepartureFields) { f.EstimatedAt = &year1 }, "estimated_at"},
		"newline in a vehicle": {func(f *DepartureFields) { f.Vehicle = "TR\n1" }, "vehicle"},
	}
	for name, tc := range cases {
		f := good
		tc.change(&f)
		err := f.Validate()
		if ErrorCode(err) != EINVALID || ErrorFields(err)[tc.field] == "" {
			t.Errorf("%s: %v, want EINVALID on %s", name, err, tc.field)
		}
	}
}
