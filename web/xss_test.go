package web_test

import (
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"
	amqp "github.com/rabbitmq/amqp091-go"
	"golang.org/x/net/html"

	"calipso/tracking"
)

// xssPayloads are typed into every text field of a departure (each where it fits: the dock
// takes 16 characters) and into the reason of a status change.
var xssPayloads = []string{
	`<script>alert(1)</script>`,
	`"><img src=x onerror=alert(1)>`,
	`'><svg onload=alert(1)>`,
	`</textarea><script>alert(1)</script>`,
	`<a href="javascript:alert(1)">x</a>`,
	`javascript:alert(1)`,
	`{{.}}`,
	`{{ .Secret }}`,
	`${x}`,
	`#{x}`,
	`&lt;b&gt;already escaped`,
	`"><svg onload=1>`,
	`<script>`,
	`javascript:1`,
}

// departureTextFields are the text fields of the departure form and their limits.
var departureTextFields = map[string]int{
	"po_number": tracking.MaxPONumber, "destination": tracking.MaxDestination, "carrier": tracking.MaxCarrier,
	"vehicle": tracking.MaxVehicle, "dock": tracking.MaxDock, "notes": tracking.MaxNotes,
}

// xssFixture is an app holding one departure per payload, each with the payload in every
// text field it fits and in the reason of its status change.
type xssFixture struct {
	ta         *testApp
	dispatcher *client
	admin      *client
	ids        []string // public ids, one per payload
	base       string   // the app on a real port, once a surface needs one
	token      string   // a screen's link, once a surface needs one
	broker     *amqp.Channel
}

func newXSSFixture(t *testing.T) *xssFixture {
	ta, broker := brokerWalkApp(t)
	x := &xssFixture{ta: ta, broker: broker, dispatcher: ta.loggedIn("dispatcher"), admin: ta.loggedIn("boss")}
	for field := range departureTextFields {
		n := 0
		for _, p := range xssPayloads {
			if utf8.RuneCountInString(p) <= departureTextFields[field] {
				n++
			}
		}
		if n < 5 {
			t.Fatalf("only %d payloads fit in %s", n, field)
		}
	}
	for _, p := range xssPayloads {
		form := validDeparture()
		// In an hour: on the board's window whatever the time of day.
		form.Set("scheduled_at", time.Now().In(ta.loc).Add(time.Hour).Format(tracking.DateTimeLayout))
		for field, max := range departureTextFields {
			if utf8.RuneCountInString(p) <= max {
				form.Set(field, p)
			}
		}
		res := x.dispatcher.post("/departures", form)
		if res.status != fiber.StatusSeeOther {
			t.Fatalf("create with %q: %d %s", p, res.status, res.body)
		}
		loc := res.header.Get("Location")
		status := statusForm("Loading", 1)
		status.Set("reason", p)
		if res := x.dispatcher.post(loc+"/status", status); res.status != fiber.StatusSeeOther {
			t.Fatalf("status change with reason %q: %d %s", p, res.status, res.body)
		}
		x.ids = append(x.ids, strings.TrimPrefix(loc, "/departures/"))
	}
	return x
}

// xssSurface is a place where what dispatchers typed comes back. fetch returns the HTML
// documents (or fragments) of the surface. Verbatim surfaces show each payload as typed; the
// others (which quote it, like the audit trail) need only keep it inert.
type xssSurface struct {
	name     string
	verbatim bool
	fetch    func(t *testing.T, x *xssFixture) []string
}

// xssSurfaces: add a line for every new place that shows departure text.
var xssSurfaces = []xssSurface{
	{"list", true, func(t *testing.T, x *xssFixture) []string { return x.get(t, x.dispatcher, "/departures?date=") }},
	{"detail and history", true, func(t *testing.T, x *xssFixture) []string { return x.each(t, x.dispatcher, "/departures/%s") }},
	{"edit form", true, func(t *testing.T, x *xssFixture) []string { return x.each(t, x.dispatcher, "/departures/%s/edit") }},
	{"status row fragment", true, func(t *testing.T, x *xssFixture) []string { return x.rowFragments(t) }},
	{"form with errors and conflict", true, func(t *testing.T, x *xssFixture) []string { return x.conflicts(t) }},
	{"search echo", true, func(t *testing.T, x *xssFixture) []string { return x.searches(t) }},
	{"audit trail", false, func(t *testing.T, x *xssFixture) []string { return x.get(t, x.admin, "/admin/audit") }},
	{"404 page echoing the id", false, func(t *testing.T, x *xssFixture) []string { return x.notFounds(t) }},
	{"login form echoing the username", true, func(t *testing.T, x *xssFixture) []string { return x.logins(t) }},
	{"wall board", true, func(t *testing.T, x *xssFixture) []string { return x.boardPage(t) }},
	{"wall board socket", true, func(t *testing.T, x *xssFixture) []string { return x.screenSocket(t) }},
	{"dispatcher list socket", true, func(t *testing.T, x *xssFixture) []string { return x.listSocket(t) }},
	{"admin page's dead letters", true, func(t *testing.T, x *xssFixture) []string { return x.deadLetters(t) }},
	{"dead letter's delete page", true, func(t *testing.T, x *xssFixture) []string { return x.deadLetterDeletePages(t) }},
}

func TestWhatDispatchersTypeComesBackEscapedEverywhere(t *testing.T) {
	x := newXSSFixture(t)
	for _, s := range xssSurfaces {
		t.Run(s.name, func(t *testing.T) {
			docs := s.fetch(t, x)
			if len(docs) == 0 {
				t.Fatal("the surface returned nothing")
			}
			var text strings.Builder
			for _, body := range docs {
				doc := parseHTML(t, body)
				for _, p := range pageProblems(doc) {
					t.Errorf("injected: %s", p)
				}
				collectText(doc, &text)
			}
			if !s.verbatim {
				return
			}
			for _, p := range xssPayloads {
				if !strings.Contains(text.String(), p) {
					t.Errorf("%q does not come back as the text that was typed", p)
				}
			}
		})
	}
}

// collectText appends every text node and attribute value of the document, decoded: what a
// reader sees, where an escaped payload must show up exactly as typed.
func collectText(n *html.Node, b *strings.Builder) {
	switch n.Type {
	case html.TextNode:
		b.WriteString(n.Data)
		b.WriteByte('\n')
	case html.ElementNode:
		for _, a := range n.Attr {
			b.WriteString(a.Val)
			b.WriteByte('\n')
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		collectText(c, b)
	}
}

func (x *xssFixture) get(t *testing.T, c *client, path string) []string {
	t.Helper()
	res := c.get(path)
	if res.status != fiber.StatusOK {
		t.Fatalf("GET %s: %d", path, res.status)
	}
	return []string{res.body}
}

// each GETs pattern (with %s for the id) for every departure of the fixture.
func (x *xssFixture) each(t *testing.T, c *client, pattern string) []string {
	var out []string
	for _, id := range x.ids {
		out = append(out, x.get(t, c, strings.Replace(pattern, "%s", id, 1))...)
	}
	return out
}

// rowFragments are the list rows htmx swaps after a status change, each wrapped in a table so
// that the parser keeps the row.
func (x *xssFixture) rowFragments(t *testing.T) []string {
	var out []string
	for _, id := range x.ids {
		d := x.ta.departureByID(id)
		res := x.dispatcher.htmx("/departures/"+id+"/status", "dep-"+id, statusForm("In Transit", d.Version))
		if res.status != fiber.StatusOK {
			t.Fatalf("htmx status change of %s: %d", id, res.status)
		}
		out = append(out, "<table><tbody>"+res.body+"</tbody></table>")
	}
	return out
}

// conflicts saves an edit over someone else's newer one, so the 409 form shows the values this
// user tried (the payloads) beside the current ones; with one field too long, so it is also a
// 422 form echoing what was typed.
func (x *xssFixture) conflicts(t *testing.T) []string {
	var out []string
	for i, id := range x.ids {
		form := validDeparture()
		for field, max := range departureTextFields {
			if utf8.RuneCountInString(xssPayloads[i]) <= max {
				form.Set(field, xssPayloads[i])
			}
		}
		form.Set("destination", "Elsewhere")
		form.Set("version", "1") // stale: the status change made it 2
		if res := x.dispatcher.post("/departures/"+id, form); res.status != fiber.StatusConflict {
			t.Fatalf("stale edit of %s: %d", id, res.status)
		} else {
			out = append(out, res.body)
		}
		form.Set("carrier", strings.Repeat("c", tracking.MaxCarrier+1))
		if res := x.dispatcher.post("/departures", form); res.status != fiber.StatusUnprocessableEntity {
			t.Fatalf("invalid create: %d", res.status)
		} else {
			out = append(out, res.body)
		}
	}
	return out
}

// searches put each payload in the list's filters, which the page echoes into its form.
func (x *xssFixture) searches(t *testing.T) []string {
	var out []string
	for _, p := range xssPayloads {
		res := x.dispatcher.get("/departures?" + url.Values{"q": {p}, "dock": {p}, "date": {""}}.Encode())
		if res.status != fiber.StatusOK {
			t.Fatalf("search %q: %d", p, res.status)
		}
		out = append(out, res.body)
	}
	return out
}

func (x *xssFixture) notFounds(t *testing.T) []string {
	var out []string
	for _, p := range xssPayloads {
		res := x.dispatcher.get("/departures/" + url.PathEscape("DEP-"+p))
		if res.status != fiber.StatusNotFound {
			t.Fatalf("malformed id %q: %d", p, res.status)
		}
		out = append(out, res.body)
	}
	return out
}

// logins fail as each payload, at once: a failed login takes a bcrypt comparison.
func (x *xssFixture) logins(t *testing.T) []string {
	out := make([]string, len(xssPayloads))
	var wg sync.WaitGroup
	for i, p := range xssPayloads {
		wg.Go(func() {
			c := x.ta.client()
			c.get("/login")
			res := c.post("/login", url.Values{"username": {p}, "password": {"wrong password"}, "next": {p}})
			if res.status != fiber.StatusUnauthorized {
				t.Errorf("login as %q: %d", p, res.status)
			}
			out[i] = res.body
		})
	}
	wg.Wait()
	return out
}

func (ta *testApp) departureByID(publicID string) tracking.Departure {
	ta.t.Helper()
	id, err := tracking.ParseID(publicID)
	if err != nil {
		ta.t.Fatal(err)
	}
	d, err := ta.store.Departure(ta.t.Context(), id)
	if err != nil {
		ta.t.Fatal(err)
	}
	return d
}
