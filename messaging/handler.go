package messaging

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/tracking"
)

// Delivery is one message as a handler sees it.
type Delivery struct {
	Event Event
	// Redelivery counts the delayed redeliveries before this one (0 on the first delivery).
	Redelivery int
	Headers    amqp.Table
}

// Handler handles one delivery. It returns nil when the message is done with, and an error
// when it is not: the middleware and the endpoint decide what happens next (retry at once,
// redeliver later, or move it to the _error queue). A handler must tolerate a message twice.
type Handler func(ctx context.Context, d Delivery) error

// Middleware wraps a handler, as Watermill's does.
type Middleware func(Handler) Handler

// PanicError is a handler's panic, turned into an error by Recover.
type PanicError struct {
	Value any
	Stack []byte
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// Recover turns a panic of the handler into a *PanicError, so that one bad message cannot stop
// the consumer; it is retried and dead-lettered like any failure.
func Recover(log *slog.Logger) Middleware {
	return func(h Handler) Handler {
		return func(ctx context.Context, d Delivery) (err error) {
			defer func() {
				if v := recover(); v != nil {
					err = &PanicError{Value: v, Stack: debug.Stack()}
					log.Error("message handler panicked", "panic", v, "message_id", d.Event.MessageID)
				}
			}()
			return h(ctx, d)
		}
	}
}

// Retry calls the handler up to n more times at once while it fails, counting each retry.
func Retry(n int, retried prometheus.Counter) Middleware {
	return func(h Handler) Handler {
		return func(ctx context.Context, d Delivery) error {
			err := h(ctx, d)
			for i := 0; i < n && err != nil && ctx.Err() == nil; i++ {
				retried.Inc()
				err = h(ctx, d)
			}
			return err
		}
	}
}

// HandledVersions remembers the highest version of each departure a consumer has handled
// (the store).
type HandledVersions interface {
	HandledVersion(ctx context.Context, consumer, departureID string) (int64, error)
	RecordHandled(ctx context.Context, consumer, departureID string, version int64, messageID string) error
}

// Invalidator drops cached reads (the cache).
type Invalidator interface {
	Invalidate(ctx context.Context, departureID string, statuses ...tracking.Status) error
}

// InvalidateCache is the tracking screens' handler: it drops the cached reads a departure
// event makes stale (the departure, the lists of its old and new status, every board). It is
// idempotent: an event whose version the consumer has already handled, or an older one that
// arrives late, changes nothing. An event without a version (the .NET contract) always
// invalidates, which is harmless twice.
func InvalidateCache(consumer string, versions HandledVersions, cache Invalidator) Handler {
	return func(ctx context.Context, d Delivery) error {
		ev := d.Event
		if ev.Version > 0 {
			seen, err := versions.HandledVersion(ctx, consumer, ev.DepartureID)
			if err != nil {
				return err
			}
			if ev.Version <= seen {
				return nil
			}
		}
		if err := cache.Invalidate(ctx, ev.DepartureID, ev.PreviousStatus, ev.Status); err != nil {
			return err
		}
		if ev.Version > 0 {
			// Recorded after the effect: a crash in between repeats the (harmless) effect
			// rather than skip it.
			return versions.RecordHandled(ctx, consumer, ev.DepartureID, ev.Version, ev.MessageID)
		}
		return nil
	}
}
