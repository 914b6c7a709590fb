package tracking

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func validScreenForm() ScreenForm {
	return ScreenForm{
		Name: "Hall A", Docks: " D1, D2 ,,D1", Destinations: "", Carriers: "DHL Freight",
		Statuses: []string{"loading", "Delayed", "loading"}, PageSize: "10", RotateSeconds: "8",
		Language: "ru", Theme: "light", RemoveAfter: "15",
	}
}

func TestScreenFormParsesListsTrimmedWithoutRepeats(t *testing.T) {
	p, err := validScreenForm().Parse()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(p.Docks, []string{"D1", "D2"}) || p.Destinations != nil || !slices.Equal(p.Carriers, []string{"DHL Freight"}) {
		t.Fatalf("lists %q %q %q", p.Docks, p.Destinations, p.Carriers)
	}
	if !slices.Equal(p.Statuses, []Status{StatusLoading, StatusDelayed}) {
		t.Fatalf("statuses %q", p.Statuses)
	}
	if p.PageSize != 10 || p.RotateSeconds != 8 || p.Language != LanguageRussian || p.Theme != ThemeLight || p.RemoveAfter() != 15*time.Minute {
		t.Fatalf("profile %+v", p)
	}
	if back, _ := ScreenFormOf(p).Parse(); !slices.Equal(back.Docks, p.Docks) || back.Name != p.Name || back.PageSize != p.PageSize {
		t.Fatalf("ScreenFormOf round trip: %+v", back)
	}
}

func TestScreenFormReportsEveryBadField(t *testing.T) {
	f := ScreenForm{
		Name: " ", Docks: strings.Repeat("D", MaxDock+1), Statuses: []string{"Teleported"},
		PageSize: "0", RotateSeconds: "x", Language: "de", Theme: "pink", RemoveAfter: "-1",
	}
	_, err := f.Parse()
	fields := ErrorFields(err)
	for _, k := range []string{"name", "docks", "statuses", "page_size", "rotate_seconds", "language", "theme", "remove_after"} {
		if fields[k] == "" {
			t.Errorf("no error for %s (errors: %v)", k, fields)
		}
	}
}

func TestScreenTokensAreLongRandomAndStoredOnlyAsHash(t *testing.T) {
	a, ha := NewScreenToken()
	b, hb := NewScreenToken()
	if a == b || ha == hb {
		t.Fatal("two tokens are equal")
	}
	if len(a) < 22 { // 128 bits in base64
		t.Fatalf("token %q is too short", a)
	}
	if ha == a || HashScreenToken(a) != ha || len(ha) != 64 {
		t.Fatalf("hash %q of %q", ha, a)
	}
	if !PlausibleScreenToken(a) || PlausibleScreenToken(a[1:]) || PlausibleScreenToken(a[1:]+"!") || PlausibleScreenToken("") {
		t.Fatal("PlausibleScreenToken")
	}
}

func TestFilterMatchAgreesWithTheStoreRules(t *testing.T) {
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	d := Departure{ID: 123, Status: StatusLoading, DepartureFields: DepartureFields{
		PONumber: "PO-Zürich-7", Destination: "Rotterdam", Carrier: "DHL", Dock: "D1", ScheduledAt: at}}
	cases := []struct {
		f    DepartureFilter
		want bool
	}{
		{DepartureFilter{}, true},
		{DepartureFilter{From: at, To: at.Add(time.Hour)}, true},
		{DepartureFilter{From: at.Add(time.Minute)}, false},
		{DepartureFilter{To: at}, false}, // To is exclusive
		{DepartureFilter{Statuses: []Status{StatusDelayed, StatusLoading}}, true},
		{DepartureFilter{Statuses: []Status{StatusDelayed}}, false},
		{DepartureFilter{Docks: []string{"d1"}}, false}, // exact
		{DepartureFilter{Destinations: []string{"Rotterdam"}, Carriers: []string{"DHL"}}, true},
		{DepartureFilter{Carriers: []string{"DSV"}}, false},
		{DepartureFilter{Query: " rotter "}, true},
		{DepartureFilter{Query: "zÜRICH"}, true},
		{DepartureFilter{Query: "dep-000123"}, true},
		{DepartureFilter{Query: "000123"}, true},
		{DepartureFilter{Query: "124"}, false},
		{DepartureFilter{Query: "%"}, false},
	}
	for _, c := range cases {
		if got := c.f.Match(d); got != c.want {
			t.Errorf("Match(%+v) = %v, want %v", c.f, got, c.want)
		}
	}
}
