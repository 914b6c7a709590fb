package messaging

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

// BenchmarkRelayPublish publishes 200 outbox rows through the relay to the real broker, one
// confirm at a time (the baseline: a round trip per message) and with the default window of
// messages in flight. Compare the two of one run: `make bench BENCH=RelayPublish PKG=./messaging`.
func BenchmarkRelayPublish(b *testing.B) {
	for _, window := range []int{1, DefaultWindow} {
		b.Run(fmt.Sprintf("window=%d", window), func(b *testing.B) { benchmarkRelay(b, window) })
	}
}

func benchmarkRelay(b *testing.B, window int) {
	const rows = 200
	ctx := context.Background()
	vh := servicetest.RabbitMQ(b)
	st, err := store.Open(ctx, "sqlite:"+filepath.Join(b.TempDir(), "calipso.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := metrics.New()
	sup := NewSupervisor(SupervisorConfig{URL: vh.URL, Log: log, Metrics: m})
	codec, err := NewCodec(vh.URL, "bench", Host{MachineName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	// A queue bound to the exchanges, so that mandatory publishes are routed, not returned.
	sup.Endpoint(EndpointConfig{Queue: "bench", Handler: func(context.Context, Delivery) error { return nil }})
	wake := make(chan struct{}, 1)
	sup.Relay(RelayConfig{Outbox: st, Codec: codec, Wake: wake, Poll: time.Hour, Claimant: "bench", Window: window})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { sup.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()

	d, err := st.CreateDeparture(ctx, tracking.DepartureFields{PONumber: "PO-1", Destination: "Kazan", Carrier: "DHL",
		Dock: "D1", ScheduledAt: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	for i := range 2 * rows {
		f := d.DepartureFields
		f.Notes = fmt.Sprint(i)
		if d, err = st.UpdateDeparture(ctx, d.ID, d.Version, f, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	waitPending := func(n int) {
		for {
			s, err := st.OutboxStats(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if s.Pending <= n {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}
	// Warm up: connect, and publish what the setup wrote, so that each round starts alike.
	wake <- struct{}{}
	waitPending(0)

	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		for i := range rows {
			f := d.DepartureFields
			f.Notes = fmt.Sprint("round ", i)
			if d, err = st.UpdateDeparture(ctx, d.ID, d.Version, f, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		wake <- struct{}{}
		waitPending(0)
	}
	b.ReportMetric(float64(rows), "rows/op")
}
