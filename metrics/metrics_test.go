package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestLatencyObservationsReachPrometheusAndTheRecentWindow(t *testing.T) {
	m := New()
	for _, v := range []float64{0.010, 0.020, 0.030, 0.040, 1.0} {
		m.CommitToConfirm.Observe(v)
	}
	if n := testutil.CollectAndCount(m.Registry, "calipso_commit_to_confirm_seconds"); n != 1 {
		t.Fatalf("histogram series: %d", n)
	}
	q, n := m.Recent.CommitToConfirm.Quantiles(0.5, 0.95)
	if n != 5 || q[0] != 0.030 || q[1] != 1.0 {
		t.Fatalf("p50 %v p95 %v over %d samples", q[0], q[1], n)
	}
}

func TestWindowForgetsOldSamples(t *testing.T) {
	w := NewWindow(time.Minute, 10)
	now := time.Now()
	w.now = func() time.Time { return now }
	w.Observe(5)
	now = now.Add(2 * time.Minute)
	w.Observe(1)
	q, n := w.Quantiles(0.5)
	if n != 1 || q[0] != 1 {
		t.Fatalf("got %v over %d", q, n)
	}
}

func TestWindowMemoryIsBounded(t *testing.T) {
	w := NewWindow(time.Hour, 3)
	for i := range 10 {
		w.Observe(float64(i))
	}
	q, n := w.Quantiles(0)
	if n != 3 || q[0] != 7 {
		t.Fatalf("kept %d samples, smallest %v; want the last 3", n, q[0])
	}
}

func TestTrendKeepsTheLastPoints(t *testing.T) {
	tr := NewTrend(3)
	for i := range 5 {
		tr.Add(float64(i))
	}
	if got := tr.Points(); len(got) != 3 || got[0] != 2 || got[2] != 4 {
		t.Fatalf("got %v", got)
	}
}

func TestDocumentedSeriesAreExposed(t *testing.T) {
	m := New()
	m.QueueMessages.WithLabelValues("q").Set(1)
	m.QueueConsumers.WithLabelValues("q").Set(1)
	m.CacheRequests.WithLabelValues("hit").Inc()
	m.ConfirmToConsume.Observe(1)
	m.ConsumeToSocket.Observe(1)
	names := map[string]bool{}
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, want := range strings.Fields(`calipso_messages_published_total calipso_messages_publish_failed_total
		calipso_messages_consumed_total calipso_messages_retried_total calipso_messages_dead_lettered_total
		calipso_messages_replayed_total calipso_commit_to_confirm_seconds calipso_confirm_to_consume_seconds
		calipso_consume_to_socket_seconds calipso_outbox_backlog calipso_queue_messages calipso_queue_consumers
		calipso_screens_connected calipso_broker_connected calipso_broker_reconnects_total calipso_cache_requests_total`) {
		if !names[want] {
			t.Errorf("%s is not exposed", want)
		}
	}
}
