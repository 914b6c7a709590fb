package web_test

import (
	"context"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/crypto/bcrypt"

	"calipso/handlers"
	"calipso/store"
	"calipso/tracking"
	"calipso/web"
	"calipso/web/live"
)

// testApp is the whole application on a fresh SQLite database of the test's own.
type testApp struct {
	t     testing.TB
	app   *fiber.App
	store *store.Store
	loc   *time.Location
	hub   *live.Hub
}

const testPassword = "correct horse battery"

func newTestApp(t testing.TB) *testApp {
	t.Helper()
	return newTestAppWith(t, nil)
}

// newTestAppWith is newTestApp with deps adjusted by adjust (a short session policy, a small
// body limit, …) before the app is built.
func newTestAppWith(t testing.TB, adjust func(*web.Deps)) *testApp {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "calipso.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	loc := time.FixedZone("Depot", 3*3600)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	site := handlers.Site{Build: "test", Loc: loc}
	hub := live.New(live.Config{Build: site.Build, Log: log})
	hubCtx, stopHub := context.WithCancel(context.Background())
	hubDone := make(chan struct{})
	go func() {
		hub.Run(hubCtx)
		close(hubDone)
	}()
	t.Cleanup(func() {
		stopHub()
		<-hubDone
	})
	deps := web.Deps{
		Log:        log,
		Site:       site,
		Users:      st,
		Departures: st,
		Sessions:   st.Sessions(),
		Checks:     []handlers.Check{{Name: "database", Fn: st.Ping}},
		Audit:      st,
		Board: &web.BoardDeps{
			Boards: &handlers.Boards{Site: site, Departures: st, Screens: st, Heartbeat: hub.Heartbeat()},
			Hub:    hub,
		},
	}
	if adjust != nil {
		adjust(&deps)
	}
	app := web.New(deps)
	ta := &testApp{t: t, app: app, store: st, loc: loc, hub: hub}
	ta.addUser("dispatcher", tracking.RoleDispatcher)
	ta.addUser("boss", tracking.RoleAdmin)
	return ta
}

func (ta *testApp) addUser(name string, role tracking.Role) tracking.User {
	ta.t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		ta.t.Fatal(err)
	}
	u, err := ta.store.CreateUser(context.Background(), name, role, hash)
	if err != nil {
		ta.t.Fatal(err)
	}
	return u
}

// departure creates a departure directly in the store, scheduled today in the depot's zone.
func (ta *testApp) departure(dest string) tracking.Departure {
	ta.t.Helper()
	now := time.Now().In(ta.loc)
	sched := time.Date(now.Year(), now.Month(), now.Day(), 12, 0, 0, 0, ta.loc)
	d, err := ta.store.CreateDeparture(context.Background(), tracking.DepartureFields{
		PONumber: "PO-1", Destination: dest, Carrier: "DHL", Dock: "D1", ScheduledAt: sched.UTC(),
	}, "seed")
	if err != nil {
		ta.t.Fatal(err)
	}
	return d
}

// client is a browser without JavaScript: it keeps cookies and the last CSRF token it saw.
type client struct {
	ta      *testApp
	cookies map[string]string
	csrf    string
}

func (ta *testApp) client() *client { return &client{ta: ta, cookies: map[string]string{}} }

// loggedIn returns a client with a session for the user.
func (ta *testApp) loggedIn(name string) *client {
	ta.t.Helper()
	c := ta.client()
	c.get("/login")
	res := c.post("/login", url.Values{"username": {name}, "password": {testPassword}})
	if res.status != fiber.StatusSeeOther {
		ta.t.Fatalf("login as %s: status %d: %s", name, res.status, res.body)
	}
	c.get("/departures") // pick up a CSRF token bound to the new session
	return c
}

type response struct {
	status int
	header http.Header
	body   string
}

func (c *client) do(req *http.Request) response {
	c.ta.t.Helper()
	var parts []string
	for k, v := range c.cookies {
		parts = append(parts, k+"="+v)
	}
	if len(parts) > 0 {
		req.Header.Set("Cookie", strings.Join(parts, "; "))
	}
	res, err := c.ta.app.Test(req, 10000)
	if err != nil {
		c.ta.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, ck := range res.Cookies() {
		if ck.MaxAge < 0 || (!ck.Expires.IsZero() && ck.Expires.Before(time.Now())) || ck.Value == "" {
			delete(c.cookies, ck.Name)
		} else {
			c.cookies[ck.Name] = ck.Value
		}
	}
	if m := csrfInput.FindStringSubmatch(string(body)); m != nil && m[1] != "" {
		c.csrf = html.UnescapeString(m[1])
	}
	return response{status: res.StatusCode, header: res.Header, body: string(body)}
}

var csrfInput = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

func (c *client) get(path string) response {
	return c.do(httptest.NewRequest(http.MethodGet, path, nil))
}

// post submits a form with the client's CSRF token (unless the form sets _csrf itself).
func (c *client) post(path string, form url.Values) response {
	if _, ok := form["_csrf"]; !ok {
		with := url.Values{"_csrf": {c.csrf}}
		for k, v := range form {
			with[k] = v
		}
		form = with
	}
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return c.do(req)
}

// htmx submits a form as htmx does: the token in the header, and the target's id.
func (c *client) htmx(path, target string, form url.Values) response {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("HX-Request", "true")
	req.Header.Set("X-CSRF-Token", c.csrf)
	if target != "" {
		req.Header.Set("HX-Target", target)
	}
	return c.do(req)
}

// userID is the id of a user, as the admin pages' URLs carry it.
func (ta *testApp) userID(name string) string {
	ta.t.Helper()
	u, err := ta.store.UserByUsername(context.Background(), name)
	if err != nil {
		ta.t.Fatal(err)
	}
	return strconv.FormatInt(u.ID, 10)
}

// loginAs reports whether a fresh client can log in with these credentials.
func (ta *testApp) loginAs(name, password string) bool {
	ta.t.Helper()
	c := ta.client()
	c.get("/login")
	res := c.post("/login", url.Values{"username": {name}, "password": {password}})
	return res.status == fiber.StatusSeeOther
}
