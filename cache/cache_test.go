package cache

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"calipso/internal/servicetest"
	"calipso/metrics"
	"calipso/store"
	"calipso/tracking"
)

func newCache(t *testing.T, url, prefix string) (*Cache, *metrics.Metrics) {
	t.Helper()
	m := metrics.New()
	c, err := New(Config{
		URL: url, Prefix: prefix, TTL: time.Minute, Metrics: m,
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, m
}

func testCache(t *testing.T) (*Cache, servicetest.Redis, *metrics.Metrics) {
	t.Helper()
	r := servicetest.RedisPrefix(t)
	c, m := newCache(t, r.URL, r.Prefix)
	return c, r, m
}

func requests(m *metrics.Metrics, result string) float64 {
	var d dto.Metric
	m.CacheRequests.WithLabelValues(result).(prometheus.Metric).Write(&d)
	return d.Counter.GetValue()
}

func departure(id int64, status tracking.Status, version int64) tracking.Departure {
	at := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	return tracking.Departure{ID: id, Status: status, Version: version, UpdatedAt: at,
		DepartureFields: tracking.DepartureFields{PONumber: fmt.Sprintf("PO-%d", id), Dock: "D1", ScheduledAt: at}}
}

// loader counts its calls and returns v.
func loader[T any](v T) (func(context.Context) (T, error), *atomic.Int64) {
	var n atomic.Int64
	return func(context.Context) (T, error) { n.Add(1); return v, nil }, &n
}

func exists(t *testing.T, r servicetest.Redis, key string) bool {
	t.Helper()
	n, err := r.Client.Exists(context.Background(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n == 1
}

func TestKeysHaveTheNamesOfTheDesign(t *testing.T) {
	c, _ := newCache(t, "redis://127.0.0.1:6379/0", "")
	for got, want := range map[string]string{
		c.DepartureKey("DEP-000123"):          "tracking:departure:DEP-000123",
		c.StatusKey(tracking.StatusInTransit): "tracking:departures:status:in_transit",
		c.StatusKey(tracking.StatusPending):   "tracking:departures:status:pending",
		c.ListsKey():                          "tracking:board:lists",
	} {
		if got != want {
			t.Errorf("key %q, want %q", got, want)
		}
	}
}

func TestAMissLoadsAndFillsWithATTLThenAReadHits(t *testing.T) {
	t.Parallel()
	c, r, m := testCache(t)
	want := departure(1, tracking.StatusLoading, 3)
	load, n := loader(want)
	for range 3 {
		got, err := c.Departure(t.Context(), 1, load)
		if err != nil || got.Version != 3 || got.PONumber != "PO-1" || !got.UpdatedAt.Equal(want.UpdatedAt) {
			t.Fatalf("Departure = %+v, %v", got, err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("loaded %d times, want once", n.Load())
	}
	if requests(m, "miss") != 1 || requests(m, "hit") != 2 {
		t.Fatalf("misses %v, hits %v; want 1 and 2", requests(m, "miss"), requests(m, "hit"))
	}
	ttl := r.Client.PTTL(t.Context(), c.DepartureKey("DEP-000001")).Val()
	if ttl <= 0 || ttl > time.Minute {
		t.Fatalf("TTL %v, want up to a minute", ttl)
	}
}

func TestHashesGetATTLOnceThatLaterFillsDoNotExtend(t *testing.T) {
	t.Parallel()
	c, r, _ := testCache(t)
	a, _ := loader([]tracking.Departure{departure(1, tracking.StatusPending, 1)})
	if _, err := c.Board(t.Context(), "dock=D1", a); err != nil {
		t.Fatal(err)
	}
	// Age the hash, as if it had been filled long ago.
	r.Client.PExpire(t.Context(), c.ListsKey(), 10*time.Second)
	if _, err := c.Board(t.Context(), "dock=D2", a); err != nil {
		t.Fatal(err)
	}
	if ttl := r.Client.PTTL(t.Context(), c.ListsKey()).Val(); ttl <= 0 || ttl > 10*time.Second {
		t.Fatalf("TTL of the boards %v, want the first fill's (≤ 10s)", ttl)
	}
	if n := r.Client.HLen(t.Context(), c.ListsKey()).Val(); n != 2 {
		t.Fatalf("%d boards cached, want 2", n)
	}
}

func TestConcurrentMissesLoadOnce(t *testing.T) {
	t.Parallel()
	c, _, _ := testCache(t)
	var n atomic.Int64
	release := make(chan struct{})
	load := func(context.Context) ([]tracking.Departure, error) {
		n.Add(1)
		<-release
		return []tracking.Departure{departure(1, tracking.StatusPending, 1)}, nil
	}
	const readers = 20
	var (
		wg      sync.WaitGroup
		arrived atomic.Int64
	)
	errs := make(chan error, readers)
	for range readers {
		wg.Go(func() {
			arrived.Add(1)
			got, err := c.Board(t.Context(), "all", load)
			if err == nil && len(got) != 1 {
				err = fmt.Errorf("got %d departures", len(got))
			}
			errs <- err
		})
	}
	// Hold the load until every reader has called Board, then a moment more for the last ones
	// to pass their (missing) Redis read and join the load in flight.
	deadline := time.Now().Add(10 * time.Second)
	for arrived.Load() < readers && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n.Load() != 1 {
		t.Fatalf("%d loads for %d concurrent misses, want 1", n.Load(), readers)
	}
}

func TestLoadErrorsAreReturnedAndNotCached(t *testing.T) {
	t.Parallel()
	c, r, _ := testCache(t)
	notFound := tracking.Errorf(tracking.ENOTFOUND, "No departure DEP-000009.")
	_, err := c.Departure(t.Context(), 9, func(context.Context) (tracking.Departure, error) {
		return tracking.Departure{}, notFound
	})
	if !errors.Is(err, notFound) {
		t.Fatalf("err = %v, want the load's", err)
	}
	if exists(t, r, c.DepartureKey("DEP-000009")) {
		t.Fatal("an error was cached")
	}
}

// roundTrips counts what the client sends: one per command or pipeline.
type roundTrips struct{ n atomic.Int64 }

func (h *roundTrips) DialHook(next redis.DialHook) redis.DialHook { return next }
func (h *roundTrips) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { h.n.Add(1); return next(ctx, cmd) }
}
func (h *roundTrips) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { h.n.Add(1); return next(ctx, cmds) }
}

func TestInvalidateDeletesTheDepartureItsStatusListsAndEveryBoardInOneRoundTrip(t *testing.T) {
	t.Parallel()
	c, r, _ := testCache(t)
	ctx := t.Context()
	fillAll := func() {
		t.Helper()
		for id := int64(1); id <= 2; id++ {
			l, _ := loader(departure(id, tracking.StatusLoading, 2))
			if _, err := c.Departure(ctx, id, l); err != nil {
				t.Fatal(err)
			}
		}
		list, _ := loader([]tracking.Departure{departure(1, tracking.StatusLoading, 2)})
		for _, st := range []tracking.Status{tracking.StatusPending, tracking.StatusLoading, tracking.StatusDelayed} {
			if _, err := c.List(ctx, tracking.DepartureFilter{Statuses: []tracking.Status{st}}, list); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.List(ctx, tracking.DepartureFilter{Docks: []string{"D1"}}, list); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Board(ctx, "dock=D1", list); err != nil {
			t.Fatal(err)
		}
	}
	fillAll()
	for _, k := range []string{c.StatusKey(tracking.StatusPending), c.StatusKey(tracking.StatusLoading), c.ListsKey()} {
		if !exists(t, r, k) {
			t.Fatalf("%s not filled", k)
		}
	}

	var trips roundTrips
	c.rdb.AddHook(&trips)
	if err := c.Invalidate(ctx, "DEP-000001", tracking.StatusPending, tracking.StatusLoading); err != nil {
		t.Fatal(err)
	}
	if trips.n.Load() != 1 {
		t.Errorf("Invalidate took %d round trips, want 1", trips.n.Load())
	}
	for k, want := range map[string]bool{
		c.DepartureKey("DEP-000001"):        false,
		c.StatusKey(tracking.StatusPending): false,
		c.StatusKey(tracking.StatusLoading): false,
		c.ListsKey():                        false,
		c.DepartureKey("DEP-000002"):        true, // another departure
		c.StatusKey(tracking.StatusDelayed): true, // a status the change did not touch
	} {
		if got := exists(t, r, k); got != want {
			t.Errorf("%s exists = %v, want %v", k, got, want)
		}
	}
}

func TestAFillDoesNotLandAfterAnInvalidationDuringItsLoad(t *testing.T) {
	t.Parallel()
	c, r, _ := testCache(t)
	stale := departure(1, tracking.StatusPending, 1)
	_, err := c.Departure(t.Context(), 1, func(ctx context.Context) (tracking.Departure, error) {
		// The change commits and its event is consumed while this load holds the old row.
		if err := c.Invalidate(ctx, "DEP-000001", tracking.StatusPending, tracking.StatusLoading); err != nil {
			return tracking.Departure{}, err
		}
		return stale, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if exists(t, r, c.DepartureKey("DEP-000001")) {
		t.Fatal("the stale load was cached after the invalidation")
	}
	// The next read fills it.
	fresh, _ := loader(departure(1, tracking.StatusLoading, 2))
	c.Departure(t.Context(), 1, fresh)
	if !exists(t, r, c.DepartureKey("DEP-000001")) {
		t.Fatal("not filled by the next read")
	}
}

// deadRedis is a URL where nothing answers.
func deadRedis(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "redis://" + addr + "/0"
}

func TestWithRedisUnreachableReadsComeFromTheLoaderWithoutError(t *testing.T) {
	t.Parallel()
	c, m := newCache(t, deadRedis(t), "x:")
	dep, nd := loader(departure(1, tracking.StatusLoading, 2))
	list, nl := loader([]tracking.Departure{departure(1, tracking.StatusLoading, 2)})
	for range 3 {
		if d, err := c.Departure(t.Context(), 1, dep); err != nil || d.Version != 2 {
			t.Fatalf("Departure = %+v, %v", d, err)
		}
		if b, err := c.Board(t.Context(), "all", list); err != nil || len(b) != 1 {
			t.Fatalf("Board = %v, %v", b, err)
		}
		if l, err := c.List(t.Context(), tracking.DepartureFilter{}, list); err != nil || len(l) != 1 {
			t.Fatalf("List = %v, %v", l, err)
		}
	}
	if nd.Load() != 3 || nl.Load() != 6 {
		t.Fatalf("loads %d and %d, want every read from the loader", nd.Load(), nl.Load())
	}
	if requests(m, "error") != 9 || requests(m, "hit") != 0 {
		t.Fatalf("errors %v, hits %v; want 9 and 0", requests(m, "error"), requests(m, "hit"))
	}
	if err := c.Invalidate(t.Context(), "DEP-000001"); err == nil {
		t.Fatal("Invalidate reported success without Redis")
	}
}

func TestDeparturesReadsThroughTheCacheAndSeesItsOwnWrites(t *testing.T) {
	t.Parallel()
	c, r, m := testCache(t)
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "calipso.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	deps := NewDepartures(c, st)
	ctx := t.Context()
	d, err := deps.CreateDeparture(ctx, tracking.DepartureFields{
		PONumber: "PO-1", Destination: "Lyon", Carrier: "DHL", Dock: "D1", ScheduledAt: time.Now().UTC(),
	}, "alice")
	if err != nil {
		t.Fatal(err)
	}
	pending := tracking.DepartureFilter{Statuses: []tracking.Status{tracking.StatusPending}}
	for range 2 {
		if got, err := deps.Departure(ctx, d.ID); err != nil || got.Version != 1 {
			t.Fatalf("Departure = %+v, %v", got, err)
		}
		if got, err := deps.Departures(ctx, pending); err != nil || len(got) != 1 {
			t.Fatalf("Departures = %v, %v", got, err)
		}
	}
	if requests(m, "hit") != 2 || !exists(t, r, c.DepartureKey(d.PublicID())) {
		t.Fatalf("hits %v, want the second reads from the cache", requests(m, "hit"))
	}

	if _, err := deps.ChangeStatus(ctx, d.ID, 1, tracking.StatusLoading, "", "bob"); err != nil {
		t.Fatal(err)
	}
	if got, err := deps.Departure(ctx, d.ID); err != nil || got.Version != 2 || got.Status != tracking.StatusLoading {
		t.Fatalf("after the change: %+v, %v", got, err)
	}
	if got, _ := deps.Departures(ctx, pending); len(got) != 0 {
		t.Fatalf("pending list after the change: %v", ids(got))
	}
	if h, err := deps.History(ctx, d.ID); err != nil || len(h) != 2 {
		t.Fatalf("History = %v, %v", h, err)
	}
}

func ids(ds []tracking.Departure) []int64 {
	var out []int64
	for _, d := range ds {
		out = append(out, d.ID)
	}
	return out
}
