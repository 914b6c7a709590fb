package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/metrics"
	"calipso/store"
	"calipso/tracking"
)

// Outbox is what the relay needs from the store.
type Outbox interface {
	ClaimOutbox(ctx context.Context, claimant string, limit int, lease time.Duration) ([]store.OutboxMessage, error)
	MarkPublished(ctx context.Context, ids []int64) error
	ReleaseOutbox(ctx context.Context, ids []int64, retryAt time.Time, reason string) error
	OutboxStats(ctx context.Context) (store.OutboxStats, error)
	PruneOutbox(ctx context.Context, before time.Time) (int64, error)
}

// Defaults of RelayConfig.
const (
	DefaultWindow         = 128
	DefaultPoll           = time.Second
	DefaultConfirmTimeout = 10 * time.Second
	DefaultLease          = 30 * time.Second
	DefaultRetryMin       = time.Second
	DefaultRetryMax       = 30 * time.Second
	DefaultRetention      = 7 * 24 * time.Hour
)

// RelayConfig configures the outbox relay.
type RelayConfig struct {
	Outbox Outbox
	Codec  Codec
	// Wake is signalled after a commit that wrote outbox rows (store.Committed); the relay
	// also polls every Poll, in case a signal was missed or another process wrote the rows.
	Wake <-chan struct{}
	Poll time.Duration
	// Claimant names this relay in the outbox leases; unique per instance.
	Claimant string
	// Window is how many messages may wait for their confirms at once.
	Window int
	// ConfirmTimeout bounds the wait for a window's confirms; Lease bounds how long a claimed
	// row is this relay's alone. Lease must be well above ConfirmTimeout.
	ConfirmTimeout, Lease time.Duration
	// A row that failed is held back RetryMin, doubling per attempt up to RetryMax.
	RetryMin, RetryMax time.Duration
	// Published rows are pruned once older than Retention.
	Retention time.Duration
	Log       *slog.Logger
	Metrics   *metrics.Metrics
}

// Relay publishes the outbox to RabbitMQ: oldest first, persistent, mandatory, with publisher
// confirms over a window of messages in flight. A row is marked published only once the
// broker has confirmed it; a nack, a return (no queue bound), a timeout or a lost connection
// leaves it pending, to be published again later. A crash anywhere therefore loses nothing and
// at worst publishes a message twice, which consumers recognise by its version.
type Relay struct {
	cfg RelayConfig
	log *slog.Logger
	m   *metrics.Metrics

	mu          sync.Mutex
	lastPublish time.Time     // when the broker last confirmed a row of ours
	lastLag     time.Duration // how long that row waited between its commit and the confirm
}

// LastPublish tells when this relay last had a row confirmed, and how long that row had
// waited since its commit: the admin page's "relay lag". Zero before the first.
func (r *Relay) LastPublish() (at time.Time, lag time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastPublish, r.lastLag
}

// Relay creates the outbox relay and runs it on every connection. Call Relay.Report too, to
// keep the backlog gauge current while the broker is away.
func (s *Supervisor) Relay(cfg RelayConfig) *Relay {
	if cfg.Poll <= 0 {
		cfg.Poll = DefaultPoll
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.ConfirmTimeout <= 0 {
		cfg.ConfirmTimeout = DefaultConfirmTimeout
	}
	if cfg.Lease <= 0 {
		cfg.Lease = DefaultLease
	}
	if cfg.RetryMin <= 0 {
		cfg.RetryMin = DefaultRetryMin
	}
	if cfg.RetryMax < cfg.RetryMin {
		cfg.RetryMax = max(DefaultRetryMax, cfg.RetryMin)
	}
	if cfg.Retention <= 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.Log == nil {
		cfg.Log = s.base
	}
	if cfg.Metrics == nil {
		cfg.Metrics = s.m
	}
	r := &Relay{cfg: cfg, log: cfg.Log.With("component", "relay"), m: cfg.Metrics}
	s.add(&worker{name: "relay", declare: declareMessageExchanges, run: r.run})
	return r
}

// declareMessageExchanges declares the exchange of every message type, as MassTransit does:
// fanout, durable, not auto-delete, no arguments.
func declareMessageExchanges(ch *amqp.Channel) error {
	for _, t := range tracking.MessageTypes {
		if err := ch.ExchangeDeclare(ExchangeName(t), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
			return err
		}
	}
	return nil
}

func (r *Relay) run(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("confirm mode: %w", err)
	}
	// A return comes before the confirm of its message, from the same reader goroutine, so a
	// buffer of one window never blocks it.
	returns := ch.NotifyReturn(make(chan amqp.Return, r.cfg.Window))
	closed := ch.NotifyClose(make(chan *amqp.Error, 1))
	poll := time.NewTicker(r.cfg.Poll)
	defer poll.Stop()
	for {
		// Publish window after window until the backlog is empty.
		for ctx.Err() == nil {
			n, err := r.publishWindow(ctx, ch, returns)
			if err != nil {
				return err
			}
			if n < r.cfg.Window {
				break
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-closed:
			if err == nil {
				return errClosed
			}
			return err
		case <-r.cfg.Wake:
		case <-poll.C:
		}
	}
}

// publishWindow claims up to a window of rows, publishes them all, then waits for their
// confirms. It returns how many rows it claimed.
func (r *Relay) publishWindow(ctx context.Context, ch *amqp.Channel, returns <-chan amqp.Return) (int, error) {
	msgs, err := r.cfg.Outbox.ClaimOutbox(ctx, r.cfg.Claimant, r.cfg.Window, r.cfg.Lease)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		// The database is away: the poll tries again.
		r.log.Warn("claim outbox", "err", err)
		return 0, nil
	}
	if len(msgs) == 0 {
		return 0, nil
	}

	// From here on the rows are ours until the lease ends: finish the window even when ctx
	// ends (shutdown), so that confirmed rows are marked and the others released.
	finish, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.cfg.ConfirmTimeout+10*time.Second)
	defer cancel()

	failed := make([]string, len(msgs)) // reason, "" when published
	confirms := make([]*amqp.DeferredConfirmation, len(msgs))
	var chErr error
	sent := time.Now()
	for i, m := range msgs {
		exchange, p, err := r.cfg.Codec.Encode(m, sent)
		if err != nil {
			failed[i] = err.Error()
			continue
		}
		if chErr != nil {
			failed[i] = "not sent: " + chErr.Error()
			continue
		}
		dc, err := ch.PublishWithDeferredConfirm(exchange, "", true, false, p)
		if err != nil {
			chErr = err
			failed[i] = "not sent: " + err.Error()
			continue
		}
		confirms[i] = dc
	}

	// Wait for every confirm, collecting returns on the way.
	returned := map[string]string{}
	confirmedAt := make([]time.Time, len(msgs))
	timeout := time.NewTimer(r.cfg.ConfirmTimeout)
	defer timeout.Stop()
	timedOut := false
	for i, dc := range confirms {
		for dc != nil && !timedOut {
			select {
			case <-dc.Done():
				confirmedAt[i] = time.Now()
				dc = nil
			case ret := <-returns:
				returned[ret.MessageId] = fmt.Sprintf("returned by the broker: %d %s", ret.ReplyCode, ret.ReplyText)
			case <-timeout.C:
				timedOut = true
			}
		}
	}
	for drained := false; !drained; {
		select {
		case ret := <-returns:
			returned[ret.MessageId] = fmt.Sprintf("returned by the broker: %d %s", ret.ReplyCode, ret.ReplyText)
		default:
			drained = true
		}
	}

	var (
		published, retry, behind []int64
		reasons                  = map[int64]string{}
		held                     = map[string]bool{} // departures with a failed row in this window
		lastErr                  string
		lastLag                  time.Duration
	)
	for i, m := range msgs {
		reason := failed[i]
		switch {
		case reason != "":
		case confirms[i] == nil:
			reason = "not sent"
		case !confirms[i].Acked() && confirmedAt[i].IsZero():
			reason = fmt.Sprintf("no confirm within %s", r.cfg.ConfirmTimeout)
		case !confirms[i].Acked():
			reason = "nacked by the broker (or the channel closed)"
		case returned[m.MessageID] != "":
			reason = returned[m.MessageID]
		}
		switch {
		case reason != "":
			held[m.DepartureID] = true
			retry = append(retry, m.ID)
			reasons[m.ID] = reason
			lastErr = reason
		case held[m.DepartureID]:
			// Published, but after a row of its departure that failed: publish it again after
			// that one, so that the last message the broker has of a departure is its newest.
			behind = append(behind, m.ID)
		default:
			published = append(published, m.ID)
			if confirmedAt[i].IsZero() { // confirmed just after the timeout
				confirmedAt[i] = time.Now()
			}
			lastLag = confirmedAt[i].Sub(m.CreatedAt)
			r.m.CommitToConfirm.Observe(lastLag.Seconds())
		}
	}
	if err := r.cfg.Outbox.MarkPublished(finish, published); err != nil {
		// The rows stay leased, then are published again: duplicates, never losses.
		r.log.Error("mark outbox rows published", "rows", len(published), "err", err)
	} else if len(published) > 0 {
		r.mu.Lock()
		r.lastPublish, r.lastLag = time.Now(), lastLag
		r.mu.Unlock()
	}
	r.m.Published.Add(float64(len(published)))
	if len(retry) > 0 {
		r.m.PublishFailed.Add(float64(len(retry)))
		r.log.Warn("outbox rows not confirmed; will retry", "rows", len(retry), "last_error", lastErr)
		for _, m := range msgs {
			if reason, ok := reasons[m.ID]; ok {
				if err := r.cfg.Outbox.ReleaseOutbox(finish, []int64{m.ID}, time.Now().Add(r.retryDelay(m.Attempts)), reason); err != nil {
					r.log.Error("release outbox row", "id", m.ID, "err", err)
				}
			}
		}
		if err := r.cfg.Outbox.ReleaseOutbox(finish, behind, time.Time{}, "published after a failed message of its departure"); err != nil {
			r.log.Error("release outbox rows", "rows", len(behind), "err", err)
		}
	}
	if chErr != nil || timedOut {
		// Start over on a fresh channel.
		return len(msgs), fmt.Errorf("publish: %v (timed out: %v)", chErr, timedOut)
	}
	return len(msgs), nil
}

// retryDelay is how long a row that failed on its attempt-th try waits before the next.
func (r *Relay) retryDelay(attempt int) time.Duration {
	d := r.cfg.RetryMin
	for i := 1; i < attempt && d < r.cfg.RetryMax; i++ {
		d *= 2
	}
	return min(d, r.cfg.RetryMax)
}

// Report keeps the backlog gauge current every interval, and prunes old published rows once
// an hour, until ctx ends. It runs whether the broker is connected or not.
func (r *Relay) Report(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		if st, err := r.cfg.Outbox.OutboxStats(ctx); err == nil {
			r.m.OutboxBacklog.Set(float64(st.Pending))
		} else if ctx.Err() == nil {
			r.log.Warn("outbox stats", "err", err)
		}
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			if n, err := r.cfg.Outbox.PruneOutbox(ctx, time.Now().Add(-r.cfg.Retention)); err != nil && ctx.Err() == nil {
				r.log.Warn("prune outbox", "err", err)
			} else if n > 0 {
				r.log.Info("outbox pruned", "rows", n)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}
