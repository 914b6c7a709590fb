package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"calipso/tracking"
)

// The live surfaces of the XSS walk (xssSurfaces): the wall board, and what the hub pushes to
// sockets, a board's and a dispatcher list's, as a snapshot and as single changed rows.

// screenToken is the link of a screen showing every departure, registered once, under a name
// an admin typed with markup in it.
func (x *xssFixture) screenToken(t *testing.T) string {
	if x.token == "" {
		p := tracking.DefaultScreenProfile()
		p.Name = `Hall <img src=x onerror=alert(1)>`
		_, x.token = x.ta.screen(p)
	}
	return x.token
}

// boardPage is the wall board of a screen showing every departure.
func (x *xssFixture) boardPage(t *testing.T) []string {
	return x.get(t, x.ta.client(), "/board?screen="+url.QueryEscape(x.screenToken(t)))
}

// screenSocket is what a wall screen's socket receives: its snapshot, then a pushed row for
// each departure as it changes.
func (x *xssFixture) screenSocket(t *testing.T) []string {
	return x.socketMessages(t, "/ws/board?screen="+url.QueryEscape(x.screenToken(t)), nil)
}

// listSocket is what a dispatcher's live list receives.
func (x *xssFixture) listSocket(t *testing.T) []string {
	return x.socketMessages(t, "/ws/board?list=departures&date=", x.dispatcher)
}

// socketMessages opens a socket at path (as c, when given), reads its snapshot, then saves
// every departure of the fixture anew and publishes it to the hub, and returns every message
// that carried a row of the fixture's departures.
func (x *xssFixture) socketMessages(t *testing.T, path string, c *client) []string {
	t.Helper()
	if x.base == "" {
		x.base = x.ta.listen()
	}
	header := http.Header{"Origin": {x.base}}
	if c != nil {
		var cookies []string
		for k, v := range c.cookies {
			cookies = append(cookies, k+"="+v)
		}
		header.Set("Cookie", strings.Join(cookies, "; "))
	}
	conn, res, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(x.base, "http")+path, header)
	if err != nil {
		status := 0
		if res != nil {
			status = res.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	defer conn.Close()

	var out []string
	// read returns the next message that shows the row of id.
	read := func(id string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			conn.SetReadDeadline(deadline)
			_, msg, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("%s: waiting for the row of %s: %v", path, id, err)
			}
			if strings.Contains(string(msg), `id="dep-`+id+`"`) {
				out = append(out, string(msg))
				return
			}
		}
	}
	read(x.ids[0]) // the snapshot holds every row
	for _, id := range x.ids {
		d := x.ta.departureByID(id)
		// Saved again as it is: a new version, so the hub pushes the row.
		d, err := x.ta.store.UpdateDeparture(context.Background(), d.ID, d.Version, d.DepartureFields, "test")
		if err != nil {
			t.Fatal(err)
		}
		if err := x.ta.hub.Publish(context.Background(), d, time.Now()); err != nil {
			t.Fatal(err)
		}
		read(id)
	}
	return out
}
