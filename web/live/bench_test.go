package live

import (
	"strings"
	"testing"
	"time"

	"calipso/tracking"
)

// BenchmarkDiffOneChangeOnABoardOf200Rows is the hub's work per board for one event: the
// board's new content, the swaps, and the one row rendered.
func BenchmarkDiffOneChangeOnABoardOf200Rows(b *testing.B) {
	v := newView("a")
	bd := &board{view: v, rows: map[string]*row{}}
	render := func(d tracking.Departure) []byte {
		var sb strings.Builder
		v.Row(&sb, d)
		return []byte(sb.String())
	}
	next := map[string]tracking.Departure{}
	for i := range 200 {
		d := dep(int64(i+1), 1, i*5)
		next[d.PublicID()] = d
	}
	bd.diff(next, render)
	b.ResetTimer()
	for i := range b.N {
		next := bd.departures()
		d := dep(100, int64(i+2), 100*5+i%3) // a new version, sometimes moved
		next[d.PublicID()] = d
		if ops := bd.diff(next, render); len(ops) == 0 {
			b.Fatal("no swap")
		}
	}
}

// BenchmarkChangeToAHundredSockets is one event, from Publish to every one of 100 sockets on
// one board having read its swap.
func BenchmarkChangeToAHundredSockets(b *testing.B) {
	th := startHub(b, Config{Heartbeat: time.Hour})
	th.view(newView("a", dep(1, 1, 0)))
	conns := make([]*testConn, 100)
	for i := range conns {
		conns[i] = th.dial("a")
		if _, err := conns[i].read(10 * time.Second); err != nil { // the snapshot
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := range b.N {
		if err := th.hub.Publish(b.Context(), dep(1, int64(i+2), 0), time.Now()); err != nil {
			b.Fatal(err)
		}
		for _, c := range conns {
			if _, err := c.read(10 * time.Second); err != nil {
				b.Fatal(err)
			}
		}
	}
}
