// Package monitor watches the event pipeline for the admin page. It samples queue depths, the
// outbox backlog, rates and latencies into 15-minute trends, keeps the matching gauges of
// /metrics current, and reports the state of every dependency. It only reads: the admin's
// actions on dead letters go to messaging.Inspector.
package monitor

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"calipso/messaging"
	"calipso/metrics"
	"calipso/store"
)

// Defaults of Config.
const (
	DefaultEvery       = 10 * time.Second
	DefaultOutboxAlarm = time.Minute
	// trendSpan is what a sparkline shows.
	trendSpan = 15 * time.Minute
	// deadLetterPage is how many dead letters the page lists.
	deadLetterPage = 50
)

// Broker is the supervisor, as far as the monitor reads it.
type Broker interface {
	Ready(ctx context.Context) error
	LiveQueue() string
}

// OutboxStore is the store's outbox, as far as the monitor reads it.
type OutboxStore interface {
	OutboxStats(ctx context.Context) (store.OutboxStats, error)
}

// Relay tells when a row was last confirmed.
type Relay interface {
	LastPublish() (at time.Time, lag time.Duration)
}

// Database is the system of record's health.
type Database interface {
	Ping(ctx context.Context) error
	Dialect() string
}

// Cache is Redis's health.
type Cache interface {
	Ping(ctx context.Context) error
	UsedMemory(ctx context.Context) (string, error)
}

// Config says what to watch.
type Config struct {
	Inspector *messaging.Inspector
	// Management adds unacked counts and rates; nil when not configured.
	Management *messaging.Management
	Broker     Broker
	// Endpoint is the consumer's queue; Delays its redelivery delays (for its TTL queues).
	Endpoint string
	Delays   []time.Duration
	Outbox   OutboxStore
	Relay    Relay
	Database Database
	Cache    Cache
	Metrics  *metrics.Metrics
	// OutboxAlarm is the age of the oldest pending row past which the page raises the alarm.
	OutboxAlarm time.Duration
	// Every is the sampling period of the trends.
	Every time.Duration
}

// Monitor samples the pipeline. Run it, then ask it for a Report.
type Monitor struct {
	cfg   Config
	limit int // points per trend

	mu      sync.Mutex
	depth   map[string]*metrics.Trend // per queue name
	backlog *metrics.Trend
	p95     map[string]*metrics.Trend // per latency stage
	rates   rateTrends
	prev    counters
}

// rateTrends are the pipeline's own rates, from the counters of this instance.
type rateTrends struct{ published, consumed, deadLettered *metrics.Trend }

// counters is a reading of the cumulative counters, to turn into rates.
type counters struct {
	at                                time.Time
	published, consumed, deadLettered float64
}

// New returns a monitor; nothing is sampled until Run.
func New(cfg Config) *Monitor {
	if cfg.Every <= 0 {
		cfg.Every = DefaultEvery
	}
	if cfg.OutboxAlarm <= 0 {
		cfg.OutboxAlarm = DefaultOutboxAlarm
	}
	limit := max(int(trendSpan/cfg.Every), 2)
	return &Monitor{
		cfg:     cfg,
		limit:   limit,
		depth:   map[string]*metrics.Trend{},
		backlog: metrics.NewTrend(limit),
		p95:     map[string]*metrics.Trend{},
		rates: rateTrends{
			published: metrics.NewTrend(limit), consumed: metrics.NewTrend(limit), deadLettered: metrics.NewTrend(limit),
		},
	}
}

// retrySample is how soon a sample that could not read the broker is taken again, so that the
// queue gauges appear as soon as the broker is connected rather than a period later.
const retrySample = time.Second

// Run samples every cfg.Every until ctx ends.
func (m *Monitor) Run(ctx context.Context) {
	for {
		wait := m.cfg.Every
		if !m.sample(ctx) {
			wait = min(wait, retrySample)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// queues are the queues the page shows, with what each is for.
func (m *Monitor) queues() []QueueName {
	qs := []QueueName{
		{m.cfg.Endpoint, "consumer: invalidates the cache"},
		{messaging.ErrorQueue(m.cfg.Endpoint), "dead letters"},
	}
	for _, d := range m.cfg.Delays {
		qs = append(qs, QueueName{messaging.DelayQueue(m.cfg.Endpoint, d), "waiting " + d.String() + " for redelivery"})
	}
	if live := m.cfg.Broker.LiveQueue(); live != "" {
		qs = append(qs, QueueName{live, "live feed of this instance's screens"})
	}
	return qs
}

// QueueName is a queue and what it is for.
type QueueName struct{ Name, Role string }

// sample takes one reading of everything that has a trend, and updates the gauges. It reports
// whether the broker answered.
func (m *Monitor) sample(ctx context.Context) (brokerOK bool) {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Every)
	defer cancel()
	brokerOK = true
	for _, q := range m.queues() {
		st, err := m.cfg.Inspector.Queue(ctx, q.Name)
		if err != nil {
			brokerOK = false
			continue
		}
		if !st.Exists {
			continue
		}
		m.trend(m.depth, q.Name).Add(float64(st.Ready))
		m.cfg.Metrics.QueueMessages.WithLabelValues(q.Name).Set(float64(st.Ready))
		m.cfg.Metrics.QueueConsumers.WithLabelValues(q.Name).Set(float64(st.Consumers))
	}
	if st, err := m.cfg.Outbox.OutboxStats(ctx); err == nil {
		m.backlog.Add(float64(st.Pending))
	}
	for _, l := range m.latencies() {
		v, n := l.window.Quantiles(0.95)
		p95 := 0.0
		if n > 0 {
			p95 = v[0]
		}
		m.trend(m.p95, l.stage).Add(p95)
	}
	now := counters{
		at:           time.Now(),
		published:    counterValue(m.cfg.Metrics.Published),
		consumed:     counterValue(m.cfg.Metrics.Consumed),
		deadLettered: counterValue(m.cfg.Metrics.DeadLettered),
	}
	m.mu.Lock()
	if !m.prev.at.IsZero() {
		secs := now.at.Sub(m.prev.at).Seconds()
		m.rates.published.Add((now.published - m.prev.published) / secs)
		m.rates.consumed.Add((now.consumed - m.prev.consumed) / secs)
		m.rates.deadLettered.Add((now.deadLettered - m.prev.deadLettered) / secs)
	}
	m.prev = now
	m.mu.Unlock()
	return brokerOK
}

func (m *Monitor) trend(in map[string]*metrics.Trend, key string) *metrics.Trend {
	m.mu.Lock()
	defer m.mu.Unlock()
	t, ok := in[key]
	if !ok {
		t = metrics.NewTrend(m.limit)
		in[key] = t
	}
	return t
}

func (m *Monitor) points(in map[string]*metrics.Trend, key string) []float64 {
	m.mu.Lock()
	t, ok := in[key]
	m.mu.Unlock()
	if !ok {
		return nil
	}
	return t.Points()
}

type latency struct {
	stage  string
	window *metrics.Window
}

func (m *Monitor) latencies() []latency {
	r := m.cfg.Metrics.Recent
	return []latency{
		{"commit → broker confirm", r.CommitToConfirm},
		{"publish → consumed", r.ConfirmToConsume},
		{"consumed → on the screens", r.ConsumeToSocket},
	}
}

// counterValue reads a counter of this instance.
func counterValue(c prometheus.Counter) float64 {
	var d dto.Metric
	if c.Write(&d) != nil || d.Counter == nil {
		return 0
	}
	return d.Counter.GetValue()
}
