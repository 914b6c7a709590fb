package monitor

import (
	"context"
	"fmt"
	"time"

	"calipso/messaging"
)

// Report is the pipeline at one moment, with the trends up to it. A part that could not be
// read carries an Error instead of figures, so one dead source never blanks the page.
type Report struct {
	At          time.Time
	Queues      []Queue
	DeadLetters DeadLetters
	Outbox      Outbox
	Latencies   []Latency
	Rates       Rates
	Deps        []Dependency
}

// Queue is one queue's figures.
type Queue struct {
	QueueName
	Exists    bool
	Ready     int
	Unacked   int // -1 when unknown (management API not configured)
	Consumers int
	Detail    *messaging.QueueDetail // from the management API, when configured and answering
	OldestAge *time.Duration         // known for the dead-letter queue (the fault time of its head)
	Depth     []float64
	// Alarm: a consumer queue without consumers, or messages waiting where none should.
	Alarm bool
	Error string
}

// DeadLetters is the head of the endpoint's _error queue.
type DeadLetters struct {
	Queue    string
	Total    int
	Messages []messaging.DeadLetter
	Error    string
}

// Outbox is the backlog of unpublished events.
type Outbox struct {
	Pending, Failing int
	OldestAge        time.Duration
	LastPublish      time.Time
	RelayLag         time.Duration
	Threshold        time.Duration
	Alarm            bool
	Backlog          []float64
	Error            string
}

// Latency is one stage's recent quantiles.
type Latency struct {
	Stage    string
	P50, P95 time.Duration
	Samples  int
	Trend    []float64
}

// Rates are this instance's messages per second over the trend span.
type Rates struct{ Published, Consumed, DeadLettered []float64 }

// Dependency is one dependency's state.
type Dependency struct {
	Name   string
	OK     bool
	Detail string
}

// Report reads everything now.
func (m *Monitor) Report(ctx context.Context) Report {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	r := Report{At: time.Now()}
	r.Queues = m.queueReport(ctx)
	r.DeadLetters = m.deadLetters(ctx)
	for i, q := range r.Queues {
		if q.Name == r.DeadLetters.Queue && len(r.DeadLetters.Messages) > 0 {
			if head := r.DeadLetters.Messages[0].FaultedAt; !head.IsZero() {
				age := r.At.Sub(head)
				r.Queues[i].OldestAge = &age
			}
		}
	}
	r.Outbox = m.outbox(ctx, r.At)
	for _, l := range m.latencies() {
		v, n := l.window.Quantiles(0.5, 0.95)
		r.Latencies = append(r.Latencies, Latency{
			Stage: l.stage, P50: seconds(v[0]), P95: seconds(v[1]), Samples: n, Trend: m.points(m.p95, l.stage),
		})
	}
	m.mu.Lock()
	r.Rates = Rates{m.rates.published.Points(), m.rates.consumed.Points(), m.rates.deadLettered.Points()}
	m.mu.Unlock()
	r.Deps = m.dependencies(ctx)
	return r
}

func (m *Monitor) queueReport(ctx context.Context) []Queue {
	var out []Queue
	for _, qn := range m.queues() {
		q := Queue{QueueName: qn, Unacked: -1, Depth: m.points(m.depth, qn.Name)}
		st, err := m.cfg.Inspector.Queue(ctx, qn.Name)
		switch {
		case err != nil:
			q.Error, q.Consumers = err.Error(), -1
		case !st.Exists:
			q.Error, q.Consumers = "not declared", -1
		default:
			q.Exists, q.Ready, q.Consumers = true, st.Ready, st.Consumers
		}
		if m.cfg.Management != nil && q.Exists {
			if d, err := m.cfg.Management.Queue(ctx, qn.Name); err == nil {
				q.Detail, q.Unacked = &d, d.Unacked
			}
		}
		consumerQueue := qn.Name == m.cfg.Endpoint
		deadLetters := qn.Name == messaging.ErrorQueue(m.cfg.Endpoint)
		q.Alarm = q.Exists && ((consumerQueue && q.Consumers == 0) || (deadLetters && q.Ready > 0))
		out = append(out, q)
	}
	return out
}

func (m *Monitor) deadLetters(ctx context.Context) DeadLetters {
	d := DeadLetters{Queue: messaging.ErrorQueue(m.cfg.Endpoint)}
	total, list, err := m.cfg.Inspector.DeadLetters(ctx, m.cfg.Endpoint, deadLetterPage)
	if err != nil {
		d.Error = "Cannot read the dead letters: " + err.Error()
		return d
	}
	d.Total, d.Messages = total, list
	return d
}

func (m *Monitor) outbox(ctx context.Context, now time.Time) Outbox {
	o := Outbox{Threshold: m.cfg.OutboxAlarm, Backlog: m.backlog.Points()}
	st, err := m.cfg.Outbox.OutboxStats(ctx)
	if err != nil {
		o.Error = "Cannot read the outbox: " + err.Error()
		return o
	}
	o.Pending, o.Failing = st.Pending, st.Failing
	if !st.Oldest.IsZero() {
		o.OldestAge = now.Sub(st.Oldest)
	}
	o.Alarm = st.Pending > 0 && o.OldestAge > m.cfg.OutboxAlarm
	if m.cfg.Relay != nil {
		o.LastPublish, o.RelayLag = m.cfg.Relay.LastPublish()
	}
	return o
}

func (m *Monitor) dependencies(ctx context.Context) []Dependency {
	var deps []Dependency
	if err := m.cfg.Database.Ping(ctx); err != nil {
		deps = append(deps, Dependency{"Database", false, m.cfg.Database.Dialect() + ": " + err.Error()})
	} else {
		deps = append(deps, Dependency{"Database", true, m.cfg.Database.Dialect()})
	}
	redials := counterValue(m.cfg.Metrics.BrokerRedials)
	if err := m.cfg.Broker.Ready(ctx); err != nil {
		deps = append(deps, Dependency{"RabbitMQ", false, fmt.Sprintf("%v (reconnects so far: %.0f)", err, redials)})
	} else {
		deps = append(deps, Dependency{"RabbitMQ", true, fmt.Sprintf("connected; reconnects since start: %.0f", redials)})
	}
	hits := counterValue(m.cfg.Metrics.CacheRequests.WithLabelValues("hit"))
	misses := counterValue(m.cfg.Metrics.CacheRequests.WithLabelValues("miss"))
	ratio := "no reads yet"
	if hits+misses > 0 {
		ratio = fmt.Sprintf("hit ratio %.0f%% of %.0f reads", 100*hits/(hits+misses), hits+misses)
	}
	if err := m.cfg.Cache.Ping(ctx); err != nil {
		deps = append(deps, Dependency{"Redis", false, err.Error() + " (pages read the database meanwhile)"})
	} else {
		mem, err := m.cfg.Cache.UsedMemory(ctx)
		if err != nil {
			mem = "unknown"
		}
		deps = append(deps, Dependency{"Redis", true, ratio + ", memory " + mem})
	}
	return deps
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }
