package web_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
)

func validDeparture() url.Values {
	return url.Values{
		"po_number": {"PO-777"}, "destination": {"Kazan"}, "carrier": {"Delko"}, "vehicle": {"TR-1"},
		"dock": {"D7"}, "scheduled_at": {"2026-12-03T18:30"}, "estimated_at": {""}, "notes": {""},
	}
}

func (ta *testApp) count() int {
	ta.t.Helper()
	all, err := ta.store.Departures(context.Background(), tracking.DepartureFilter{})
	if err != nil {
		ta.t.Fatal(err)
	}
	return len(all)
}

func TestCreateDepartureRedirectsToItsPage(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	res := c.post("/departures", validDeparture())
	if res.status != fiber.StatusSeeOther {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	loc := res.header.Get("Location")
	if !strings.HasPrefix(loc, "/departures/DEP-") {
		t.Fatalf("Location %q", loc)
	}
	page := c.get(loc)
	if page.status != 200 || !strings.Contains(page.body, "Kazan") || !strings.Contains(page.body, "2026-12-03 18:30") {
		t.Fatalf("detail page %d does not show the departure in the depot's zone: %s", page.status, page.body)
	}
	id, _ := tracking.ParseID(strings.TrimPrefix(loc, "/departures/"))
	d, err := ta.store.Departure(context.Background(), id)
	if err != nil || d.UpdatedBy != "dispatcher" || d.ScheduledAt.Hour() != 15 {
		t.Fatalf("stored %+v, %v (want 15:30 UTC by dispatcher)", d, err)
	}
}

func TestBadInputAnswers422WithFieldErrorsAndSavesNothing(t *testing.T) {
	cases := map[string]struct {
		field, value, want string
	}{
		"missing destination":  {"destination", "", `data-field="destination"`},
		"time in wrong format": {"scheduled_at", "18:30 03/12/2026", "YYYY-MM-DDTHH:MM"},
		"PO of 10,000 chars":   {"po_number", strings.Repeat("P", 10000), `data-field="po_number"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ta := newTestApp(t)
			c := ta.loggedIn("dispatcher")
			form := validDeparture()
			form.Set(tc.field, tc.value)
			res := c.post("/departures", form)
			if res.status != fiber.StatusUnprocessableEntity {
				t.Fatalf("status %d", res.status)
			}
			if !strings.Contains(res.body, tc.want) {
				t.Fatalf("the answer does not show %q beside the field: %s", tc.want, res.body)
			}
			if !strings.Contains(res.body, `value="Delko"`) {
				t.Fatal("the form lost what the user typed")
			}
			if n := ta.count(); n != 0 {
				t.Fatalf("%d departures saved", n)
			}
		})
	}
}

func TestHTMXCreateWithErrorsSwapsOnlyTheForm(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	form := validDeparture()
	form.Del("destination")
	res := c.htmx("/departures", "departure-form", form)
	if res.status != fiber.StatusUnprocessableEntity || strings.Contains(res.body, "<html") || !strings.Contains(res.body, `id="departure-form"`) {
		t.Fatalf("status %d body %s", res.status, res.body)
	}
}

func statusForm(status string, version int64) url.Values {
	return url.Values{"status": {status}, "version": {strconv.FormatInt(version, 10)}, "reason": {""}}
}

func TestStatusChangeWritesHistoryShownOnTheDetailPage(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departure("Riga")
	c := ta.loggedIn("dispatcher")
	form := statusForm("Loading", d.Version)
	form.Set("reason", "dock free early")
	res := c.post("/departures/"+d.PublicID()+"/status", form)
	if res.status != fiber.StatusSeeOther {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	page := c.get("/departures/" + d.PublicID())
	for _, want := range []string{"dock free early", "dispatcher", "Loading", "created"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("history does not show %q", want)
		}
	}
}

func TestUnknownStatusAnswers422(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departure("Riga")
	c := ta.loggedIn("dispatcher")
	res := c.post("/departures/"+d.PublicID()+"/status", statusForm("Teleported", d.Version))
	if res.status != fiber.StatusUnprocessableEntity || !strings.Contains(res.body, "Unknown status") {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
}

func TestForbiddenTransitionAnswers422NamingTheAllowedOnes(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departure("Riga")
	c := ta.loggedIn("dispatcher")
	res := c.post("/departures/"+d.PublicID()+"/status", statusForm("Arrived", d.Version))
	if res.status != fiber.StatusUnprocessableEntity {
		t.Fatalf("status %d", res.status)
	}
	if !strings.Contains(res.body, "Allowed: Loading, Delayed, Cancelled") {
		t.Fatalf("message does not name the allowed statuses: %s", res.body)
	}
	got, _ := ta.store.Departure(context.Background(), d.ID)
	if got.Status != tracking.StatusPending || got.Version != d.Version {
		t.Fatalf("departure changed: %+v", got)
	}
}

func TestHTMXStatusChangeAnswersTheRow(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departure("Riga")
	c := ta.loggedIn("dispatcher")
	res := c.htmx("/departures/"+d.PublicID()+"/status", "dep-"+d.PublicID(), statusForm("Loading", d.Version))
	if res.status != 200 || !strings.HasPrefix(strings.TrimSpace(res.body), `<tr id="dep-`+d.PublicID()+`"`) {
		t.Fatalf("status %d body %s", res.status, res.body)
	}
	if !strings.Contains(res.body, "In Transit") {
		t.Fatal("the row does not offer the next statuses")
	}
}

func TestStaleStatusChangeAnswers409WithTheCurrentStatus(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departure("Riga")
	if _, err := ta.store.ChangeStatus(context.Background(), d.ID, d.Version, tracking.StatusLoading, "", "other"); err != nil {
		t.Fatal(err)
	}
	c := ta.loggedIn("dispatcher")
	res := c.post("/departures/"+d.PublicID()+"/status", statusForm("Delayed", d.Version))
	if res.status != fiber.StatusConflict || !strings.Contains(res.body, "other changed it meanwhile: it is now Loading") {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
}

func TestSecondEditorGets409AndOverwritesNothing(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departure("Riga")
	first, second := ta.loggedIn("dispatcher"), ta.loggedIn("boss")
	first.get("/departures/" + d.PublicID() + "/edit")
	second.get("/departures/" + d.PublicID() + "/edit")

	form := validDeparture()
	form.Set("version", strconv.FormatInt(d.Version, 10))
	form.Set("destination", "Tallinn")
	if res := first.post("/departures/"+d.PublicID(), form); res.status != fiber.StatusSeeOther {
		t.Fatalf("first save: %d %s", res.status, res.body)
	}
	form.Set("destination", "Vilnius")
	res := second.post("/departures/"+d.PublicID(), form)
	if res.status != fiber.StatusConflict {
		t.Fatalf("second save: %d", res.status)
	}
	if !strings.Contains(res.body, `value="Tallinn"`) || !strings.Contains(res.body, "Vilnius") {
		t.Fatalf("409 must show the current value and what was tried: %s", res.body)
	}
	got, _ := ta.store.Departure(context.Background(), d.ID)
	if got.Destination != "Tallinn" || got.Version != d.Version+1 {
		t.Fatalf("stored %q v%d", got.Destination, got.Version)
	}
}

func TestUnknownAndMalformedIDsAnswer404(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	for _, path := range []string{"/departures/DEP-999999", "/departures/xyz", "/departures/DEP-12%27;--", "/departures/DEP-999999/edit"} {
		if res := c.get(path); res.status != fiber.StatusNotFound {
			t.Errorf("GET %s: %d", path, res.status)
		}
	}
	if res := c.post("/departures/DEP-999999/status", statusForm("Loading", 1)); res.status != fiber.StatusNotFound {
		t.Errorf("POST status of unknown id: %d", res.status)
	}
}

func TestListShowsTheDayFilteredAndSearchable(t *testing.T) {
	ta := newTestApp(t)
	riga, kazan := ta.departure("Riga"), ta.departure("Kazan")
	if _, err := ta.store.ChangeStatus(context.Background(), kazan.ID, kazan.Version, tracking.StatusLoading, "", "x"); err != nil {
		t.Fatal(err)
	}
	c := ta.loggedIn("dispatcher")
	all := c.get("/departures")
	if !strings.Contains(all.body, riga.PublicID()) || !strings.Contains(all.body, kazan.PublicID()) {
		t.Fatal("today's list misses a departure")
	}
	loading := c.get("/departures?status=loading")
	if strings.Contains(loading.body, riga.PublicID()) || !strings.Contains(loading.body, kazan.PublicID()) {
		t.Fatal("status filter does not filter")
	}
	search := c.get("/departures?date=&q=rIg")
	if !strings.Contains(search.body, riga.PublicID()) || strings.Contains(search.body, kazan.PublicID()) {
		t.Fatal("search by destination does not work")
	}
	other := c.get("/departures?date=2001-01-01")
	if strings.Contains(other.body, riga.PublicID()) {
		t.Fatal("date filter does not filter")
	}
	if bad := c.get("/departures?date=yesterday"); bad.status != fiber.StatusUnprocessableEntity {
		t.Fatalf("bad date: %d", bad.status)
	}
}
