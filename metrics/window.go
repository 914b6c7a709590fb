package metrics

import (
	"slices"
	"sync"
	"time"
)

// Window keeps the recent observations of one latency, so the admin page can show exact p50
// and p95 over the last minutes. Prometheus histograms answer that only with a Prometheus
// server; the page must work without one. Memory is bounded by max samples.
type Window struct {
	mu      sync.Mutex
	span    time.Duration
	samples []sample // a ring: next is where the next sample goes
	next    int
	full    bool
	now     func() time.Time
}

type sample struct {
	at time.Time
	v  float64
}

// NewWindow keeps at most max samples, and forgets those older than span.
func NewWindow(span time.Duration, max int) *Window {
	return &Window{span: span, samples: make([]sample, max), now: time.Now}
}

// Observe records one value (seconds, for latencies).
func (w *Window) Observe(v float64) {
	w.mu.Lock()
	w.samples[w.next] = sample{at: w.now(), v: v}
	w.next++
	if w.next == len(w.samples) {
		w.next, w.full = 0, true
	}
	w.mu.Unlock()
}

// Quantiles returns the given quantiles (0..1) of the samples within the span, and how many
// there were. With no samples it returns zeros and n == 0.
func (w *Window) Quantiles(qs ...float64) (values []float64, n int) {
	w.mu.Lock()
	cutoff := w.now().Add(-w.span)
	end := w.next
	if w.full {
		end = len(w.samples)
	}
	vs := make([]float64, 0, end)
	for _, s := range w.samples[:end] {
		if s.at.After(cutoff) {
			vs = append(vs, s.v)
		}
	}
	w.mu.Unlock()

	values = make([]float64, len(qs))
	if len(vs) == 0 {
		return values, 0
	}
	slices.Sort(vs)
	for i, q := range qs {
		// Nearest rank: the smallest value with at least q of the samples at or below it.
		rank := int(q*float64(len(vs))+0.999999) - 1
		values[i] = vs[min(max(rank, 0), len(vs)-1)]
	}
	return values, len(vs)
}

// Trend is a fixed-length time series for a sparkline: one point per tick, the oldest
// dropped when full.
type Trend struct {
	mu     sync.Mutex
	points []float64
	limit  int
}

// NewTrend keeps the last limit points.
func NewTrend(limit int) *Trend { return &Trend{limit: limit} }

// Add appends a point.
func (t *Trend) Add(v float64) {
	t.mu.Lock()
	t.points = append(t.points, v)
	if len(t.points) > t.limit {
		t.points = slices.Delete(t.points, 0, len(t.points)-t.limit)
	}
	t.mu.Unlock()
}

// Points returns a copy of the series, oldest first.
func (t *Trend) Points() []float64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.points)
}
