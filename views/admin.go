package views

import (
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Admin is the admin page: each panel answers one question an admin woken at night asks.
// A nil panel is one whose source failed; Problems says why.
type Admin struct {
	Page
	Now         time.Time
	Queues      []QueueRow
	DeadLetters DeadLetterPanel
	Outbox      OutboxPanel
	Latencies   []LatencyRow
	Rates       []RateRow
	Screens     []ScreenRow
	Deps        []DependencyRow
	Audit       []AuditRow
	// Problems lists panels that could not be filled, with a short reason.
	Problems []string
}

// QueueRow is one queue's health.
type QueueRow struct {
	Name      string
	Role      string // "consumer", "dead letters", "live (this instance)", …
	Ready     int
	Unacked   int // -1 when unknown (no management API)
	Consumers int // -1 when unknown
	Rates     *QueueRates
	OldestAge *time.Duration // nil when it cannot be known
	Depth     []float64      // the last 15 minutes, for the sparkline
	Alarm     bool           // e.g. a consumer queue with no consumer, or dead letters waiting
}

// QueueRates are per-second rates from the management API, when it is configured.
type QueueRates struct{ Publish, Deliver, Ack float64 }

// DeadLetterPanel lists the messages in the _error queue.
type DeadLetterPanel struct {
	Queue    string
	Total    int
	Messages []DeadLetterRow
	Error    string // why the list could not be read
}

// DeadLetterRow is one faulted message. Every field comes from the broker: untrusted input,
// shown only through templ's escaping.
type DeadLetterRow struct {
	MessageID   string
	DepartureID string
	Event       string
	SentAt      time.Time
	FaultType   string
	FaultReason string
	RetryCount  int
	FaultedAt   time.Time
	Body        string // a short excerpt
	Replayed    bool   // replayed before, and failed again
}

// OutboxPanel is the outbox's backlog.
type OutboxPanel struct {
	Pending     int
	OldestAge   time.Duration
	LastPublish time.Time // zero when nothing was published by this process yet
	RelayLag    time.Duration
	Threshold   time.Duration
	Alarm       bool // the oldest pending row is older than Threshold
	Backlog     []float64
	Error       string
}

// LatencyRow is one stage of the pipeline.
type LatencyRow struct {
	Stage    string
	P50, P95 time.Duration
	Samples  int
	Trend    []float64 // p95 in seconds over the last 15 minutes
}

// RateRow is one flow of this instance's pipeline, in messages per second.
type RateRow struct {
	Name  string
	Trend []float64 // the last 15 minutes, oldest first
}

// Now is the latest point of the trend, 0 before the first.
func (r RateRow) Now() float64 {
	if len(r.Trend) == 0 {
		return 0
	}
	return r.Trend[len(r.Trend)-1]
}

// ScreenRow is one connected board.
type ScreenRow struct {
	ID          string // the connection, for the reload and identify actions
	Name        string
	Profile     string
	IP          string
	Since       time.Time
	LastMessage time.Time
	Build       string
	Stale       bool // runs another build than the server
}

// DependencyRow is one dependency's state.
type DependencyRow struct {
	Name   string
	OK     bool
	Detail string
}

// AuditRow is one recorded admin or dispatcher action.
type AuditRow struct {
	At     time.Time
	Actor  string
	IP     string
	Action string
	Detail string
}

// sparkline returns the points of an SVG polyline for values drawn in a w×h box, the highest
// value at the top. A flat or empty series is a line along the bottom.
func sparkline(values []float64, w, h float64) string {
	if len(values) == 0 {
		return fmt.Sprintf("0,%g %g,%g", h, w, h)
	}
	if len(values) == 1 {
		values = []float64{values[0], values[0]}
	}
	hi := 0.0
	for _, v := range values {
		if !math.IsNaN(v) && v > hi {
			hi = v
		}
	}
	var b strings.Builder
	step := w / float64(len(values)-1)
	for i, v := range values {
		y := h
		if hi > 0 && !math.IsNaN(v) {
			y = h - (v/hi)*(h-1)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%.1f,%.1f", float64(i)*step, y)
	}
	return b.String()
}

// ago is "12 s ago", "4 min ago"; "never" for a zero time.
func ago(now, t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return duration(now.Sub(t)) + " ago"
}

// duration is a short human duration: "850 ms", "12 s", "4 min", "2 h 05 min".
func duration(d time.Duration) string {
	switch {
	case d < 0:
		return "0 s"
	case d < time.Second:
		return fmt.Sprintf("%d ms", d.Milliseconds())
	case d < time.Minute:
		return fmt.Sprintf("%d s", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%d min", int(d.Minutes()))
	}
	return fmt.Sprintf("%d h %02d min", int(d.Hours()), int(d.Minutes())%60)
}

// deadLetterURL is the URL of an action on a dead letter. Message ids come from the broker, so
// they are escaped to stay one path segment.
func deadLetterURL(id, action string) string {
	return "/admin/dead-letters/" + url.PathEscape(id) + "/" + action
}

func rate(v float64) string { return fmt.Sprintf("%.1f", v) }

func count(n int) string {
	if n < 0 {
		return "—"
	}
	return fmt.Sprint(n)
}

// Alarms are the one-line answers to "what is stuck?", shown at the top of the page.
func (p Admin) Alarms() []string {
	var out []string
	for _, d := range p.Deps {
		if !d.OK {
			out = append(out, d.Name+" is down: "+d.Detail)
		}
	}
	if p.Outbox.Alarm {
		out = append(out, fmt.Sprintf("The outbox has %d rows waiting, the oldest for %s.", p.Outbox.Pending, duration(p.Outbox.OldestAge)))
	}
	if p.DeadLetters.Total > 0 {
		out = append(out, fmt.Sprintf("%d dead letters in %s.", p.DeadLetters.Total, p.DeadLetters.Queue))
	}
	for _, q := range p.Queues {
		if q.Alarm && q.Role != "dead letters" {
			out = append(out, fmt.Sprintf("Queue %s: %d ready, %s consumers.", q.Name, q.Ready, count(q.Consumers)))
		}
	}
	return append(out, p.Problems...)
}

func oldest(o OutboxPanel) string {
	if o.Pending == 0 {
		return "—"
	}
	return duration(o.OldestAge)
}
