package main

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"golang.org/x/crypto/bcrypt"

	"calipso/internal/browsertest"
	"calipso/internal/servicetest"
	"calipso/store"
	"calipso/tracking"
)

// Browser tests of the live board: headless chromium, real servers, the real pipeline. They
// mark each page (window.calipsoMark) to prove that what changes arrived without a reload.

// waitJS evaluates expr in the page every 100 ms until it is true. It survives a reload (a
// poll inside the page would not).
func waitJS(t *testing.T, ctx context.Context, within time.Duration, what, expr string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("!!("+expr+")"))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			html, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.outerHTML.slice(0, 3000) : ""`))
			t.Fatalf("not within %s: %s (%v)\n%s", within, what, err, html)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func js[T any](t *testing.T, ctx context.Context, expr string) T {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// mark tags the page; unmarked shows the tag is gone, which only a reload does.
func mark(t *testing.T, ctx context.Context) {
	t.Helper()
	js[chromedp.Void](t, ctx, `window.calipsoMark = 1`)
}

func stillMarked(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	if !js[bool](t, ctx, `window.calipsoMark === 1`) {
		t.Fatalf("%s: the page reloaded", what)
	}
}

// openBoard opens a board URL and waits for its first snapshot over the socket.
func openBoard(t *testing.T, ctx context.Context, u string) {
	t.Helper()
	if err := chromedp.Do(ctx, chromedp.Navigate(u), chromedp.WaitVisible(chromedp.CSS(`#board-live`))); err != nil {
		t.Fatalf("open %s: %v", u, err)
	}
	waitJS(t, ctx, 15*time.Second, "the board's socket delivers its snapshot", `document.body.dataset.snapshots >= 1`)
	mark(t, ctx)
}

func rowStatus(d tracking.Departure, s tracking.Status) string {
	return fmt.Sprintf(`document.querySelector('#dep-%s .status-%s')`, d.PublicID(), s.Slug())
}

func addTestUser(t *testing.T, st *store.Store, name string, role tracking.Role) {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(adminPassword), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateUser(context.Background(), name, role, hash); err != nil {
		t.Fatal(err)
	}
}

// TestDispatcherChangeReachesBoardAndOtherDispatcherLiveAcrossServers: two servers on one
// PostgreSQL database. Dispatcher A works on server A; a wall screen and dispatcher B watch
// server B. A's status change shows on B's board and B's list without a reload.
func TestDispatcherChangeReachesBoardAndOtherDispatcherLiveAcrossServers(t *testing.T) {
	// One database, one broker, one cache, as a deployment of several instances has.
	red := servicetest.RedisPrefix(t)
	env := map[string]string{"DATABASE_URL": servicetest.Postgres(t), "RABBITMQ_URL": servicetest.RabbitMQ(t).URL,
		"REDIS_URL": red.URL, "CALIPSO_REDIS_PREFIX": red.Prefix}
	a := startServer(t, env)
	b := startServer(t, env)
	st := a.store(t)
	addTestUser(t, st, "olga", tracking.RoleDispatcher)
	d := createDeparture(t, st, "Nizhny Novgorod", "D3", time.Hour)
	_, token := registerScreen(t, st, tracking.DefaultScreenProfile())

	dispatcherA := browsertest.New(t)
	screen := browsertest.NewIncognito(t, dispatcherA)
	dispatcherB := browsertest.NewIncognito(t, dispatcherA)

	openBoard(t, screen, b.URL+"/board?screen="+token)
	if !js[bool](t, screen, rowStatus(d, tracking.StatusPending)+` !== null`) {
		t.Fatal("the board does not show the departure")
	}
	login(t, dispatcherB, b.URL, "olga", adminPassword)
	waitJS(t, dispatcherB, 15*time.Second, "dispatcher B's list connects", `document.querySelector('[data-live-list]').dataset.snapshots >= 1`)
	mark(t, dispatcherB)

	login(t, dispatcherA, a.URL, "admin", adminPassword)
	// Its list's snapshot replaces the rows once the socket is up: click after it.
	waitJS(t, dispatcherA, 15*time.Second, "dispatcher A's list connects", `document.querySelector('[data-live-list]').dataset.snapshots >= 1`)
	if err := chromedp.Do(dispatcherA, chromedp.Click(chromedp.CSS(`#dep-`+d.PublicID()+` button[value="Loading"]`))); err != nil {
		t.Fatal(err)
	}

	waitJS(t, screen, 15*time.Second, "the board shows Loading", rowStatus(d, tracking.StatusLoading))
	stillMarked(t, screen, "the board")
	if !js[bool](t, screen, `document.querySelector('#dep-`+d.PublicID()+`').classList.contains('board-row-updated')`) {
		t.Error("the changed row is not highlighted")
	}
	waitJS(t, dispatcherB, 15*time.Second, "dispatcher B's list shows Loading", rowStatus(d, tracking.StatusLoading))
	stillMarked(t, dispatcherB, "dispatcher B's list")
	// The pushed row carries no token of its own; B's click sends B's token (hx-headers).
	if err := chromedp.Do(dispatcherB, chromedp.Click(chromedp.CSS(`#dep-`+d.PublicID()+` button[value="In Transit"]`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, screen, 15*time.Second, "the board shows B's change", rowStatus(d, tracking.StatusInTransit))
	got, err := st.Departure(context.Background(), d.ID)
	if err != nil || got.Status != tracking.StatusInTransit || got.UpdatedBy != "olga" {
		t.Fatalf("stored %s by %q (%v), want In Transit by olga", got.Status, got.UpdatedBy, err)
	}
}

// TestBoardShowsBannerWhileServerIsDownAndCatchesUpAfter: the server stops under an open
// board, which says so; a change is made meanwhile straight in the database (with its outbox
// row); when the server is back, the board reconnects, shows the change and drops the banner.
func TestBoardShowsBannerWhileServerIsDownAndCatchesUpAfter(t *testing.T) {
	srv := startServer(t, map[string]string{"CALIPSO_WS_HEARTBEAT": "1s"})
	st := srv.store(t)
	d := createDeparture(t, st, "Tver", "D1", time.Hour)
	_, token := registerScreen(t, st, tracking.DefaultScreenProfile())
	ctx := browsertest.New(t)
	openBoard(t, ctx, srv.URL+"/board?screen="+token)
	if !js[bool](t, ctx, `document.getElementById('board-banner').hidden`) {
		t.Fatal("the banner shows while the board is live")
	}

	srv.stop(t)
	waitJS(t, ctx, 10*time.Second, "the banner appears", `!document.getElementById('board-banner').hidden`)
	banner := js[string](t, ctx, `document.getElementById('board-banner').textContent`)
	if !strings.HasPrefix(banner, "Connection lost, data from ") || !strings.HasSuffix(banner, " may be out of date") {
		t.Fatalf("banner %q", banner)
	}
	waitJS(t, ctx, 5*time.Second, "the table dims", `parseFloat(getComputedStyle(document.querySelector('.board-table')).opacity) < 0.5`)

	if _, err := st.ChangeStatus(context.Background(), d.ID, d.Version, tracking.StatusDelayed, "driver late", "olga"); err != nil {
		t.Fatal(err)
	}
	srv.start(t)
	waitJS(t, ctx, 30*time.Second, "the board shows the change made while it was down", rowStatus(d, tracking.StatusDelayed))
	waitJS(t, ctx, 5*time.Second, "the banner clears", `document.getElementById('board-banner').hidden && !document.body.classList.contains('board-stale')`)
	stillMarked(t, ctx, "after the reconnect")
}

// TestScreenProfileFiltersPagesAndFollowsItsChangesLive: a screen shows only its filter's
// departures, sorted, in pages; an admin's change of its profile reaches it without touching
// it; a new departure is inserted in its place; a revoked screen says so.
func TestScreenProfileFiltersPagesAndFollowsItsChangesLive(t *testing.T) {
	srv := startServer(t, nil)
	st := srv.store(t)
	var d1 []tracking.Departure
	for i, dest := range []string{"Kazan", "Samara", "Riga", "Minsk"} {
		d1 = append(d1, createDeparture(t, st, dest, "D1", time.Duration(i+1)*time.Hour))
	}
	late := createDeparture(t, st, "Warsaw", "D2", 3*time.Hour+30*time.Minute)
	other := createDeparture(t, st, "Hamburg", "D2", 90*time.Minute)
	p := tracking.DefaultScreenProfile()
	p.Name, p.Docks, p.PageSize, p.RotateSeconds = "Dock 1", []string{"D1"}, 3, 3
	sc, token := registerScreen(t, st, p)

	ctx := browsertest.New(t)
	openBoard(t, ctx, srv.URL+"/board?screen="+token)
	ids := func() string {
		return js[string](t, ctx, `Array.from(document.querySelectorAll('#board-rows > tr')).map(r => r.id).join(' ')`)
	}
	want := "dep-" + d1[0].PublicID() + " dep-" + d1[1].PublicID() + " dep-" + d1[2].PublicID() + " dep-" + d1[3].PublicID()
	if got := ids(); got != want {
		t.Fatalf("rows %q, want dock D1's in time order %q", got, want)
	}
	if got := js[int](t, ctx, `document.querySelectorAll('#board-rows > tr:not([hidden])').length`); got != 3 {
		t.Fatalf("%d rows visible, want a page of 3", got)
	}
	if got := js[string](t, ctx, `document.getElementById('board-page').textContent`); got != "page 1/2" {
		t.Fatalf("page indicator %q", got)
	}
	waitJS(t, ctx, 10*time.Second, "the board turns to page 2", `document.getElementById('board-page').textContent === 'page 2/2'`)

	// The admin changes the profile: dock D2, in Russian. The screen follows, untouched.
	admin := httpLogin(t, srv.URL, "admin", adminPassword)
	path := "/admin/screens/" + strconv.FormatInt(sc.ID, 10)
	admin.get(path + "/edit")
	form := url.Values{"name": {"Рампа 2"}, "docks": {"D2"}, "destinations": {""}, "carriers": {""},
		"page_size": {"10"}, "rotate_seconds": {"10"}, "language": {"ru"}, "theme": {"light"}, "remove_after": {"30"},
		"version": {strconv.FormatInt(sc.Version, 10)}}
	if code, body := admin.post(path, form); code != 303 {
		t.Fatalf("edit profile: %d %s", code, body)
	}
	waitJS(t, ctx, 15*time.Second, "the board takes its new profile", `document.querySelector('.board-title').textContent === 'Рампа 2'`)
	stillMarked(t, ctx, "after the profile change")
	if got, want := ids(), "dep-"+other.PublicID()+" dep-"+late.PublicID(); got != want {
		t.Fatalf("rows after the change %q, want %q", got, want)
	}
	if th := js[string](t, ctx, `document.querySelector('.board-table th').textContent`); th != "По плану" {
		t.Fatalf("header %q, want Russian", th)
	}
	if bg := js[string](t, ctx, `getComputedStyle(document.getElementById('board-live')).backgroundColor`); bg != "rgb(255, 255, 255)" {
		t.Fatalf("the light theme's background is %s", bg)
	}

	// A new departure at dock D2, between the two: it is inserted in its place.
	dispatcher := httpLogin(t, srv.URL, "admin", adminPassword)
	dispatcher.get("/departures/new")
	at := time.Now().Add(2 * time.Hour).UTC().Format(tracking.DateTimeLayout)
	if code, body := dispatcher.post("/departures", url.Values{"po_number": {"PO-9"}, "destination": {"Vilnius"}, "carrier": {"Raben"},
		"vehicle": {""}, "dock": {"D2"}, "scheduled_at": {at}, "estimated_at": {""}, "notes": {""}}); code != 303 {
		t.Fatalf("create: %d %s", code, body)
	}
	waitJS(t, ctx, 15*time.Second, "the new departure arrives", `document.querySelectorAll('#board-rows > tr').length === 3`)
	rows := strings.Fields(ids())
	if rows[0] != "dep-"+other.PublicID() || rows[2] != "dep-"+late.PublicID() {
		t.Fatalf("rows %q: the new departure is not between the other two", rows)
	}
	if got := js[string](t, ctx, `document.querySelector('#`+rows[1]+` .status-pending').textContent`); got != "Ожидает" {
		t.Fatalf("the new row's status reads %q, want it in Russian", got)
	}
	stillMarked(t, ctx, "after the insert")

	// Revoked: the screen says so rather than retry for ever.
	admin.get("/admin/screens")
	if code, _ := admin.post(path+"/revoke", url.Values{}); code != 303 {
		t.Fatalf("revoke: %d", code)
	}
	waitJS(t, ctx, 10*time.Second, "the screen shows that its link was revoked",
		`document.getElementById('board-banner').textContent.indexOf('отозвана') >= 0`)
}

// TestBoardReloadsItselfWhenTheServerBuildChanges: a screen left open across a deployment
// picks up the new build's page by itself.
func TestBoardReloadsItselfWhenTheServerBuildChanges(t *testing.T) {
	old := build
	t.Cleanup(func() { build = old })
	build = "build-one"
	srv := startServer(t, nil)
	_, token := registerScreen(t, srv.store(t), tracking.DefaultScreenProfile())
	ctx := browsertest.New(t)
	openBoard(t, ctx, srv.URL+"/board?screen="+token)
	if got := js[string](t, ctx, `document.getElementById('board-live').dataset.build`); got != "build-one" {
		t.Fatalf("build %q", got)
	}
	srv.stop(t)
	build = "build-two"
	srv.start(t)
	waitJS(t, ctx, 45*time.Second, "the page reloads into the new build",
		`window.calipsoMark === undefined && document.getElementById('board-live') && document.getElementById('board-live').dataset.build === 'build-two'`)
}

// TestAdminIdentifiesAndReloadsOneScreen: from the screens page, an admin makes one
// connected screen show its name large, then reload itself.
func TestAdminIdentifiesAndReloadsOneScreen(t *testing.T) {
	srv := startServer(t, nil)
	p := tracking.DefaultScreenProfile()
	p.Name = "Yard gate"
	_, token := registerScreen(t, srv.store(t), p)
	ctx := browsertest.New(t)
	openBoard(t, ctx, srv.URL+"/board?screen="+token)

	admin := httpLogin(t, srv.URL, "admin", adminPassword)
	_, page := admin.get("/admin/screens")
	m := regexp.MustCompile(`/admin/screens/connections/(\d+)/identify`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the screens page does not list the connected screen: %s", page)
	}
	if code, _ := admin.post(m[0], url.Values{}); code != 303 {
		t.Fatalf("identify: %d", code)
	}
	waitJS(t, ctx, 10*time.Second, "the screen shows its name",
		`!document.getElementById('board-identify').hidden && document.getElementById('board-identify').textContent === 'Screen: Yard gate · #`+m[1]+`'`)
	if code, _ := admin.post("/admin/screens/connections/"+m[1]+"/reload", url.Values{}); code != 303 {
		t.Fatalf("reload: %d", code)
	}
	waitJS(t, ctx, 15*time.Second, "the screen reloads and reconnects",
		`window.calipsoMark === undefined && document.body.dataset.snapshots >= 1`)
}

// TestBoardShowsBannerWhenAnOpenSocketFallsSilent: the socket stays open but nothing comes
// through (a half-open connection, a stuck proxy); after twice the heartbeat interval the
// board says so, and when messages flow again the banner goes.
func TestBoardShowsBannerWhenAnOpenSocketFallsSilent(t *testing.T) {
	srv := startServer(t, map[string]string{"CALIPSO_WS_HEARTBEAT": "1s"})
	_, token := registerScreen(t, srv.store(t), tracking.DefaultScreenProfile())
	ctx := browsertest.New(t)
	openBoard(t, ctx, srv.URL+"/board?screen="+token)
	waitJS(t, ctx, 5*time.Second, "a heartbeat keeps the board fresh", `document.getElementById('board-banner').hidden`)

	// Swallow every message before board.js sees it: to the page, the socket falls silent.
	js[chromedp.Void](t, ctx, `window.calipsoSilence = e => e.stopImmediatePropagation();
		document.body.addEventListener('htmx:wsBeforeMessage', calipsoSilence);
		document.body.addEventListener('htmx:wsAfterMessage', calipsoSilence)`)
	waitJS(t, ctx, 10*time.Second, "the banner appears on silence", `!document.getElementById('board-banner').hidden`)
	js[chromedp.Void](t, ctx, `document.body.removeEventListener('htmx:wsBeforeMessage', calipsoSilence);
		document.body.removeEventListener('htmx:wsAfterMessage', calipsoSilence)`)
	waitJS(t, ctx, 10*time.Second, "the banner clears when messages come again", `document.getElementById('board-banner').hidden`)
	stillMarked(t, ctx, "after the silence")
}
