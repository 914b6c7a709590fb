package cache

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"calipso/internal/servicetest"
	"calipso/metrics"
	"calipso/store"
	"calipso/tracking"
)

// BenchmarkBoardRead reads a board of 100 departures straight from the database (the
// baseline: what every read costs while Redis is down), on SQLite and on PostgreSQL, and
// through the cache on a hit. Compare the sub-benchmarks of one run:
// `make bench BENCH=BoardRead PKG=./cache`.
func BenchmarkBoardRead(b *testing.B) {
	for _, db := range []struct{ name, url string }{
		{"sqlite", "sqlite:" + filepath.Join(b.TempDir(), "calipso.db")},
		{"postgres", servicetest.Postgres(b)},
	} {
		b.Run(db.name, func(b *testing.B) { benchmarkBoardRead(b, db.url) })
	}
}

func benchmarkBoardRead(b *testing.B, url string) {
	ctx := context.Background()
	st, err := store.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	day := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	for i := range 100 {
		_, err := st.CreateDeparture(ctx, tracking.DepartureFields{PONumber: fmt.Sprintf("PO-%d", i), Destination: "Kazan",
			Carrier: "DHL", Dock: "D1", ScheduledAt: day.Add(time.Duration(i) * 10 * time.Minute)}, "bench")
		if err != nil {
			b.Fatal(err)
		}
	}
	filter := tracking.DepartureFilter{From: day, To: day.AddDate(0, 0, 1)}
	load := func(ctx context.Context) ([]tracking.Departure, error) { return st.Departures(ctx, filter) }

	b.Run("database", func(b *testing.B) {
		for b.Loop() {
			if ds, err := load(ctx); err != nil || len(ds) != 100 {
				b.Fatal(len(ds), err)
			}
		}
	})
	b.Run("cache-hit", func(b *testing.B) {
		r := servicetest.RedisPrefix(b)
		c, err := New(Config{URL: r.URL, Prefix: r.Prefix, TTL: time.Hour, Metrics: metrics.New(),
			Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Board(ctx, "bench", load); err != nil { // fill it
			b.Fatal(err)
		}
		for b.Loop() {
			if ds, err := c.Board(ctx, "bench", load); err != nil || len(ds) != 100 {
				b.Fatal(len(ds), err)
			}
		}
	})
}
