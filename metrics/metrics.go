// Package metrics holds the figures Calipso exposes on /metrics for Prometheus and shows on
// the admin page. Each running app has its own registry (tests start several apps in one
// process), and components get the *Metrics they update as a parameter.
//
// The metric names are part of the contract and are documented in README.md; change them
// only through an issue.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is every series Calipso exposes.
type Metrics struct {
	Registry *prometheus.Registry

	// The pipeline, in the order a change flows through it.
	Published     prometheus.Counter // outbox rows confirmed by the broker
	PublishFailed prometheus.Counter // nacks, timeouts and returns; the row stays pending
	Consumed      prometheus.Counter // deliveries handled successfully (duplicates included)
	Retried       prometheus.Counter // deliveries sent back for another attempt
	DeadLettered  prometheus.Counter // deliveries moved to an _error queue
	Replayed      prometheus.Counter // dead letters sent back by an admin

	CommitToConfirm  prometheus.Histogram // outbox row written → broker confirm
	ConfirmToConsume prometheus.Histogram // publish → the consumer has handled it
	ConsumeToSocket  prometheus.Histogram // consumed → fragment written to the sockets
	// Recent keeps the same latencies for the admin page's p50/p95; every Observe on the
	// histograms above also lands here.
	Recent RecentLatencies

	OutboxBacklog   prometheus.Gauge       // outbox rows not yet published
	QueueMessages   *prometheus.GaugeVec   // ready messages per queue, as the broker reports
	QueueConsumers  *prometheus.GaugeVec   // consumers per queue
	ScreensOnline   prometheus.Gauge       // open board WebSockets
	BrokerConnected prometheus.Gauge       // 1 while the AMQP connection is up
	BrokerRedials   prometheus.Counter     // reconnects after a lost connection
	CacheRequests   *prometheus.CounterVec // result: hit, miss, error
}

// latencyBuckets span a fast local broker (ms) to a stuck one (a minute).
var latencyBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// RecentLatencies are the pipeline's latencies over the last RecentSpan.
type RecentLatencies struct{ CommitToConfirm, ConfirmToConsume, ConsumeToSocket *Window }

// RecentSpan is how far back the admin page's latency quantiles look; recentSamples bounds
// the memory each latency uses for them.
const (
	RecentSpan    = 5 * time.Minute
	recentSamples = 20000
)

// windowed is a histogram that also records into a Window.
type windowed struct {
	prometheus.Histogram
	w *Window
}

func (h windowed) Observe(v float64) {
	h.Histogram.Observe(v)
	h.w.Observe(v)
}

// New creates the series in a registry of their own, with the Go and process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { r.MustRegister(c) }
	counter := func(name, help string) prometheus.Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: name, Help: help})
		f(c)
		return c
	}
	histogram := func(name, help string, recent **Window) prometheus.Histogram {
		h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: name, Help: help, Buckets: latencyBuckets})
		f(h)
		*recent = NewWindow(RecentSpan, recentSamples)
		return windowed{Histogram: h, w: *recent}
	}
	gauge := func(name, help string) prometheus.Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
		f(g)
		return g
	}
	var rec RecentLatencies
	m := &Metrics{
		Registry:      r,
		Published:     counter("calipso_messages_published_total", "Outbox messages confirmed by the broker."),
		PublishFailed: counter("calipso_messages_publish_failed_total", "Publish attempts nacked, returned or timed out; the row is retried."),
		Consumed:      counter("calipso_messages_consumed_total", "Deliveries handled by a consumer."),
		Retried:       counter("calipso_messages_retried_total", "Deliveries sent back for another attempt."),
		DeadLettered:  counter("calipso_messages_dead_lettered_total", "Deliveries moved to an _error queue."),
		Replayed:      counter("calipso_messages_replayed_total", "Dead letters replayed by an admin."),

		CommitToConfirm: histogram("calipso_commit_to_confirm_seconds",
			"Time from the outbox commit to the broker's confirm.", &rec.CommitToConfirm),
		ConfirmToConsume: histogram("calipso_confirm_to_consume_seconds",
			"Time from publish to the consumer having handled the message.", &rec.ConfirmToConsume),
		ConsumeToSocket: histogram("calipso_consume_to_socket_seconds",
			"Time from consuming a change to its fragment written to the sockets.", &rec.ConsumeToSocket),

		OutboxBacklog: gauge("calipso_outbox_backlog", "Outbox rows not yet published."),
		QueueMessages: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "calipso_queue_messages",
			Help: "Messages ready in a queue, as the broker reports it."}, []string{"queue"}),
		QueueConsumers: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "calipso_queue_consumers",
			Help: "Consumers of a queue, as the broker reports it."}, []string{"queue"}),
		ScreensOnline:   gauge("calipso_screens_connected", "Board WebSockets open on this instance."),
		BrokerConnected: gauge("calipso_broker_connected", "1 while the AMQP connection is up."),
		BrokerRedials:   counter("calipso_broker_reconnects_total", "Reconnections to the broker after a lost connection."),
		CacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "calipso_cache_requests_total",
			Help: "Cache reads by result: hit, miss or error (Redis down: read from the database)."}, []string{"result"}),
	}
	m.Recent = rec
	// Known label values start at zero, so that a dashboard sees the series before the first read.
	for _, result := range []string{"hit", "miss", "error"} {
		m.CacheRequests.WithLabelValues(result)
	}
	f(m.QueueMessages)
	f(m.QueueConsumers)
	f(m.CacheRequests)
	f(collectors.NewGoCollector())
	f(collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}
