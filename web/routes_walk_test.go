package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/metrics"
	"calipso/tracking"
	"calipso/web"
)

// These tests walk every route the app registers (app.GetRoutes), so a route added later is
// covered without anyone remembering to: it refuses strangers unless it is listed here as
// public, refuses dispatchers when it is an admin route, and refuses a request without a valid
// CSRF token when it changes state.

// publicRoutes answer without a session ("METHOD /path" as registered; HEAD follows GET).
var publicRoutes = map[string]bool{
	"GET /login":   true,
	"POST /login":  true, // still needs a CSRF token (TestLoginItselfNeedsACSRFToken)
	"GET /healthz": true,
	"GET /readyz":  true,
	"GET /metrics": true, // public when Deps.Metrics is set; see SECURITY.md
	// /static/* is middleware, not a route: TestStaticAssetsAreServedFromTheBinary.
}

// screenRoutes are public only with a valid screen token (?screen=TOKEN). Without a session
// they refuse like any other route, and with a wrong token they answer 403.
var screenRoutes = map[string]bool{"/board": true, "/ws/board": true}

// adminOnlyRoutes are admin routes outside /admin (everything under /admin is one).
var adminOnlyRoutes = map[string]bool{}

func isAdminRoute(r walkRoute) bool {
	return r.Path == "/admin" || strings.HasPrefix(r.Path, "/admin/") || adminOnlyRoutes[r.Method+" "+r.Path]
}

// walkRoute is a registered route and a URL that reaches it.
type walkRoute struct {
	Method, Path string // as registered
	URL          string // with its parameters filled in
}

func (r walkRoute) String() string { return r.Method + " " + r.Path }

// routeParams fill route parameters with plausible values, so that a request reaches the
// handler rather than failing on a missing record. A parameter is looked up by the longest
// path prefix that names it, so ":id" can mean a departure in one place and something else in
// another. A new parameter fails the walk until it gets a rule here.
var routeParams = []struct {
	prefix, name string
	value        func(ta *testApp) string
}{
	{"/departures/", "id", func(ta *testApp) string { return ta.departure("Walk").PublicID() }},
	{"/admin/users/", "uid", func(ta *testApp) string { return ta.userID("dispatcher") }},
	{"/admin/screens/", "screen", func(ta *testApp) string {
		sc, _ := ta.screen(tracking.DefaultScreenProfile())
		return strconv.FormatInt(sc.ID, 10)
	}},
	// A board socket's id; none is open in the walk, which is fine for what it checks.
	{"/admin/screens/connections/", "conn", func(*testApp) string { return "1" }},
	// A dead letter's message id. The walk's broker is unreachable, which is fine for what it
	// checks; TestEverySuccessfulChangeIsAudited puts two of this id in a real one.
	{"/admin/dead-letters/", "id", func(*testApp) string { return walkDeadLetter }},
}

const walkDeadLetter = "walk-message"

// paramRule is the index in routeParams of the rule for parameter name under path, or -1.
func paramRule(path, name string) int {
	best := -1
	for i, p := range routeParams {
		if p.name == name && strings.HasPrefix(path, p.prefix) && (best < 0 || len(p.prefix) > len(routeParams[best].prefix)) {
			best = i
		}
	}
	return best
}

var paramPattern = regexp.MustCompile(`:([A-Za-z0-9_]+)\??|\*|\+`)

// routes lists every route of the app once, HEAD left out (Fiber adds one to every GET).
func (ta *testApp) routes() []walkRoute {
	ta.t.Helper()
	seen := map[string]bool{}
	values := map[int]string{} // by rule: each rule makes its record once
	var out []walkRoute
	for _, r := range ta.app.GetRoutes(true) {
		if r.Method == fiber.MethodHead || seen[r.Method+" "+r.Path] {
			continue
		}
		seen[r.Method+" "+r.Path] = true
		u := paramPattern.ReplaceAllStringFunc(r.Path, func(p string) string {
			if p == "*" || p == "+" {
				return "x"
			}
			name := strings.TrimSuffix(strings.TrimPrefix(p, ":"), "?")
			rule := paramRule(r.Path, name)
			if rule < 0 {
				ta.t.Errorf("route %s %s: no plausible value for :%s; add a rule to routeParams", r.Method, r.Path, name)
				return "x"
			}
			if _, ok := values[rule]; !ok {
				values[rule] = routeParams[rule].value(ta)
			}
			return values[rule]
		})
		out = append(out, walkRoute{Method: r.Method, Path: r.Path, URL: u})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	if len(out) < 10 {
		ta.t.Fatalf("the walk found only %d routes: %v", len(out), out)
	}
	return out
}

// walkApp is the test app with every optional part switched on, so every route exists.
func walkApp(t *testing.T) *testApp {
	return newTestAppWith(t, func(d *web.Deps) {
		d.Metrics = metrics.New().Handler()
		d.Admin = offlineConsole(t, d)
	})
}

func unsafeMethod(m string) bool {
	return m != fiber.MethodGet && m != fiber.MethodHead && m != fiber.MethodOptions
}

// anyForm is a body every state-changing route would accept, so that when one refuses it, the
// refusal comes from the check under test and not from bad input.
func anyForm() url.Values {
	f := screenForm("Walk screen")
	for k, v := range validDeparture() {
		f[k] = v
	}
	for k, v := range map[string]string{
		"version": "1", "status": "Loading", "reason": "walk",
		"username": "walker", "role": "dispatcher", "password": "long enough password",
		"current_password": testPassword, "new_password": "long enough password", "confirm_password": "long enough password",
		"confirm": "yes",
	} {
		f.Set(k, v)
	}
	return f
}

// send makes one request to r as the client, with the CSRF token as given: in the form field,
// in the header htmx uses, or not at all ("").
func (c *client) send(r walkRoute, csrfField, csrfHeader string) response {
	c.ta.t.Helper()
	return c.do(walkRequest(r, csrfField, csrfHeader))
}

func walkRequest(r walkRoute, csrfField, csrfHeader string) *http.Request {
	if !unsafeMethod(r.Method) {
		return httptest.NewRequest(r.Method, r.URL, nil)
	}
	form := anyForm()
	if csrfField != "" {
		form.Set("_csrf", csrfField)
	}
	req := httptest.NewRequest(r.Method, r.URL, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if csrfHeader != "" {
		req.Header.Set("X-CSRF-Token", csrfHeader)
	}
	return req
}

func refusesStranger(res response) bool {
	switch res.status {
	case fiber.StatusUnauthorized, fiber.StatusForbidden:
		return true
	case fiber.StatusFound, fiber.StatusSeeOther, fiber.StatusTemporaryRedirect:
		return strings.HasPrefix(res.header.Get("Location"), "/login")
	}
	return false
}

func TestEveryRouteRefusesStrangersExceptThePublicOnes(t *testing.T) {
	ta := walkApp(t)
	for _, r := range ta.routes() {
		if publicRoutes[r.String()] {
			continue
		}
		// A stranger with a valid CSRF token of their own, so the refusal is the route's; and
		// the same as htmx, since a fragment request is no way around the check either.
		c := ta.client()
		c.get("/login")
		if res := c.send(r, c.csrf, c.csrf); !refusesStranger(res) {
			t.Errorf("%s without a session: %d (Location %q); want 401, 403 or a redirect to /login",
				r, res.status, res.header.Get("Location"))
		}
		req := walkRequest(r, c.csrf, c.csrf)
		req.Header.Set("HX-Request", "true")
		if res := c.do(req); !refusesStranger(res) {
			t.Errorf("%s by htmx without a session: %d (Location %q); want 401, 403 or a redirect to /login",
				r, res.status, res.header.Get("Location"))
		}
		if screenRoutes[r.Path] {
			wrong := r
			wrong.URL += "?screen=not-a-screen-token"
			if res := ta.client().send(wrong, "", ""); res.status != fiber.StatusForbidden {
				t.Errorf("%s with a wrong screen token: %d, want 403", r, res.status)
			}
		}
	}
}

func TestPublicRoutesAnswerWithoutASession(t *testing.T) {
	ta := walkApp(t)
	found := map[string]bool{}
	for _, r := range ta.routes() {
		if !publicRoutes[r.String()] {
			continue
		}
		found[r.String()] = true
		if r.Method == fiber.MethodGet {
			if res := ta.client().send(r, "", ""); res.status != fiber.StatusOK {
				t.Errorf("%s: %d", r, res.status)
			}
		}
	}
	for r := range publicRoutes {
		if !found[r] {
			t.Errorf("%s is allowed as public but no longer registered: remove it from publicRoutes", r)
		}
	}
}

func TestDispatchersAreRefusedEveryAdminRoute(t *testing.T) {
	ta := walkApp(t)
	c := ta.loggedIn("dispatcher")
	n := 0
	for _, r := range ta.routes() {
		if !isAdminRoute(r) {
			continue
		}
		n++
		if res := c.send(r, c.csrf, c.csrf); res.status != fiber.StatusForbidden {
			t.Errorf("%s as a dispatcher: %d, want 403", r, res.status)
		}
	}
	if n == 0 {
		t.Fatal("no admin routes found")
	}
	if !c.signedIn() {
		t.Fatal("the dispatcher's session did not survive the walk")
	}
}

// auditCount is how many changes the audit trail holds: a refused request adds none.
func (ta *testApp) auditCount() int {
	ta.t.Helper()
	entries, err := ta.store.AuditLog(context.Background(), tracking.AuditFilter{Limit: 1000})
	if err != nil {
		ta.t.Fatal(err)
	}
	return len(entries)
}

func TestEveryStateChangingRouteRefusesAMissingOrWrongCSRFToken(t *testing.T) {
	ta := walkApp(t)
	c := ta.loggedIn("boss")
	routes := ta.routes()
	before := ta.auditCount()
	tokens := []struct{ name, field, header string }{
		{"no token", "", ""},
		{"wrong token in the form", "not-the-token", ""},
		{"wrong token in the header", "", "not-the-token"},
		{"another session's token", ta.loggedIn("dispatcher").csrf, ""},
	}
	n := 0
	for _, r := range routes {
		if !unsafeMethod(r.Method) {
			continue
		}
		n++
		for _, tok := range tokens {
			if res := c.send(r, tok.field, tok.header); res.status != fiber.StatusForbidden {
				t.Errorf("%s with %s: %d, want 403", r, tok.name, res.status)
			}
		}
	}
	if n < 5 {
		t.Fatalf("only %d state-changing routes found", n)
	}
	if after := ta.auditCount(); after != before {
		t.Fatalf("refused requests changed something: %d audit entries, before %d", after, before)
	}
	if !c.signedIn() {
		t.Fatal("a refused logout logged the admin out")
	}
	// The control: the same body with the right token does what the walk refused.
	create := walkRoute{Method: fiber.MethodPost, Path: "/departures", URL: "/departures"}
	if res := c.send(create, c.csrf, ""); res.status != fiber.StatusSeeOther {
		t.Fatalf("the walk's form with the right token: %d, want 303", res.status)
	}
}

// notAudited are state-changing routes whose success changes nothing an admin audits.
var notAudited = map[string]bool{
	"POST /login":  true, // signing in is in the log, not a change
	"POST /logout": true,
}

// TestEverySuccessfulChangeIsAudited posts the walk's form, with a valid token, to every
// state-changing route as an admin: each one that succeeds must have added to the audit trail.
func TestEverySuccessfulChangeIsAudited(t *testing.T) {
	ta, ch := brokerWalkApp(t)
	// Two dead letters of one id: the walk deletes one, then replays the other.
	for range 2 {
		putDeadLetter(t, ch, amqp.Publishing{MessageId: walkDeadLetter, ContentType: "application/json", Body: []byte("{}")})
	}
	c := ta.loggedIn("boss")
	succeeded := 0
	for _, r := range ta.routes() {
		if !unsafeMethod(r.Method) || notAudited[r.String()] {
			continue
		}
		before := ta.auditCount()
		res := c.send(r, c.csrf, c.csrf)
		if res.status >= 400 {
			continue // refused: nothing changed (the CSRF walk checks refusals change nothing)
		}
		succeeded++
		if ta.auditCount() == before {
			t.Errorf("%s succeeded (%d) without an audit entry", r, res.status)
		}
		c.get("/departures") // a fresh token, in case the route rotated the session
	}
	if succeeded < 6 {
		t.Fatalf("only %d changes succeeded; the walk's form no longer fits the routes", succeeded)
	}
}
