package main

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"calipso/internal/servicetest"
	"calipso/store"
	"calipso/tracking"
)

// Tests of the live board against real `calipso serve` processes, with the real pipeline:
// outbox, RabbitMQ (a virtual host of the test's own), the instance's live queue, the hub.

// openStore opens the database of a running server, as a second process would.
func (s *server) store(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), s.env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func createDeparture(t *testing.T, st *store.Store, dest, dock string, in time.Duration) tracking.Departure {
	t.Helper()
	d, err := st.CreateDeparture(context.Background(), tracking.DepartureFields{
		PONumber: "PO-" + dest, Destination: dest, Carrier: "DHL Freight", Vehicle: "TR-1", Dock: dock,
		ScheduledAt: time.Now().Add(in).UTC().Truncate(time.Minute),
	}, "seed")
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func registerScreen(t *testing.T, st *store.Store, p tracking.ScreenProfile) (tracking.Screen, string) {
	t.Helper()
	token, hash := tracking.NewScreenToken()
	sc, err := st.CreateScreen(context.Background(), p, hash, "admin")
	if err != nil {
		t.Fatal(err)
	}
	return sc, token
}

// socket is a board WebSocket read on a goroutine of its own.
type socket struct {
	t    *testing.T
	conn *websocket.Conn
	msgs chan string
	err  chan error
}

// dialBoard opens /ws/board?query on the server: with the session's cookie and this site as
// Origin when s is given, as a browser would; bare (a program with a screen token) otherwise.
func dialBoard(t *testing.T, srv *server, s *session, query string) (*socket, *http.Response, error) {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	h := http.Header{}
	if s != nil {
		d.Jar = s.http.Jar
		h.Set("Origin", srv.URL)
	}
	conn, res, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/board?"+query, h)
	if err != nil {
		return nil, res, err
	}
	t.Cleanup(func() { conn.Close() })
	ws := &socket{t: t, conn: conn, msgs: make(chan string, 1024), err: make(chan error, 1)}
	go func() {
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				ws.err <- err
				close(ws.msgs)
				return
			}
			ws.msgs <- string(b)
		}
	}()
	return ws, res, nil
}

func mustDial(t *testing.T, srv *server, s *session, query string) *socket {
	t.Helper()
	ws, res, err := dialBoard(t, srv, s, query)
	if err != nil {
		t.Fatalf("dial /ws/board?%s: %v (%v)", query, err, res)
	}
	return ws
}

// waitFor reads messages until one satisfies ok, failing after the deadline.
func (ws *socket) waitFor(what string, within time.Duration, ok func(string) bool) string {
	ws.t.Helper()
	deadline := time.After(within)
	for {
		select {
		case msg, open := <-ws.msgs:
			if !open {
				ws.t.Fatalf("the socket closed (%v) before %s", <-ws.err, what)
			}
			if ok(msg) {
				return msg
			}
		case <-deadline:
			ws.t.Fatalf("no message with %s within %s", what, within)
		}
	}
}

// rowWithStatus matches a pushed or snapshot row of d showing status s.
func rowWithStatus(d tracking.Departure, s tracking.Status) func(string) bool {
	re := regexp.MustCompile(`<tr id="dep-` + d.PublicID() + `" class="[^"]*-` + s.Slug() + `"`)
	return func(msg string) bool { return re.MatchString(msg) }
}

func isSnapshot(msg string) bool { return strings.HasPrefix(msg, `<div id="board-live"`) }

func TestBoardSocketGetsItsSnapshotThenAStatusChangeAsAFragment(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	st := srv.store(t)
	d := createDeparture(t, st, "Kazan", "D4", time.Hour)
	admin := httpLogin(t, srv.URL, "admin", adminPassword)

	ws := mustDial(t, srv, admin, "build=x")
	snap := ws.waitFor("the snapshot", 10*time.Second, isSnapshot)
	if !rowWithStatus(d, tracking.StatusPending)(snap) {
		t.Fatalf("the snapshot does not show the departure: %s", snap)
	}
	admin.changeStatus(d, tracking.StatusLoading)
	msg := ws.waitFor("the new status", 10*time.Second, rowWithStatus(d, tracking.StatusLoading))
	if isSnapshot(msg) || !strings.HasPrefix(msg, `<tr id="dep-`+d.PublicID()+`"`) {
		t.Fatalf("the change came as %q, want the row alone (an out-of-band swap)", msg)
	}
	if n := metric(t, srv.URL, "calipso_consume_to_socket_seconds_count"); n < 1 {
		t.Fatalf("calipso_consume_to_socket_seconds_count = %v after a change reached a socket", n)
	}
}

func TestBoardSocketRefusesAForeignOriginAndABadToken(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	admin := httpLogin(t, srv.URL, "admin", adminPassword)
	unknown, _ := tracking.NewScreenToken()

	d := websocket.Dialer{Jar: admin.http.Jar}
	_, res, err := d.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/board", http.Header{"Origin": {"http://evil.example"}})
	if !errors.Is(err, websocket.ErrBadHandshake) || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("foreign Origin: %v, %v", err, res)
	}
	_, res, err = dialBoard(t, srv, nil, "screen="+unknown)
	if !errors.Is(err, websocket.ErrBadHandshake) || res == nil || res.StatusCode != http.StatusForbidden {
		t.Fatalf("unknown token: %v, %v", err, res)
	}
}

func TestRevokingAScreenClosesItsSocketForGood(t *testing.T) {
	t.Parallel()
	srv := startServer(t, nil)
	st := srv.store(t)
	sc, token := registerScreen(t, st, tracking.DefaultScreenProfile())
	ws := mustDial(t, srv, nil, "screen="+token)
	ws.waitFor("the snapshot", 10*time.Second, isSnapshot)

	admin := httpLogin(t, srv.URL, "admin", adminPassword)
	admin.get("/admin/screens")
	if code, body := admin.post("/admin/screens/"+strconv.FormatInt(sc.ID, 10)+"/revoke", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("revoke: %d %s", code, body)
	}
	select {
	case <-ws.msgs:
		for range ws.msgs {
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the revoked screen's socket is still open")
	}
	var ce *websocket.CloseError
	if err := <-ws.err; !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("closed with %v, want 1008 (the page does not reconnect)", err)
	}
}

// screensOnline reads the calipso_screens_connected gauge of a server.
func screensOnline(t *testing.T, srv *server) int {
	t.Helper()
	return int(metric(t, srv.URL, "calipso_screens_connected"))
}

func TestABoardClientThatNeverReadsIsDropped(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"CALIPSO_WS_HEARTBEAT": "300ms"})
	_, token := registerScreen(t, srv.store(t), tracking.DefaultScreenProfile())
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http")+"/ws/board?screen="+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// It never reads, so it never answers a ping: the server cuts it after two heartbeats.
	waitFor(t, 10*time.Second, "the screen is counted", func() bool { return screensOnline(t, srv) == 1 })
	waitFor(t, 10*time.Second, "the silent screen is dropped", func() bool { return screensOnline(t, srv) == 0 })
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("the server did not close the connection")
			}
			break
		}
	}
}

func TestSocketsPerAddressAreLimited(t *testing.T) {
	t.Parallel()
	srv := startServer(t, map[string]string{"CALIPSO_WS_PER_IP": "2"})
	_, token := registerScreen(t, srv.store(t), tracking.DefaultScreenProfile())
	first := mustDial(t, srv, nil, "screen="+token)
	mustDial(t, srv, nil, "screen="+token)
	_, res, err := dialBoard(t, srv, nil, "screen="+token)
	if err == nil || res == nil || res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("third socket: %v, %v; want 429", err, res)
	}
	first.conn.Close()
	waitFor(t, 10*time.Second, "a closed socket frees its slot", func() bool {
		_, _, err := dialBoard(t, srv, nil, "screen="+token)
		return err == nil
	})
}

func TestTwoServersOnOnePostgresDatabaseUpdateEachOthersBoards(t *testing.T) {
	t.Parallel()
	// One database, one broker, one cache, as a deployment of several instances has.
	red := servicetest.RedisPrefix(t)
	env := map[string]string{"DATABASE_URL": servicetest.Postgres(t), "RABBITMQ_URL": servicetest.RabbitMQ(t).URL,
		"REDIS_URL": red.URL, "CALIPSO_REDIS_PREFIX": red.Prefix}
	a := startServer(t, env)
	b := startServer(t, env)
	st := a.store(t)
	d := createDeparture(t, st, "Tver", "D2", 2*time.Hour)
	p := tracking.DefaultScreenProfile()
	p.Name = "Hall B"
	sc, token := registerScreen(t, st, p)

	ws := mustDial(t, b, nil, "screen="+token)
	ws.waitFor("the snapshot", 10*time.Second, isSnapshot)
	// A dispatcher on server A; the screen on server B.
	dispatcher := httpLogin(t, a.URL, "admin", adminPassword)
	dispatcher.changeStatus(d, tracking.StatusLoading)
	ws.waitFor("the change made through the other server", 15*time.Second, rowWithStatus(d, tracking.StatusLoading))

	// A profile edited through A reaches the screen on B, which re-renders in Russian.
	dispatcher.get("/admin/screens/" + strconv.FormatInt(sc.ID, 10) + "/edit")
	form := url.Values{"name": {"Hall B"}, "docks": {""}, "destinations": {""}, "carriers": {""},
		"page_size": {"12"}, "rotate_seconds": {"10"}, "language": {"ru"}, "theme": {"dark"}, "remove_after": {"30"},
		"version": {strconv.FormatInt(sc.Version, 10)}}
	if code, body := dispatcher.post("/admin/screens/"+strconv.FormatInt(sc.ID, 10), form); code != http.StatusSeeOther {
		t.Fatalf("edit the profile: %d %s", code, body)
	}
	ws.waitFor("a snapshot in Russian", 15*time.Second, func(msg string) bool {
		return isSnapshot(msg) && strings.Contains(msg, `lang="ru"`) && strings.Contains(msg, "Погрузка")
	})
}
