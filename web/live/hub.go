package live

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"calipso/metrics"
	"calipso/tracking"
)

// Timing. A page that hears nothing (no change, no heartbeat) for twice the heartbeat
// interval shows its data as out of date and reconnects; the hub cuts a socket that answers
// no ping for as long.
const (
	// DefaultHeartbeat is how often every socket gets a heartbeat message and a ping.
	DefaultHeartbeat = 10 * time.Second
	// pongWaitFactor is how many heartbeat intervals a socket may stay silent.
	pongWaitFactor = 2
	// writeWait bounds one write to a socket.
	writeWait = 10 * time.Second
	// DefaultSweep is how often boards drop the departures whose time has passed (Arrived and
	// Cancelled ones after the profile's minutes).
	DefaultSweep = 15 * time.Second
	// DefaultRefresh is how often each board is reloaded, to take in departures that enter its
	// time window without any event.
	DefaultRefresh = 5 * time.Minute
	// loadTimeout bounds one board load; loadRetryMax caps the wait between failed loads.
	loadTimeout  = 30 * time.Second
	loadRetryMax = 30 * time.Second
	// latestTTL is how long the hub remembers a departure it has heard of, to refuse older
	// versions of it and to place it on boards that open later.
	latestTTL = 48 * time.Hour
)

type timing struct {
	heartbeat time.Duration
	writeWait time.Duration
}

func (t timing) pongWait() time.Duration { return pongWaitFactor * t.heartbeat }

// Config configures a Hub. Zero values take the defaults.
type Config struct {
	// Build is the server's build, sent with every heartbeat: a page rendered by another
	// build reloads itself.
	Build     string
	Heartbeat time.Duration
	Sweep     time.Duration
	Refresh   time.Duration
	// SendBuffer is how many messages may wait for a socket before it is dropped as too slow.
	SendBuffer int
	// WriteWait bounds one write (tests shorten it).
	WriteWait time.Duration
	Metrics   *metrics.Metrics // nil: no metrics
	Log       *slog.Logger
	Now       func() time.Time // tests move time
}

// Hub owns every socket of this instance. Create it with New, run it with Run, and hand it
// sockets with Serve and changes with Publish.
type Hub struct {
	cfg    Config
	t      timing
	log    *slog.Logger
	now    func() time.Time
	nextID atomic.Uint64

	register   chan *client
	unregister chan *client
	changes    chan change
	loaded     chan loadResult
	calls      chan func()
	done       chan struct{} // closed when Run has returned
	loaders    sync.WaitGroup

	// Owned by Run's goroutine.
	ctx     context.Context
	boards  map[string]*board
	clients map[*client]struct{}
	// latest is the newest version of every departure heard of recently, from events and
	// loads: a board's content is what of it matches the board's view.
	latest  map[string]known
	loadSeq int
}

type known struct {
	d  tracking.Departure
	at time.Time // when it was learned, for forgetting
}

type change struct {
	d          tracking.Departure
	consumedAt time.Time
}

type loadResult struct {
	key   string
	seq   int
	fresh bool
	ds    []tracking.Departure
	err   error
}

// ErrStopped is returned to callers of a hub whose Run has returned.
var ErrStopped = errors.New("live: hub stopped")

// New creates a hub; it does nothing until Run.
func New(cfg Config) *Hub {
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.Sweep <= 0 {
		cfg.Sweep = DefaultSweep
	}
	if cfg.Refresh <= 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.SendBuffer <= 0 {
		cfg.SendBuffer = sendBufferDefault
	}
	if cfg.WriteWait <= 0 {
		cfg.WriteWait = writeWait
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Hub{
		cfg:        cfg,
		t:          timing{heartbeat: cfg.Heartbeat, writeWait: cfg.WriteWait},
		log:        cfg.Log,
		now:        cfg.Now,
		register:   make(chan *client),
		unregister: make(chan *client),
		changes:    make(chan change, 256),
		loaded:     make(chan loadResult),
		calls:      make(chan func()),
		done:       make(chan struct{}),
		boards:     map[string]*board{},
		clients:    map[*client]struct{}{},
		latest:     map[string]known{},
	}
}

// Heartbeat is the interval of heartbeats; pages treat twice as long without a message as a
// lost connection.
func (h *Hub) Heartbeat() time.Duration { return h.cfg.Heartbeat }

// Run is the hub's goroutine. It returns when ctx ends, after telling every socket that the
// server restarts (so pages reconnect) and after its loads have ended.
func (h *Hub) Run(ctx context.Context) {
	h.ctx = ctx
	heartbeat := time.NewTicker(h.cfg.Heartbeat)
	sweep := time.NewTicker(h.cfg.Sweep)
	refresh := time.NewTicker(h.cfg.Refresh)
	defer func() {
		heartbeat.Stop()
		sweep.Stop()
		refresh.Stop()
		for c := range h.clients {
			h.detach(c, closeRestart, "server restarting", false)
		}
		close(h.done)
		h.loaders.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-h.register:
			h.add(c)
		case c := <-h.unregister:
			if !c.closed {
				h.detach(c, 0, "", false)
			}
		case ch := <-h.changes:
			h.apply(ch)
		case r := <-h.loaded:
			h.install(r)
		case f := <-h.calls:
			f()
		case <-heartbeat.C:
			h.heartbeat()
		case <-sweep.C:
			h.sweep()
		case <-refresh.C:
			for _, b := range h.boards {
				if !b.loading {
					h.load(b, false, false)
				}
			}
		}
	}
}

// Serve runs one upgraded socket until it closes: it registers the socket with its view,
// starts its write pump, and reads (pongs) on the calling goroutine, which for a Fiber
// handler is the hijacked connection's, kept alive for the socket's life.
func (h *Hub) Serve(conn *websocket.Conn, view View, info ConnInfo) {
	c := &client{
		id: h.nextID.Add(1), conn: conn, send: make(chan *websocket.PreparedMessage, h.cfg.SendBuffer),
		view: view, info: info, connectedAt: h.now(),
	}
	written := make(chan struct{})
	go func() {
		defer close(written)
		c.writePump(h.t)
	}()
	select {
	case h.register <- c:
		c.readPump(h.t)
		select {
		case h.unregister <- c:
		case <-h.done:
		}
	case <-h.done:
		close(c.send) // the hub never saw it
	}
	conn.Close()
	<-written
}

// Publish hands the hub a changed departure (from an event), consumed at consumedAt. It
// blocks while the hub is busy, until ctx ends.
func (h *Hub) Publish(ctx context.Context, d tracking.Departure, consumedAt time.Time) error {
	select {
	case h.changes <- change{d: d, consumedAt: consumedAt}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-h.done:
		return ErrStopped
	}
}

// Resync forgets what the hub has heard and reloads every board from the system of record,
// then sends every socket a fresh snapshot. Call it whenever events may have been lost: after
// the instance's live queue was (re)subscribed.
func (h *Hub) Resync() {
	h.call(func() {
		h.latest = map[string]known{}
		for _, b := range h.boards {
			h.load(b, true, true)
		}
	})
}

// Reconfigure gives the board of view.Key() its new settings (a changed screen profile), if
// the board exists and view is newer, and re-sends its sockets a snapshot.
func (h *Hub) Reconfigure(view View) {
	h.call(func() {
		b := h.boards[view.Key()]
		if b == nil || view.Revision() <= b.view.Revision() {
			return
		}
		h.reconfigure(b, view)
	})
}

// Disconnect closes for good every socket of the boards whose key matches (a revoked screen,
// or one whose link was replaced): pages do not reconnect after this close code.
func (h *Hub) Disconnect(match func(key string) bool, reason string) {
	h.call(func() {
		for key, b := range h.boards {
			if !match(key) {
				continue
			}
			for c := range b.clients {
				h.detach(c, closeRevoked, reason, false)
			}
		}
	})
}

// End closes one socket for good, telling its page why (a logged-in user's session ended):
// the page does not reconnect after this close code, but reloads, and so meets the login
// page. It reports whether the socket was found.
func (h *Hub) End(id uint64, reason string) bool {
	reply := make(chan bool, 1)
	ok := h.call(func() {
		for c := range h.clients {
			if c.id == id {
				h.detach(c, closeRevoked, reason, false)
				reply <- true
				return
			}
		}
		reply <- false
	})
	return ok && <-reply
}

// Connections describes every open socket, oldest first.
func (h *Hub) Connections() []Connection {
	reply := make(chan []Connection, 1)
	if !h.call(func() { reply <- h.connections() }) {
		return nil
	}
	return <-reply
}

// Reload tells one socket's page to reload itself. It reports whether the socket was found.
func (h *Hub) Reload(id uint64) bool {
	return h.command(id, func(c *client) any { return map[string]any{"type": "reload"} })
}

// Identify tells one socket's page to show its name and connection id large for a while, so
// that someone in the hall can tell which screen is which.
func (h *Hub) Identify(id uint64) bool {
	return h.command(id, func(c *client) any {
		return map[string]any{"type": "identify", "id": c.id, "name": c.board.view.Name()}
	})
}

func (h *Hub) command(id uint64, msg func(*client) any) bool {
	reply := make(chan bool, 1)
	ok := h.call(func() {
		for c := range h.clients {
			if c.id == id && c.ready {
				reply <- h.sendTo(c, h.control(msg(c)))
				return
			}
		}
		reply <- false
	})
	return ok && <-reply
}

// call runs f on the hub's goroutine; false when the hub has stopped.
func (h *Hub) call(f func()) bool {
	select {
	case h.calls <- f:
		return true
	case <-h.done:
		return false
	}
}

func (h *Hub) add(c *client) {
	h.clients[c] = struct{}{}
	h.online(c, 1)
	key := c.view.Key()
	b := h.boards[key]
	switch {
	case b == nil:
		b = &board{key: key, view: c.view, clients: map[*client]struct{}{}, rows: map[string]*row{}}
		h.boards[key] = b
		h.load(b, false, false)
	case c.view.Revision() > b.view.Revision():
		h.reconfigure(b, c.view)
	}
	b.clients[c] = struct{}{}
	c.board = b
	if b.ready {
		h.sendSnapshot(b, c)
	}
}

func (h *Hub) reconfigure(b *board, view View) {
	b.view = view
	// Every row renders anew with the new settings (a language, say) when the load arrives;
	// until then the sockets keep what they show.
	b.rerender = true
	h.load(b, true, false)
}

// detach removes c from the hub and closes its send channel. code is the close frame the
// write pump sends (0 for none); cut closes the connection at once, for a socket too slow to
// take even a close frame.
func (h *Hub) detach(c *client, code int, text string, cut bool) {
	delete(h.clients, c)
	if b := c.board; b != nil {
		delete(b.clients, c)
		if len(b.clients) == 0 {
			delete(h.boards, b.key) // a load still running for it is ignored when it returns
		}
	}
	h.online(c, -1)
	c.closed, c.closeCode, c.closeText = true, code, text
	close(c.send)
	if cut {
		c.conn.Close()
	}
}

// sendTo queues msg for c without ever blocking the hub: a socket whose buffer is full is
// dropped, and its page reconnects and gets a fresh snapshot.
func (h *Hub) sendTo(c *client, msg *websocket.PreparedMessage) bool {
	select {
	case c.send <- msg:
		return true
	default:
		h.log.Warn("live: dropping a socket too slow to keep up", "conn", c.id, "board", c.board.key, "ip", c.info.RemoteIP)
		h.detach(c, 0, "", true)
		return false
	}
}

func (h *Hub) sendSnapshot(b *board, c *client) {
	if b.snapshot == nil {
		s := Snapshot{At: h.now(), Rows: make([][]byte, len(b.order))}
		for i, id := range b.order {
			s.Rows[i] = b.rows[id].html
		}
		var buf bytes.Buffer
		if err := b.view.Snapshot(&buf, s); err != nil {
			h.log.Error("live: render snapshot", "board", b.key, "err", err)
		}
		b.snapshot = prepare(buf.Bytes())
	}
	if h.sendTo(c, b.snapshot) {
		c.ready = true
	}
}

// broadcast sends each op to every ready socket of b; it reports whether any got them.
func (h *Hub) broadcast(b *board, ops []op) bool {
	sent := false
	for _, o := range ops {
		msg := prepare(o)
		for c := range b.clients {
			if c.ready && h.sendTo(c, msg) {
				sent = true
			}
		}
	}
	return sent
}

func (h *Hub) apply(ch change) {
	id := ch.d.PublicID()
	if k, ok := h.latest[id]; ok && k.d.Version >= ch.d.Version {
		return // a duplicate, or older than what boards show
	}
	h.latest[id] = known{d: ch.d, at: h.now()}
	// ConsumeToSocket is observed once per change that reached any socket, when its swaps are
	// queued to the sockets' write pumps (which write them at once unless a socket is slow).
	if h.propagate([]tracking.Departure{ch.d}, nil) && h.cfg.Metrics != nil && !ch.consumedAt.IsZero() {
		h.cfg.Metrics.ConsumeToSocket.Observe(time.Since(ch.consumedAt).Seconds())
	}
}

// propagate applies newer versions of departures to every ready board but except, and sends
// the resulting swaps. It reports whether any socket got one.
func (h *Hub) propagate(ds []tracking.Departure, except *board) bool {
	now := h.now()
	sent := false
	for _, b := range h.boards {
		if !b.ready || b == except {
			continue
		}
		next := b.departures()
		changed := false
		for _, d := range ds {
			id := d.PublicID()
			cur, on := next[id]
			if on && cur.Version >= d.Version {
				continue
			}
			if b.view.Match(d, now) {
				next[id], changed = d, true
			} else if on {
				delete(next, id)
				changed = true
			}
		}
		if changed && h.broadcast(b, b.diff(next, h.renderer(b))) {
			sent = true
		}
	}
	return sent
}

func (h *Hub) renderer(b *board) func(tracking.Departure) []byte {
	return func(d tracking.Departure) []byte {
		var buf bytes.Buffer
		if err := b.view.Row(&buf, d); err != nil {
			h.log.Error("live: render row", "board", b.key, "departure", d.PublicID(), "err", err)
		}
		return buf.Bytes()
	}
}

// load reads b's departures on a goroutine of its own; the result comes back to Run.
func (h *Hub) load(b *board, resnap, fresh bool) {
	h.loadSeq++
	b.loadSeq, b.loading = h.loadSeq, true
	b.resnap = b.resnap || resnap
	view, key, seq, now, ctx := b.view, b.key, b.loadSeq, h.now(), h.ctx
	h.loaders.Add(1)
	go func() {
		defer h.loaders.Done()
		lctx, cancel := context.WithTimeout(ctx, loadTimeout)
		ds, err := view.Load(lctx, now, fresh)
		cancel()
		select {
		case h.loaded <- loadResult{key: key, seq: seq, fresh: fresh, ds: ds, err: err}:
		case <-ctx.Done():
		}
	}()
}

func (h *Hub) install(r loadResult) {
	b := h.boards[r.key]
	if b == nil || b.loadSeq != r.seq {
		return
	}
	b.loading = false
	if r.err != nil {
		b.failures++
		delay := min(time.Second<<min(b.failures-1, 5), loadRetryMax)
		h.log.Warn("live: board load failed; retrying", "board", b.key, "in", delay, "err", r.err)
		seq := b.loadSeq
		time.AfterFunc(delay, func() {
			h.call(func() {
				if h.boards[r.key] == b && !b.loading && b.loadSeq == seq {
					h.load(b, false, r.fresh)
				}
			})
		})
		return
	}
	b.failures = 0
	now := h.now()
	var learned []tracking.Departure
	for _, d := range r.ds {
		id := d.PublicID()
		if k, ok := h.latest[id]; ok && k.d.Version >= d.Version {
			continue
		}
		h.latest[id] = known{d: d, at: now}
		learned = append(learned, d)
	}
	// What this load taught (a version no event brought yet) reaches the other boards now;
	// otherwise the event, when it comes, would be refused as a duplicate.
	if len(learned) > 0 {
		h.propagate(learned, b)
	}
	next := map[string]tracking.Departure{}
	for id, k := range h.latest {
		if b.view.Match(k.d, now) {
			next[id] = k.d
		}
	}
	if b.rerender {
		b.rows, b.order, b.rerender = map[string]*row{}, nil, false
	}
	ops := b.diff(next, h.renderer(b))
	if !b.ready || b.resnap {
		b.ready, b.resnap, b.snapshot = true, false, nil
		for c := range b.clients {
			h.sendSnapshot(b, c)
		}
		return
	}
	h.broadcast(b, ops)
}

// sweep takes off every board what no longer belongs there by time, puts on what now does,
// and forgets departures heard of long ago.
func (h *Hub) sweep() {
	now := h.now()
	for id, k := range h.latest {
		if now.Sub(k.at) > latestTTL {
			delete(h.latest, id)
		}
	}
	for _, b := range h.boards {
		if !b.ready {
			continue
		}
		next := map[string]tracking.Departure{}
		for id, r := range b.rows {
			if _, ok := h.latest[id]; !ok && b.view.Match(r.d, now) {
				next[id] = r.d
			}
		}
		for id, k := range h.latest {
			if b.view.Match(k.d, now) {
				next[id] = k.d
			}
		}
		h.broadcast(b, b.diff(next, h.renderer(b)))
	}
}

func (h *Hub) heartbeat() {
	msg := h.control(map[string]any{"type": "heartbeat", "build": h.cfg.Build, "time": h.now().UnixMilli()})
	for c := range h.clients {
		if c.ready {
			h.sendTo(c, msg)
		}
	}
}

// control encodes a message for the page's script (board.js), which takes JSON messages off
// htmx's hands.
func (h *Hub) control(v any) *websocket.PreparedMessage {
	b, err := json.Marshal(v)
	if err != nil {
		h.log.Error("live: encode control message", "err", err)
	}
	return prepare(b)
}

func (h *Hub) connections() []Connection {
	out := make([]Connection, 0, len(h.clients))
	for c := range h.clients {
		conn := Connection{
			ID: c.id, Kind: c.board.view.Kind(), Board: c.board.key, Name: c.board.view.Name(),
			RemoteIP: c.info.RemoteIP, Build: c.info.Build, ConnectedAt: c.connectedAt, Login: c.info.Login,
		}
		if ns := c.lastSent.Load(); ns != 0 {
			conn.LastSentAt = time.Unix(0, ns)
		}
		out = append(out, conn)
	}
	// Oldest first; ids grow with time.
	slices.SortFunc(out, func(a, b Connection) int { return cmp.Compare(a.ID, b.ID) })
	return out
}

// online keeps the screens gauge: every socket but a dispatcher's list counts as a screen.
func (h *Hub) online(c *client, delta float64) {
	if h.cfg.Metrics != nil && c.view.Kind() != KindList {
		h.cfg.Metrics.ScreensOnline.Add(delta)
	}
}

// View kinds.
const (
	KindScreen = "screen"
	KindBoard  = "board"
	KindList   = "list"
)

func prepare(data []byte) *websocket.PreparedMessage {
	// NewPreparedMessage fails only for an invalid message type.
	pm, _ := websocket.NewPreparedMessage(websocket.TextMessage, data)
	return pm
}
