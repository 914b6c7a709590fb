package messaging

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/internal/servicetest"
	"calipso/metrics"
	"calipso/store"
	"calipso/tracking"
)

// rig is one test's broker side: a virtual host, a store, metrics and a supervisor that runs
// until the test ends.
type rig struct {
	t     *testing.T
	vhost servicetest.VHost
	st    *store.Store
	m     *metrics.Metrics
	sup   *Supervisor
	log   *slog.Logger
}

func newRig(t *testing.T) *rig {
	t.Helper()
	vh := servicetest.RabbitMQ(t)
	st, err := store.Open(t.Context(), "sqlite:"+filepath.Join(t.TempDir(), "calipso.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := metrics.New()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	sup := NewSupervisor(SupervisorConfig{URL: vh.URL, Name: t.Name(), Log: log, Metrics: m, MinRedial: 50 * time.Millisecond, MaxRedial: time.Second})
	return &rig{t: t, vhost: vh, st: st, m: m, sup: sup, log: log}
}

// relay adds an outbox relay with short delays.
func (r *rig) relay() *Relay {
	codec, err := NewCodec(r.vhost.URL, "test-instance", Host{MachineName: "test", ProcessName: "calipso.test"})
	if err != nil {
		r.t.Fatal(err)
	}
	return r.sup.Relay(RelayConfig{
		Outbox: r.st, Codec: codec, Wake: r.st.Committed(), Poll: 50 * time.Millisecond,
		Claimant: "test-relay", RetryMin: 50 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	})
}

// start runs the supervisor until the test ends, and waits until it is connected.
func (r *rig) start() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.sup.Run(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				r.t.Errorf("Supervisor.Run: %v", err)
			}
		case <-time.After(20 * time.Second):
			r.t.Error("supervisor did not stop within 20s")
		}
	})
	r.waitReady()
}

func (r *rig) waitReady() {
	r.t.Helper()
	eventually(r.t, 20*time.Second, "broker ready", func() bool { return r.sup.Ready(context.Background()) == nil })
}

// tap declares a queue bound to the exchange of every message type, for the test to read.
func (r *rig) tap(ch *amqp.Channel) <-chan amqp.Delivery {
	r.t.Helper()
	if err := declareMessageExchanges(ch); err != nil {
		r.t.Fatal(err)
	}
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	for _, mt := range tracking.MessageTypes {
		if err := ch.QueueBind(q.Name, "", ExchangeName(mt), false, nil); err != nil {
			r.t.Fatal(err)
		}
	}
	d, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func (r *rig) create(po string) tracking.Departure {
	r.t.Helper()
	d, err := r.st.CreateDeparture(r.t.Context(), tracking.DepartureFields{
		PONumber: po, Destination: "Rotterdam", Carrier: "Maersk", Dock: "D1",
		ScheduledAt: time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC),
	}, "alice")
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func (r *rig) change(d tracking.Departure, to tracking.Status) tracking.Departure {
	r.t.Helper()
	d, err := r.st.ChangeStatus(r.t.Context(), d.ID, d.Version, to, "", "bob")
	if err != nil {
		r.t.Fatal(err)
	}
	return d
}

func (r *rig) pending() int {
	r.t.Helper()
	st, err := r.st.OutboxStats(r.t.Context())
	if err != nil {
		r.t.Fatal(err)
	}
	return st.Pending
}

func receive(t *testing.T, ds <-chan amqp.Delivery, within time.Duration) amqp.Delivery {
	t.Helper()
	select {
	case d := <-ds:
		return d
	case <-time.After(within):
		t.Fatalf("no message within %s", within)
		return amqp.Delivery{}
	}
}

// eventually polls cond until it holds, failing t after within.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// recorder collects what a callback saw, in order.
type recorder struct {
	mu    sync.Mutex
	items []string
}

func (r *recorder) add(s string) {
	r.mu.Lock()
	r.items = append(r.items, s)
	r.mu.Unlock()
}

func (r *recorder) all() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.items...)
}

// value reads a counter or a gauge.
func value(c prometheus.Metric) float64 {
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		panic(err)
	}
	switch {
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Histogram != nil:
		return float64(m.Histogram.GetSampleCount())
	}
	return 0
}
