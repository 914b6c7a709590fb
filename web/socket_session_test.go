package web_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"calipso/handlers"
	"calipso/web"
)

// dialList opens a dispatcher's live list socket with the client's cookies, and starts the
// session watcher the app runs beside the hub.
func dialList(t *testing.T, ta *testApp, c *client) *websocket.Conn {
	t.Helper()
	base := ta.listen()
	var cookies []string
	for k, v := range c.cookies {
		cookies = append(cookies, k+"="+v)
	}
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws/board?list=departures&date=" + url.QueryEscape(time.Now().Format(time.DateOnly))
	conn, res, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {base}, "Cookie": {strings.Join(cookies, "; ")}})
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial the live list: %v (%d)", err, status)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		handlers.WatchSessions(ctx, ta.hub, ta.store.Sessions(), ta.store, 50*time.Millisecond, slog.New(slog.NewTextHandler(io.Discard, nil)))
		close(done)
	}()
	t.Cleanup(func() { cancel(); <-done })
	return conn
}

// endedWithin waits for the socket to close, and checks it closed because the session ended.
func endedWithin(t *testing.T, conn *websocket.Conn, d time.Duration) {
	t.Helper()
	err := closedWithin(t, conn, d)
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.ClosePolicyViolation || ce.Text != handlers.SessionEnded {
		t.Fatalf("closed with %v, want 1008 %q", err, handlers.SessionEnded)
	}
}

func TestALiveListClosesWhenItsUserLogsOut(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	conn := dialList(t, ta, c)
	if res := c.post("/logout", url.Values{}); res.status != http.StatusSeeOther {
		t.Fatalf("logout: %d", res.status)
	}
	endedWithin(t, conn, 5*time.Second)
}

func TestALiveListClosesWhenItsUserIsDisabled(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	conn := dialList(t, ta, c)
	u, err := ta.store.UserByUsername(context.Background(), "dispatcher")
	if err != nil {
		t.Fatal(err)
	}
	if err := ta.store.SetDisabled(context.Background(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	endedWithin(t, conn, 5*time.Second)
}

func TestALiveListClosesWhenItsSessionTimesOut(t *testing.T) {
	ta := newTestAppWith(t, func(d *web.Deps) { d.Session.Idle = 300 * time.Millisecond })
	c := ta.loggedIn("dispatcher")
	conn := dialList(t, ta, c)
	endedWithin(t, conn, 5*time.Second)
}

func TestALiveListStaysOpenWhileItsSessionLives(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	conn := dialList(t, ta, c)
	conn.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if !errors.As(err, &ne) || !ne.Timeout() {
				t.Fatalf("the socket of a live session closed: %v", err)
			}
			return
		}
	}
}
