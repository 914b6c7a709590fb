package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
	"calipso/web"
)

// overTheNetwork sends a request with c's cookies to the app served on a real port, and
// returns the status. app.Test cannot show what fasthttp answers by itself while it reads a
// request (a body past the limit, a broken multipart form): it returns an error instead.
func (c *client) overTheNetwork(base, method, path, contentType string, body io.Reader) int {
	c.ta.t.Helper()
	req, err := http.NewRequest(method, base+path, body)
	if err != nil {
		c.ta.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("X-CSRF-Token", c.csrf)
	for k, v := range c.cookies {
		req.AddCookie(&http.Cookie{Name: k, Value: v})
	}
	client := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	res, err := client.Do(req)
	if err != nil {
		c.ta.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	io.Copy(io.Discard, res.Body)
	return res.StatusCode
}

// onlyReader hides a reader's length, so the request is sent chunked.
type onlyReader struct{ io.Reader }

func TestBodiesOverTheLimitAnswer413AndSaveNothing(t *testing.T) {
	ta := newTestAppWith(t, func(d *web.Deps) { d.BodyLimit = 4096 })
	base := ta.listen()
	c := ta.loggedIn("dispatcher")
	form := validDeparture()
	form.Set("notes", strings.Repeat("n", 5000))
	body := form.Encode()
	const ct = "application/x-www-form-urlencoded"
	if status := c.overTheNetwork(base, fiber.MethodPost, "/departures", ct, strings.NewReader(body)); status != fiber.StatusRequestEntityTooLarge {
		t.Errorf("a 5 kB body under a 4 kB limit: %d", status)
	}
	if status := c.overTheNetwork(base, fiber.MethodPost, "/departures", ct, onlyReader{strings.NewReader(body)}); status != fiber.StatusRequestEntityTooLarge {
		t.Errorf("a 5 kB chunked body under a 4 kB limit: %d", status)
	}
	if status := c.overTheNetwork(base, fiber.MethodPost, "/departures", ct, strings.NewReader(validDeparture().Encode())); status != fiber.StatusSeeOther {
		t.Errorf("a small body: %d", status)
	}
	if n := ta.count(); n != 1 {
		t.Fatalf("%d departures saved, want 1", n)
	}
}

func TestTheDefaultBodyLimitIsWellAboveAFullForm(t *testing.T) {
	ta := newTestApp(t)
	base := ta.listen()
	c := ta.loggedIn("dispatcher")
	full := formAtLimits("é").Encode() // every field at its limit, percent-encoded: the largest honest form
	if len(full)*4 > web.DefaultBodyLimit {
		t.Fatalf("a full form is %d bytes, too close to the default limit of %d", len(full), web.DefaultBodyLimit)
	}
	if status := c.overTheNetwork(base, fiber.MethodPost, "/departures", "application/x-www-form-urlencoded", strings.NewReader(full)); status != fiber.StatusSeeOther {
		t.Fatalf("a full form: %d", status)
	}
	huge := strings.NewReader("notes=" + strings.Repeat("n", web.DefaultBodyLimit))
	if status := c.overTheNetwork(base, fiber.MethodPost, "/departures", "application/x-www-form-urlencoded", huge); status != fiber.StatusRequestEntityTooLarge {
		t.Fatalf("a body past the default limit: %d", status)
	}
}

// formAtLimits is a valid departure whose text fields are as long as allowed, in characters.
func formAtLimits(char string) url.Values {
	form := validDeparture()
	for field, max := range departureTextFields {
		form.Set(field, strings.Repeat(char, max))
	}
	return form
}

func TestEachFieldRefusesOneCharacterPastItsLimit(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	// Limits count characters, not bytes: "é" is two bytes.
	if res := c.post("/departures", formAtLimits("é")); res.status != fiber.StatusSeeOther {
		t.Fatalf("every field at its limit: %d %s", res.status, res.body)
	}
	for field, max := range departureTextFields {
		form := validDeparture()
		form.Set(field, strings.Repeat("é", max+1))
		res := c.post("/departures", form)
		if res.status != fiber.StatusUnprocessableEntity || !strings.Contains(res.body, `data-field="`+field+`"`) {
			t.Errorf("%s one past its limit: %d, want 422 with the error beside the field", field, res.status)
		}
	}
	if n := ta.count(); n != 1 {
		t.Fatalf("%d departures saved, want only the one at the limits", n)
	}

	d := ta.departure("Riga")
	at := statusForm("Loading", d.Version)
	at.Set("reason", strings.Repeat("é", tracking.MaxReason+1))
	if res := c.post("/departures/"+d.PublicID()+"/status", at); res.status != fiber.StatusUnprocessableEntity {
		t.Errorf("a reason one past its limit: %d", res.status)
	}
	at.Set("reason", strings.Repeat("é", tracking.MaxReason))
	if res := c.post("/departures/"+d.PublicID()+"/status", at); res.status != fiber.StatusSeeOther {
		t.Errorf("a reason at its limit: %d", res.status)
	}
	if res := c.get("/departures?q=" + strings.Repeat("q", 101)); res.status != fiber.StatusUnprocessableEntity {
		t.Errorf("a search past its limit: %d", res.status)
	}
}

func TestMalformedIDsAnswer404OnEveryDepartureRoute(t *testing.T) {
	ta := walkApp(t)
	c := ta.loggedIn("boss")
	routes := ta.routes()
	before := ta.auditCount()
	malformed := []string{
		"DEP-", "DEP-12345", "DEP-00000a", "dep-000001", "DEP-000000", "DEP--00001", "DEP-+00001",
		"DEP-" + strings.Repeat("9", 19), "DEP-" + strings.Repeat("0", 100) + "1", "DEP-%D9%A0%D9%A0%D9%A0%D9%A0%D9%A0%D9%A1",
		"DEP-000001%20", "%00", "..", "DEP-000001;DROP%20TABLE%20departures", "%3Cscript%3E",
	}
	n := 0
	for _, r := range routes {
		if !strings.HasPrefix(r.Path, "/departures/:id") {
			continue
		}
		n++
		for _, id := range malformed {
			bad := r
			bad.URL = strings.Replace(r.Path, ":id", id, 1)
			if res := c.send(bad, c.csrf, ""); res.status != fiber.StatusNotFound {
				t.Errorf("%s with id %q: %d, want 404", r, id, res.status)
			}
		}
	}
	if n < 4 {
		t.Fatalf("only %d routes with an :id", n)
	}
	if got := ta.auditCount(); got != before {
		t.Fatalf("%d audit entries: a malformed id changed something", got)
	}
}

func TestUnknownStatusesAndBadVersionsAnswer422(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departure("Riga")
	c := ta.loggedIn("dispatcher")
	path := "/departures/" + d.PublicID() + "/status"
	for _, status := range []string{"", "PENDING", "loading ", "in transit", "Loading\x00", "Teleported", strings.Repeat("L", 10000)} {
		if res := c.post(path, statusForm(status, d.Version)); res.status != fiber.StatusUnprocessableEntity {
			t.Errorf("status %.20q: %d", status, res.status)
		}
	}
	for _, version := range []string{"", "abc", "0", "-1", "1e3", "99999999999999999999", " 1"} {
		form := statusForm("Loading", 1)
		form.Set("version", version)
		if res := c.post(path, form); res.status != fiber.StatusUnprocessableEntity {
			t.Errorf("version %q: %d", version, res.status)
		}
	}
	if got, _ := ta.store.Departure(context.Background(), d.ID); got.Version != d.Version {
		t.Fatalf("the departure changed: version %d", got.Version)
	}
}

func TestEveryForbiddenTransitionAnswers422AndChangesNothing(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	// A way into each status along allowed transitions.
	paths := map[tracking.Status][]tracking.Status{
		tracking.StatusPending:   nil,
		tracking.StatusLoading:   {tracking.StatusLoading},
		tracking.StatusDelayed:   {tracking.StatusDelayed},
		tracking.StatusInTransit: {tracking.StatusLoading, tracking.StatusInTransit},
		tracking.StatusArrived:   {tracking.StatusLoading, tracking.StatusInTransit, tracking.StatusArrived},
		tracking.StatusCancelled: {tracking.StatusCancelled},
	}
	forbidden := 0
	for from, path := range paths {
		for _, to := range tracking.Statuses {
			if from.CanBecome(to) {
				continue
			}
			forbidden++
			d := ta.departure("Riga")
			for _, s := range path {
				var err error
				if d, err = ta.store.ChangeStatus(context.Background(), d.ID, d.Version, s, "", "test"); err != nil {
					t.Fatal(err)
				}
			}
			res := c.post("/departures/"+d.PublicID()+"/status", statusForm(string(to), d.Version))
			if res.status != fiber.StatusUnprocessableEntity {
				t.Errorf("%s → %s: %d, want 422", from, to, res.status)
			}
			if got, _ := ta.store.Departure(context.Background(), d.ID); got.Version != d.Version || got.Status != from {
				t.Errorf("%s → %s changed the departure to %s v%d", from, to, got.Status, got.Version)
			}
		}
	}
	if forbidden < 20 {
		t.Fatalf("only %d forbidden transitions tried", forbidden)
	}
}

func TestFormsInOtherEncodingsAreRefused(t *testing.T) {
	ta := newTestApp(t)
	base := ta.listen()
	c := ta.loggedIn("dispatcher")
	for _, tc := range []struct {
		name, contentType, body string
	}{
		{"JSON", "application/json", `{"po_number":"PO-1","destination":"Riga","_csrf":"` + c.csrf + `"}`},
		{"no content type", "", "po_number=PO-1"},
		{"XML", "text/xml", `<departure><po_number>1</po_number></departure>`},
		{"broken multipart", "multipart/form-data; boundary=x", "--x\r\nContent-Disposition: form-data; name=\"po_number\"\r\n\r\nPO"},
		{"broken urlencoding", "application/x-www-form-urlencoded", "po_number=%zz&destination=%"},
	} {
		status := c.overTheNetwork(base, fiber.MethodPost, "/departures", tc.contentType, strings.NewReader(tc.body))
		if status != fiber.StatusBadRequest && status != fiber.StatusUnprocessableEntity {
			t.Errorf("%s: %d, want 400 or 422", tc.name, status)
		}
	}
	if n := ta.count(); n != 0 {
		t.Fatalf("%d departures saved", n)
	}
}
