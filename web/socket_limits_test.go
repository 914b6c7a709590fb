package web_test

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"calipso/handlers"
	"calipso/tracking"
	"calipso/web"
)

// dialBoard opens a wall screen's socket on the app served at base.
func dialBoard(t *testing.T, base, token string) (*websocket.Conn, int, error) {
	t.Helper()
	u := "ws" + strings.TrimPrefix(base, "http") + "/ws/board?screen=" + url.QueryEscape(token)
	conn, res, err := websocket.DefaultDialer.Dial(u, http.Header{"Origin": {base}})
	status := 0
	if res != nil {
		status = res.StatusCode
	}
	if conn != nil {
		t.Cleanup(func() { conn.Close() })
	}
	return conn, status, err
}

// closedWithin reads from conn until it fails, and returns that error; it fails the test if
// the socket is still open after d.
func closedWithin(t *testing.T, conn *websocket.Conn, d time.Duration) error {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(d))
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				t.Fatalf("the socket is still open after %s", d)
			}
			return err
		}
	}
}

func TestASocketThatSendsMoreThanTheReadLimitIsClosed(t *testing.T) {
	ta := newTestApp(t)
	_, token := ta.screen(tracking.DefaultScreenProfile())
	conn, status, err := dialBoard(t, ta.listen(), token)
	if err != nil {
		t.Fatalf("dial: %v (%d)", err, status)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte(strings.Repeat("x", 64<<10))); err != nil {
		// The server cut the connection before the whole message was written: that is the
		// refusal this test looks for, seen from the writing side.
		return
	}
	err = closedWithin(t, conn, 5*time.Second)
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseMessageTooBig {
		t.Fatalf("closed with %d, want 1009 (message too big) or a cut connection", ce.Code)
	}
}

func TestSocketsPerAddressAreLimited(t *testing.T) {
	ta := newTestAppWith(t, func(d *web.Deps) { d.Board.Limits = handlers.SocketLimits{PerIP: 2} })
	_, token := ta.screen(tracking.DefaultScreenProfile())
	base := ta.listen()
	first, _, err := dialBoard(t, base, token)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := dialBoard(t, base, token); err != nil {
		t.Fatal(err)
	}
	if _, status, err := dialBoard(t, base, token); err == nil || status != http.StatusTooManyRequests {
		t.Fatalf("a third socket from one address: %v (status %d), want 429", err, status)
	}
	first.Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, _, err := dialBoard(t, base, token)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed socket's slot was not given back: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
