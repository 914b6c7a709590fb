package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"sync"
	"time"

	"calipso/demo"
	"calipso/handlers"
	"calipso/messaging"
	"calipso/metrics"
	"calipso/store"
	"calipso/tracking"
	"calipso/web"
	"calipso/web/live"
)

// liveConfig holds the settings of the live board (serve only).
type liveConfig struct {
	// Heartbeat is how often every socket hears from the server; a page that hears nothing for
	// twice as long shows its data as out of date, and the server cuts a socket as silent.
	Heartbeat time.Duration
	// SocketsPerIP bounds the WebSockets one address may hold open.
	SocketsPerIP int
	// Simulate moves the demo departures along (with --demo), so that a newcomer sees the
	// board live.
	Simulate bool

	errs []error
}

// screenSyncInterval is how often an instance re-reads the screen profiles, so that a change
// made on another instance reaches the screens connected here.
const screenSyncInterval = 3 * time.Second

// sessionCheckInterval bounds how long a user's socket outlives the end of its session
// (logout, timeout, a disabled user), on any instance.
const sessionCheckInterval = 5 * time.Second

func (c *liveConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	env := envFlags{fs, getenv, &c.errs}
	env.duration(&c.Heartbeat, "ws-heartbeat", "CALIPSO_WS_HEARTBEAT", live.DefaultHeartbeat, 100*time.Millisecond,
		"interval of the heartbeat every board socket gets; pages show data older than twice this as stale")
	env.integer(&c.SocketsPerIP, "ws-per-ip", "CALIPSO_WS_PER_IP", handlers.DefaultSocketsPerIP, 1,
		"board WebSockets one address may hold open")
	fs.BoolVar(&c.Simulate, "simulate", false, "with --demo: keep moving the demo departures through their statuses")
}

// startLive starts the board hub, fed by the broker's live feed of this instance, and the
// watcher that keeps connected screens in step with their profiles. stop ends both; call it
// after the web server has shut down.
func startLive(ctx context.Context, cfg liveConfig, st *store.Store, cache handlers.BoardCache, site handlers.Site,
	broker *messaging.Supervisor, m *metrics.Metrics, log *slog.Logger) (board *web.BoardDeps, stop func(), err error) {
	if len(cfg.errs) > 0 {
		return nil, nil, cfg.errs[0]
	}
	hub := live.New(live.Config{Build: site.Build, Heartbeat: cfg.Heartbeat, Metrics: m, Log: log.With("component", "hub")})
	boards := &handlers.Boards{Site: site, Departures: st, Screens: st, Cache: cache, Heartbeat: hub.Heartbeat()}
	// The hub stops with the signal, telling every page to reconnect (to this instance once it
	// is back, or to another).
	lctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { hub.Run(lctx) })
	wg.Go(func() { handlers.WatchScreens(lctx, boards, hub, screenSyncInterval, log) })
	wg.Go(func() { handlers.WatchSessions(lctx, hub, st.Sessions(), st, sessionCheckInterval, log) })
	if cfg.Simulate {
		wg.Go(func() { demo.Simulate(lctx, st, site.Loc, demo.SimulateEvery, log) })
	}
	// Events published while this instance was away from the broker never reach its queue:
	// every (re)subscription reloads the boards and re-sends every screen a snapshot.
	broker.Live(func(ctx context.Context, ev messaging.Event) { feed(ctx, hub, st, ev, log) }, hub.Resync)
	return &web.BoardDeps{Boards: boards, Hub: hub, Limits: handlers.SocketLimits{PerIP: cfg.SocketsPerIP}},
		func() { cancel(); wg.Wait() }, nil
}

// feed hands an event's departure to the hub. An event without the departure's snapshot (a
// publisher that speaks only the original contract) is completed from the database.
func feed(ctx context.Context, hub *live.Hub, st *store.Store, ev messaging.Event, log *slog.Logger) {
	consumed := time.Now()
	d := ev.Departure
	if d == nil || ev.Version == 0 {
		id, err := tracking.ParseID(ev.DepartureID)
		if err != nil {
			log.Warn("live: event for a malformed departure id", "departure", ev.DepartureID, "message_id", ev.MessageID)
			return
		}
		got, err := st.Departure(ctx, id)
		if err != nil {
			log.Warn("live: cannot read the departure of an event", "departure", ev.DepartureID, "err", err)
			return
		}
		d = &got
	}
	// During shutdown the hub stops before the broker: the events left are no one's concern.
	if err := hub.Publish(ctx, *d, consumed); err != nil && ctx.Err() == nil && !errors.Is(err, live.ErrStopped) {
		log.Warn("live: hub refused an event", "departure", ev.DepartureID, "err", err)
	}
}
