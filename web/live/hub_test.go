package live

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"calipso/metrics"
	"calipso/tracking"
)

// t0 is the start of the test day; departures are scheduled relative to it.
var t0 = time.Date(2026, 12, 3, 8, 0, 0, 0, time.UTC)

func dep(id int64, version int64, minutes int) tracking.Departure {
	return tracking.Departure{ID: id, Version: version, Status: tracking.StatusPending,
		DepartureFields: tracking.DepartureFields{Destination: "Kazan", Dock: "D1", ScheduledAt: t0.Add(time.Duration(minutes) * time.Minute)}}
}

// testView is a board whose rows say which version they show, and which counts its renders.
type testView struct {
	key     string
	rev     int64
	kind    string
	pad     string                                         // bytes added to every row, to fill buffers
	match   func(d tracking.Departure, now time.Time) bool // nil: everything
	load    func(ctx context.Context, fresh bool) ([]tracking.Departure, error)
	renders *atomic.Int64
}

func newView(key string, ds ...tracking.Departure) *testView {
	return &testView{key: key, kind: KindScreen, renders: &atomic.Int64{},
		load: func(context.Context, bool) ([]tracking.Departure, error) { return ds, nil }}
}

func (v *testView) Key() string       { return v.key }
func (v *testView) Revision() int64   { return v.rev }
func (v *testView) Kind() string      { return v.kind }
func (v *testView) Name() string      { return "screen " + v.key }
func (v *testView) Container() string { return "rows" }
func (v *testView) Match(d tracking.Departure, now time.Time) bool {
	return v.match == nil || v.match(d, now)
}
func (v *testView) Less(a, b tracking.Departure) bool { return a.ScheduledAt.Before(b.ScheduledAt) }
func (v *testView) Row(w io.Writer, d tracking.Departure) error {
	v.renders.Add(1)
	_, err := fmt.Fprintf(w, `<tr id="%s" data-v="%d" data-rev="%d">%s</tr>`, RowID(d.PublicID()), d.Version, v.rev, v.pad)
	return err
}
func (v *testView) Snapshot(w io.Writer, s Snapshot) error {
	fmt.Fprintf(w, `<tbody id="rows" hx-swap-oob="true" data-rev="%d">`, v.rev)
	for _, r := range s.Rows {
		w.Write(r)
	}
	_, err := io.WriteString(w, `</tbody>`)
	return err
}
func (v *testView) Load(ctx context.Context, _ time.Time, fresh bool) ([]tracking.Departure, error) {
	return v.load(ctx, fresh)
}

// testHub runs a hub behind an httptest server whose sockets watch the view named by the
// "board" query parameter.
type testHub struct {
	t     testing.TB
	hub   *Hub
	srv   *httptest.Server
	views sync.Map // key → View
	stop  func()
}

func startHub(t testing.TB, cfg Config) *testHub {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	th := &testHub{t: t, hub: New(cfg)}
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	go func() {
		th.hub.Run(ctx)
		close(ran)
	}()
	up := websocket.Upgrader{}
	th.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, ok := th.views.Load(r.URL.Query().Get("board"))
		if !ok {
			http.Error(w, "no such board", http.StatusNotFound)
			return
		}
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		th.hub.Serve(conn, v.(View), ConnInfo{RemoteIP: r.RemoteAddr, Build: r.URL.Query().Get("build")})
	}))
	th.stop = func() {
		cancel()
		<-ran
		th.srv.Close()
	}
	t.Cleanup(th.stop)
	return th
}

func (th *testHub) view(v View) { th.views.Store(v.Key(), v) }

// testConn reads its socket on a goroutine of its own (a timed-out read would break a gorilla
// connection for good), so that tests can wait for a message, or for silence, with deadlines.
type testConn struct {
	t    testing.TB
	conn *websocket.Conn
	msgs chan string
	err  chan error // the read error that ended the connection
}

func (th *testHub) dial(board string) *testConn {
	th.t.Helper()
	c := th.dialSilent(board)
	c.msgs, c.err = make(chan string, 1024), make(chan error, 1)
	go func() {
		for {
			_, b, err := c.conn.ReadMessage()
			if err != nil {
				c.err <- err
				close(c.msgs)
				return
			}
			c.msgs <- string(b)
		}
	}()
	return c
}

// dialSilent connects and never reads: a client that answers no ping and takes no data.
func (th *testHub) dialSilent(board string) *testConn {
	th.t.Helper()
	url := "ws" + strings.TrimPrefix(th.srv.URL, "http") + "/?board=" + board + "&build=b1"
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		th.t.Fatalf("dial %s: %v", board, err)
	}
	th.t.Cleanup(func() { conn.Close() })
	return &testConn{t: th.t, conn: conn}
}

// next returns the next message that is not a heartbeat, failing after a deadline.
func (c *testConn) next() string {
	c.t.Helper()
	for {
		msg, err := c.read(5 * time.Second)
		if err != nil {
			c.t.Fatalf("read: %v", err)
		}
		if !strings.Contains(msg, `"heartbeat"`) {
			return msg
		}
	}
}

var errTimeout = errors.New("no message in time")

// read returns the next message, the error that closed the socket, or errTimeout.
func (c *testConn) read(within time.Duration) (string, error) {
	select {
	case msg, ok := <-c.msgs:
		if !ok {
			return "", <-c.err
		}
		return msg, nil
	case <-time.After(within):
		return "", errTimeout
	}
}

// quiet checks that nothing but heartbeats arrives for a while.
func (c *testConn) quiet(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for {
		msg, err := c.read(time.Until(deadline))
		if err == errTimeout {
			return
		}
		if err != nil || !strings.Contains(msg, `"heartbeat"`) {
			c.t.Fatalf("unexpected message %q (%v)", msg, err)
		}
	}
}

func publish(t *testing.T, h *Hub, d tracking.Departure) {
	t.Helper()
	if err := h.Publish(t.Context(), d, time.Now()); err != nil {
		t.Fatal(err)
	}
}

func versionsIn(msg string) []string {
	var out []string
	for _, m := range regexp.MustCompile(`id="dep-(DEP-\d+)" data-v="(\d+)"`).FindAllStringSubmatch(msg, -1) {
		out = append(out, m[1]+"@v"+m[2])
	}
	return out
}

func TestSnapshotComesBeforeTheLiveStream(t *testing.T) {
	th := startHub(t, Config{})
	release := make(chan struct{})
	v := newView("a")
	v.load = func(ctx context.Context, _ bool) ([]tracking.Departure, error) {
		select {
		case <-release:
		case <-ctx.Done():
		}
		return []tracking.Departure{dep(1, 1, 0)}, nil
	}
	th.view(v)
	c := th.dial("a")
	// While the board loads, a change arrives; it must show in the snapshot, not before it.
	publish(t, th.hub, dep(2, 1, 30))
	c.quiet(200 * time.Millisecond)
	close(release)
	snap := c.next()
	if !strings.Contains(snap, `id="rows" hx-swap-oob="true"`) {
		t.Fatalf("first message is not the snapshot: %q", snap)
	}
	if got := versionsIn(snap); !slices.Equal(got, []string{"DEP-000001@v1", "DEP-000002@v1"}) {
		t.Fatalf("snapshot shows %v", got)
	}
	publish(t, th.hub, dep(1, 2, 0))
	if got := versionsIn(c.next()); !slices.Equal(got, []string{"DEP-000001@v2"}) {
		t.Fatalf("live change %v", got)
	}
	// A socket that comes later gets the board as it is now, first.
	late := th.dial("a")
	if got := versionsIn(late.next()); !slices.Equal(got, []string{"DEP-000001@v2", "DEP-000002@v1"}) {
		t.Fatalf("late snapshot %v", got)
	}
}

func TestStaleVersionIsDropped(t *testing.T) {
	th := startHub(t, Config{})
	th.view(newView("a", dep(1, 1, 0)))
	c := th.dial("a")
	c.next() // snapshot
	publish(t, th.hub, dep(1, 3, 0))
	publish(t, th.hub, dep(1, 2, 0)) // older than what the board shows
	publish(t, th.hub, dep(1, 3, 0)) // a duplicate
	publish(t, th.hub, dep(1, 4, 0))
	for _, want := range []string{"DEP-000001@v3", "DEP-000001@v4"} {
		if got := versionsIn(c.next()); !slices.Equal(got, []string{want}) {
			t.Fatalf("got %v, want %s", got, want)
		}
	}
	if got := versionsIn(th.dial("a").next()); !slices.Equal(got, []string{"DEP-000001@v4"}) {
		t.Fatalf("snapshot %v", got)
	}
}

func TestAChangeIsRenderedOncePerBoardWhateverTheSockets(t *testing.T) {
	th := startHub(t, Config{})
	a, b := newView("a", dep(1, 1, 0)), newView("b", dep(1, 1, 0))
	th.view(a)
	th.view(b)
	var conns []*testConn
	for _, key := range []string{"a", "a", "a", "b", "b"} {
		c := th.dial(key)
		c.next() // snapshot
		conns = append(conns, c)
	}
	a.renders.Store(0)
	b.renders.Store(0)
	publish(t, th.hub, dep(2, 1, 60)) // a new departure, on both boards
	publish(t, th.hub, dep(1, 2, 0))  // a changed one
	for i, c := range conns {
		ins, repl := c.next(), c.next()
		if !strings.Contains(ins, `hx-swap-oob="beforeend:#rows"`) || !slices.Equal(versionsIn(ins), []string{"DEP-000002@v1"}) {
			t.Fatalf("socket %d: insert %q", i, ins)
		}
		if !slices.Equal(versionsIn(repl), []string{"DEP-000001@v2"}) {
			t.Fatalf("socket %d: replace %q", i, repl)
		}
	}
	if a.renders.Load() != 2 || b.renders.Load() != 2 {
		t.Fatalf("renders: a %d, b %d; want 2 each (one per change per board)", a.renders.Load(), b.renders.Load())
	}
}

func TestSlowSocketIsDroppedWithoutDelayingOthers(t *testing.T) {
	// A long write wait: if the hub waited for the slow socket, the fast one would starve.
	th := startHub(t, Config{SendBuffer: 8, WriteWait: time.Minute})
	v := newView("a")
	v.pad = strings.Repeat("x", 256<<10) // each row 256 KiB: the slow socket's TCP buffers fill fast
	th.view(v)
	slow, fast := th.dialSilent("a"), th.dial("a")
	fast.next()
	// Each change must reach the fast socket within next's deadline, far below the write wait
	// the slow socket would hold a blocking hub for.
	for i := range 60 {
		publish(t, th.hub, dep(1, int64(i+2), 0))
		if got := versionsIn(fast.next()); !slices.Equal(got, []string{fmt.Sprintf("DEP-000001@v%d", i+2)}) {
			t.Fatalf("change %d: the fast socket got %v", i, got)
		}
	}
	waitFor(t, func() bool { return len(th.hub.Connections()) == 1 }, "the slow socket is dropped")
	// The slow socket finds its connection closed once it reads what was buffered.
	slow.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		if _, _, err := slow.conn.ReadMessage(); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("the slow socket was not closed")
			}
			break
		}
	}
}

func TestSilentClientIsCutAfterTwoHeartbeats(t *testing.T) {
	th := startHub(t, Config{Heartbeat: 100 * time.Millisecond})
	th.view(newView("a"))
	// A client that never reads never answers pings.
	th.dialSilent("a")
	waitFor(t, func() bool { return len(th.hub.Connections()) == 1 }, "the socket registers")
	waitFor(t, func() bool { return len(th.hub.Connections()) == 0 }, "the silent socket is cut")
}

func TestHeartbeatsCarryTheBuild(t *testing.T) {
	th := startHub(t, Config{Heartbeat: 50 * time.Millisecond, Build: "build-7"})
	th.view(newView("a"))
	c := th.dial("a")
	c.next()
	msg, err := c.read(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var hb struct {
		Type, Build string
		Time        int64
	}
	if err := json.Unmarshal([]byte(msg), &hb); err != nil || hb.Type != "heartbeat" || hb.Build != "build-7" || hb.Time == 0 {
		t.Fatalf("heartbeat %q (%v)", msg, err)
	}
}

func TestResyncReloadsFreshAndSendsEverySocketASnapshot(t *testing.T) {
	th := startHub(t, Config{})
	var fresh atomic.Bool
	v := newView("a")
	v.load = func(_ context.Context, f bool) ([]tracking.Departure, error) {
		if f {
			fresh.Store(true)
			// Changes made while events were lost: one changed, one new.
			return []tracking.Departure{dep(1, 5, 0), dep(3, 1, 90)}, nil
		}
		return []tracking.Departure{dep(1, 1, 0)}, nil
	}
	th.view(v)
	c := th.dial("a")
	c.next()
	th.hub.Resync()
	snap := c.next()
	if !fresh.Load() || !strings.Contains(snap, `id="rows"`) {
		t.Fatalf("after a resync: fresh load %v, message %q", fresh.Load(), snap)
	}
	if got := versionsIn(snap); !slices.Equal(got, []string{"DEP-000001@v5", "DEP-000003@v1"}) {
		t.Fatalf("snapshot %v", got)
	}
}

func TestReconfiguredBoardRendersAnewAndResnapshots(t *testing.T) {
	th := startHub(t, Config{})
	th.view(newView("a", dep(1, 1, 0), dep(2, 1, 30)))
	c := th.dial("a")
	c.next()
	v2 := newView("a", dep(1, 1, 0), dep(2, 1, 30))
	v2.rev = 2
	v2.match = func(d tracking.Departure, _ time.Time) bool { return d.ID == 2 } // a narrower filter
	th.hub.Reconfigure(v2)
	snap := c.next()
	if !strings.Contains(snap, `data-rev="2"`) || !slices.Equal(versionsIn(snap), []string{"DEP-000002@v1"}) ||
		strings.Contains(snap, `data-rev="0"`) {
		t.Fatalf("snapshot after reconfigure %q", snap)
	}
	if v2.renders.Load() != 1 {
		t.Fatalf("%d renders, want 1 (the one row left)", v2.renders.Load())
	}
}

func TestDisconnectClosesForGood(t *testing.T) {
	th := startHub(t, Config{})
	th.view(newView("a"))
	c := th.dial("a")
	c.next()
	th.view(newView("b"))
	other := th.dial("b")
	other.next()
	th.hub.Disconnect(func(key string) bool { return key == "a" }, "revoked")
	_, err := c.read(5 * time.Second)
	var ce *websocket.CloseError
	if !asCloseError(err, &ce) || ce.Code != websocket.ClosePolicyViolation {
		t.Fatalf("close: %v, want 1008 (which the htmx extension does not reconnect after)", err)
	}
	other.quiet(100 * time.Millisecond) // another board's socket stays
}

func TestStoppingTheHubTellsPagesToReconnect(t *testing.T) {
	th := startHub(t, Config{})
	th.view(newView("a"))
	c := th.dial("a")
	c.next()
	th.stop()
	_, err := c.read(5 * time.Second)
	var ce *websocket.CloseError
	if !asCloseError(err, &ce) || ce.Code != websocket.CloseServiceRestart {
		t.Fatalf("close: %v, want 1012 (the htmx extension reconnects)", err)
	}
}

func asCloseError(err error, ce **websocket.CloseError) bool {
	e, ok := err.(*websocket.CloseError)
	*ce = e
	return ok
}

func TestSweepTakesOffFinishedDeparturesAfterTheirTime(t *testing.T) {
	var now atomic.Int64
	now.Store(t0.UnixNano())
	th := startHub(t, Config{Sweep: 20 * time.Millisecond, Now: func() time.Time { return time.Unix(0, now.Load()) }})
	arrived := dep(1, 2, 0)
	arrived.Status, arrived.UpdatedAt = tracking.StatusArrived, t0
	v := newView("a", arrived, dep(2, 1, 30))
	v.match = func(d tracking.Departure, at time.Time) bool {
		return !d.Status.Final() || at.Sub(d.UpdatedAt) < 30*time.Minute
	}
	th.view(v)
	c := th.dial("a")
	if got := versionsIn(c.next()); len(got) != 2 {
		t.Fatalf("snapshot %v", got)
	}
	now.Store(t0.Add(31 * time.Minute).UnixNano())
	if msg := c.next(); msg != `<tr id="dep-DEP-000001" hx-swap-oob="delete"></tr>` {
		t.Fatalf("got %q, want the arrived row deleted", msg)
	}
}

func TestConnectionsDescribeSocketsAndCommandsReachOne(t *testing.T) {
	m := metrics.New()
	th := startHub(t, Config{Metrics: m})
	th.view(newView("a"))
	list := newView("l")
	list.kind = KindList
	th.view(list)
	a, _ := th.dial("a"), th.dial("l")
	a.next()
	waitFor(t, func() bool { return len(th.hub.Connections()) == 2 }, "two sockets")
	conns := th.hub.Connections()
	if conns[0].ID > conns[1].ID {
		t.Fatalf("connections not oldest first: %+v", conns)
	}
	first := conns[0]
	if first.Kind == KindList {
		first = conns[1]
	}
	if first.Kind != KindScreen || first.Name != "screen a" || first.Build != "b1" || first.RemoteIP == "" ||
		first.ConnectedAt.IsZero() || first.LastSentAt.IsZero() {
		t.Fatalf("connection %+v", first)
	}
	if got := gaugeValue(t, m); got != 1 {
		t.Fatalf("screens gauge %v, want 1 (a list is not a screen)", got)
	}
	if !th.hub.Identify(first.ID) {
		t.Fatal("Identify did not find the socket")
	}
	if msg := a.next(); !strings.Contains(msg, `"type":"identify"`) || !strings.Contains(msg, `"name":"screen a"`) {
		t.Fatalf("identify message %q", msg)
	}
	if !th.hub.Reload(first.ID) || a.next() != `{"type":"reload"}` {
		t.Fatal("reload")
	}
	if th.hub.Reload(99999) {
		t.Fatal("Reload found a socket that does not exist")
	}
}

func gaugeValue(t *testing.T, m *metrics.Metrics) float64 {
	t.Helper()
	fams, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() == "calipso_screens_connected" {
			return f.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no screens gauge")
	return 0
}

func TestGoroutinesEndWhenSocketsClose(t *testing.T) {
	before := runtime.NumGoroutine()
	func() {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		hub := New(Config{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		ran := make(chan struct{})
		go func() {
			hub.Run(ctx)
			close(ran)
		}()
		v := newView("a", dep(1, 1, 0))
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			conn, err := (&websocket.Upgrader{}).Upgrade(w, r, nil)
			if err == nil {
				hub.Serve(conn, v, ConnInfo{})
			}
		}))
		defer srv.Close()
		url := "ws" + strings.TrimPrefix(srv.URL, "http")
		for round := range 3 {
			var conns []*websocket.Conn
			for range 20 {
				conn, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err != nil {
					t.Fatal(err)
				}
				conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, _, err := conn.ReadMessage(); err != nil { // the snapshot
					t.Fatal(err)
				}
				conns = append(conns, conn)
			}
			hub.Publish(ctx, dep(1, int64(round+2), 0), time.Now())
			for _, c := range conns {
				c.Close()
			}
			waitFor(t, func() bool { return len(hub.Connections()) == 0 }, "every socket unregistered")
		}
		cancel()
		<-ran
		srv.CloseClientConnections()
	}()
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before }, fmt.Sprintf("goroutines back to %d", before))
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// dom is a board as a browser holds it, changed by the hub's ops as htmx would.
type dom []string // rows' html

var (
	deleteRE = regexp.MustCompile(`^<tr id="([^"]+)" hx-swap-oob="delete"></tr>$`)
	insertRE = regexp.MustCompile(`^<tbody hx-swap-oob="(beforebegin|beforeend):#([^"]+)">(.*)</tbody>$`)
	rowIDRE  = regexp.MustCompile(`^<tr id="([^"]+)"`)
)

func (d dom) index(id string) int {
	for i, h := range d {
		if rowIDRE.FindStringSubmatch(h)[1] == id {
			return i
		}
	}
	return -1
}

func (d dom) apply(t *testing.T, o op) dom {
	s := string(o)
	if m := deleteRE.FindStringSubmatch(s); m != nil {
		i := d.index(m[1])
		if i < 0 {
			t.Fatalf("delete of a missing row: %s", s)
		}
		return slices.Delete(d, i, i+1)
	}
	if m := insertRE.FindStringSubmatch(s); m != nil {
		if d.index(rowIDRE.FindStringSubmatch(m[3])[1]) >= 0 {
			t.Fatalf("insert of a row already there: %s", s)
		}
		if m[1] == "beforeend" {
			return append(d, m[3])
		}
		i := d.index(m[2])
		if i < 0 {
			t.Fatalf("insert before a missing row: %s", s)
		}
		return slices.Insert(d, i, m[3])
	}
	i := d.index(rowIDRE.FindStringSubmatch(s)[1])
	if i < 0 {
		t.Fatalf("replace of a missing row: %s", s)
	}
	d[i] = s
	return d
}

func TestDiffOpsTurnAnyBoardIntoAnyOther(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	v := newView("a")
	for round := range 500 {
		b := &board{view: v, rows: map[string]*row{}}
		render := func(d tracking.Departure) []byte {
			var sb strings.Builder
			v.Row(&sb, d)
			return []byte(sb.String())
		}
		var shown dom
		versions := map[int64]int64{}
		for range 4 {
			next := map[string]tracking.Departure{}
			for id := int64(1); id <= 12; id++ {
				if rng.IntN(3) == 0 {
					continue
				}
				if rng.IntN(3) == 0 {
					versions[id]++
				}
				d := dep(id, versions[id], rng.IntN(6)*15) // few distinct times: ties and moves
				next[d.PublicID()] = d
			}
			for _, o := range b.diff(next, render) {
				shown = shown.apply(t, o)
			}
			var want dom
			for _, id := range b.order {
				want = append(want, string(render(next[id])))
			}
			if !slices.Equal(shown, want) {
				t.Fatalf("round %d: the page shows\n%v\nwant\n%v", round, shown, want)
			}
		}
	}
}
