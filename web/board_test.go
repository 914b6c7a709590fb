package web_test

import (
	"context"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
)

// screen registers a screen directly in the store and returns it with its token.
func (ta *testApp) screen(p tracking.ScreenProfile) (tracking.Screen, string) {
	ta.t.Helper()
	token, hash := tracking.NewScreenToken()
	sc, err := ta.store.CreateScreen(context.Background(), p, hash, "boss")
	if err != nil {
		ta.t.Fatal(err)
	}
	return sc, token
}

// departureAt creates a departure at dock, scheduled in an hour.
func (ta *testApp) departureAt(dest, dock string) tracking.Departure {
	ta.t.Helper()
	d, err := ta.store.CreateDeparture(context.Background(), tracking.DepartureFields{
		PONumber: "PO-1", Destination: dest, Carrier: "DHL", Dock: dock, ScheduledAt: time.Now().Add(time.Hour).UTC(),
	}, "seed")
	if err != nil {
		ta.t.Fatal(err)
	}
	return d
}

// socket asks for a WebSocket upgrade of path, with origin ("" for none).
func (c *client) socket(path, origin string) response {
	req := httptest.NewRequest(http.MethodGet, path, nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	return c.do(req)
}

func TestBoardWithoutSessionOrTokenGoesToLogin(t *testing.T) {
	ta := newTestApp(t)
	res := ta.client().get("/board")
	if res.status != fiber.StatusSeeOther || res.header.Get("Location") != "/login?next=%2Fboard" {
		t.Fatalf("status %d Location %q", res.status, res.header.Get("Location"))
	}
}

func TestScreenLinkShowsOnlyItsFilterInItsLanguageWithoutLogin(t *testing.T) {
	ta := newTestApp(t)
	riga, kazan := ta.departureAt("Riga", "D1"), ta.departureAt("Kazan", "D2")
	p := tracking.DefaultScreenProfile()
	p.Name, p.Docks, p.Language = "Hall A", []string{"D1"}, tracking.LanguageRussian
	_, token := ta.screen(p)

	res := ta.client().get("/board?screen=" + token)
	if res.status != fiber.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	if !strings.Contains(res.body, `id="dep-`+riga.PublicID()+`"`) || strings.Contains(res.body, kazan.PublicID()) {
		t.Fatal("the board does not show exactly the departures of its dock")
	}
	for _, want := range []string{"Hall A", "Рампа", "Ожидает", `lang="ru"`, `hx-ext="ws"`} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the board does not show %q", want)
		}
	}
	wsURL := "/ws/board?" + url.Values{"build": {"test"}, "screen": {token}}.Encode()
	if !strings.Contains(html.UnescapeString(res.body), `ws-connect="`+wsURL+`"`) {
		t.Errorf("the board does not connect to %s", wsURL)
	}
	if cc := res.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q: a page with a working token must not be cached", cc)
	}
	if regexp.MustCompile(`<script(\s[^>]*)?>[^<]`).MatchString(res.body) || strings.Contains(res.body, " style=") {
		t.Error("the board has inline script or style, which the Content-Security-Policy forbids")
	}
}

func TestBoardLeavesFinishedDeparturesOffAfterTheProfileMinutes(t *testing.T) {
	ta := newTestApp(t)
	d := ta.departureAt("Riga", "D1")
	d, _ = ta.store.ChangeStatus(context.Background(), d.ID, d.Version, tracking.StatusCancelled, "", "x")
	keep, gone := tracking.DefaultScreenProfile(), tracking.DefaultScreenProfile()
	keep.Name, keep.RemoveAfterMinutes = "keep", 30
	gone.Name, gone.RemoveAfterMinutes = "gone", 0
	_, keepToken := ta.screen(keep)
	_, goneToken := ta.screen(gone)
	if res := ta.client().get("/board?screen=" + keepToken); !strings.Contains(res.body, d.PublicID()) {
		t.Fatal("a departure cancelled a moment ago left a board that keeps them 30 minutes")
	}
	if res := ta.client().get("/board?screen=" + goneToken); strings.Contains(res.body, d.PublicID()) {
		t.Fatal("a cancelled departure stays on a board that keeps them 0 minutes")
	}
}

func TestBadOrRevokedScreenLinksAre403(t *testing.T) {
	ta := newTestApp(t)
	sc, token := ta.screen(tracking.DefaultScreenProfile())
	if _, err := ta.store.RevokeScreen(context.Background(), sc.ID, "boss"); err != nil {
		t.Fatal(err)
	}
	unknown, _ := tracking.NewScreenToken()
	for name, tok := range map[string]string{"revoked": token, "unknown": unknown, "garbage": "x'; DROP TABLE screens;--", "empty": ""} {
		if res := ta.client().get("/board?screen=" + url.QueryEscape(tok)); res.status != fiber.StatusForbidden {
			t.Errorf("%s token: status %d", name, res.status)
		}
		if res := ta.client().socket("/ws/board?screen="+url.QueryEscape(tok), ""); res.status != fiber.StatusForbidden {
			t.Errorf("%s token, socket: status %d, want 403 before the upgrade", name, res.status)
		}
	}
}

func TestSocketIsRefusedBeforeTheUpgradeWithoutTheRightOriginOrCredentials(t *testing.T) {
	ta := newTestApp(t)
	_, token := ta.screen(tracking.DefaultScreenProfile())
	const self, evil = "http://example.com", "http://evil.example"
	disp := ta.loggedIn("dispatcher")
	cases := []struct {
		name   string
		c      *client
		path   string
		origin string
	}{
		{"no session, no token", ta.client(), "/ws/board", self},
		{"a session without an Origin", disp, "/ws/board", ""},
		{"a session from another site", disp, "/ws/board", evil},
		{"a token from another site", ta.client(), "/ws/board?screen=" + token, evil},
		{"the list without a session", ta.client(), "/ws/board?list=departures&date=", self},
		{"a preview by a dispatcher", disp, "/ws/board?preview=1", self},
	}
	for _, c := range cases {
		if res := c.c.socket(c.path, c.origin); res.status != fiber.StatusForbidden {
			t.Errorf("%s: status %d, want 403", c.name, res.status)
		}
	}
	if res := disp.get("/ws/board"); res.status != fiber.StatusUpgradeRequired {
		t.Errorf("a plain GET: status %d, want 426", res.status)
	}
}

func TestDispatcherListCarriesTheSocketOfItsFilter(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	res := c.get("/departures?date=2026-12-03&status=loading&dock=D7")
	want := "/ws/board?build=test&amp;date=2026-12-03&amp;dock=D7&amp;list=departures&amp;status=loading"
	if !strings.Contains(res.body, `ws-connect="`+want+`"`) {
		t.Fatalf("the list does not connect to its filter's socket: %s", res.body)
	}
}

func TestScreensAdminIsForAdminsOnly(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	if res := c.get("/admin/screens"); res.status != fiber.StatusForbidden {
		t.Fatalf("dispatcher GET: %d", res.status)
	}
	if res := c.post("/admin/screens", screenForm("Hall A")); res.status != fiber.StatusForbidden {
		t.Fatalf("dispatcher POST: %d", res.status)
	}
	if all, _ := ta.store.Screens(context.Background()); len(all) != 0 {
		t.Fatal("a dispatcher registered a screen")
	}
}

func screenForm(name string) url.Values {
	return url.Values{
		"name": {name}, "docks": {"D1, D2"}, "destinations": {""}, "carriers": {""}, "statuses": {"pending", "loading"},
		"page_size": {"10"}, "rotate_seconds": {"8"}, "language": {"ru"}, "theme": {"light"}, "remove_after": {"15"},
	}
}

var screenURL = regexp.MustCompile(`id="screen-url">([^<]+)<`)

func TestRegisteringAScreenShowsItsLinkOnceAndKeepsOnlyTheHash(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("boss")
	c.get("/admin/screens/new")
	res := c.post("/admin/screens", screenForm("Hall A"))
	m := screenURL.FindStringSubmatch(res.body)
	if res.status != fiber.StatusOK || m == nil {
		t.Fatalf("status %d, no link: %s", res.status, res.body)
	}
	link, _ := url.Parse(html.UnescapeString(m[1]))
	token := link.Query().Get("screen")
	all, _ := ta.store.Screens(context.Background())
	if len(all) != 1 || all[0].TokenHash != tracking.HashScreenToken(token) || all[0].Name != "Hall A" ||
		all[0].Language != tracking.LanguageRussian || len(all[0].Statuses) != 2 || all[0].PageSize != 10 {
		t.Fatalf("stored %+v", all)
	}
	if list := c.get("/admin/screens"); strings.Contains(list.body, token) || !strings.Contains(list.body, "Hall A") {
		t.Fatal("the list shows the token, or not the screen")
	}
	if board := ta.client().get(link.RequestURI()); board.status != fiber.StatusOK {
		t.Fatalf("the new link answers %d", board.status)
	}
}

func TestScreenFormChecksItsInputAndItsToken(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("boss")
	c.get("/admin/screens/new")
	bad := screenForm("Hall A")
	bad.Set("page_size", "0")
	if res := c.post("/admin/screens", bad); res.status != fiber.StatusUnprocessableEntity || !strings.Contains(res.body, `data-field="page_size"`) {
		t.Fatalf("bad page size: %d", res.status)
	}
	noToken := screenForm("Hall A")
	noToken.Set("_csrf", "")
	if res := c.post("/admin/screens", noToken); res.status != fiber.StatusForbidden {
		t.Fatalf("without a CSRF token: %d", res.status)
	}
	if all, _ := ta.store.Screens(context.Background()); len(all) != 0 {
		t.Fatal("a refused form saved a screen")
	}
}

func TestSecondScreenEditorGets409(t *testing.T) {
	ta := newTestApp(t)
	sc, _ := ta.screen(tracking.DefaultScreenProfile())
	c := ta.loggedIn("boss")
	path := "/admin/screens/" + strconv.FormatInt(sc.ID, 10)
	c.get(path + "/edit")
	first := screenForm("Hall B")
	first.Set("version", strconv.FormatInt(sc.Version, 10))
	if res := c.post(path, first); res.status != fiber.StatusSeeOther {
		t.Fatalf("first edit: %d %s", res.status, res.body)
	}
	second := screenForm("Hall C")
	second.Set("version", strconv.FormatInt(sc.Version, 10))
	if res := c.post(path, second); res.status != fiber.StatusConflict || !strings.Contains(res.body, `value="Hall B"`) {
		t.Fatalf("stale edit: %d", res.status)
	}
}

func TestRevokeAndNewLinkStopTheOldLink(t *testing.T) {
	ta := newTestApp(t)
	sc, token := ta.screen(tracking.DefaultScreenProfile())
	c := ta.loggedIn("boss")
	c.get("/admin/screens")
	path := "/admin/screens/" + strconv.FormatInt(sc.ID, 10)
	if res := c.post(path+"/revoke", url.Values{}); res.status != fiber.StatusSeeOther {
		t.Fatalf("revoke: %d", res.status)
	}
	if res := ta.client().get("/board?screen=" + token); res.status != fiber.StatusForbidden {
		t.Fatalf("a revoked link answers %d", res.status)
	}
	res := c.post(path+"/link", url.Values{})
	m := screenURL.FindStringSubmatch(res.body)
	if m == nil {
		t.Fatalf("no new link: %d", res.status)
	}
	link, _ := url.Parse(html.UnescapeString(m[1]))
	if res := ta.client().get(link.RequestURI()); res.status != fiber.StatusOK {
		t.Fatalf("the new link answers %d", res.status)
	}
	if res := ta.client().get("/board?screen=" + token); res.status != fiber.StatusForbidden {
		t.Fatalf("the old link answers %d after a new one", res.status)
	}
}

func TestAdminPreviewsAScreenDispatcherCannot(t *testing.T) {
	ta := newTestApp(t)
	p := tracking.DefaultScreenProfile()
	p.Name = "Yard gate"
	sc, _ := ta.screen(p)
	path := "/board?preview=" + strconv.FormatInt(sc.ID, 10)
	if res := ta.loggedIn("boss").get(path); res.status != fiber.StatusOK || !strings.Contains(res.body, "Yard gate") {
		t.Fatalf("admin preview: %d", res.status)
	}
	if res := ta.loggedIn("dispatcher").get(path); res.status != fiber.StatusForbidden {
		t.Fatalf("dispatcher preview: %d", res.status)
	}
}
