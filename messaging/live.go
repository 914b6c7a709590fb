package messaging

import (
	"context"
	"fmt"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/tracking"
)

// livePrefetch bounds the live events delivered to an instance and not yet handled.
const livePrefetch = 256

// Live follows every departure event on this instance, for the boards: an exclusive,
// auto-delete, server-named queue bound to the exchange of every message type, redeclared
// and consumed again on every (re)connect.
//
// Such a queue does not outlive its connection, so the events published while the instance
// was disconnected are lost to it. onSubscribed is therefore called after every
// (re)subscription, before any event of that subscription reaches onEvent: the board hub
// answers it by sending every screen a fresh snapshot. Events published between the binding
// and the snapshot reach onEvent too; their versions tell which is newer.
//
// onEvent and onSubscribed are called from one goroutine, in order; they should not block
// for long. Call Live before or after Run; it starts on the current connection if there is
// one.
func (s *Supervisor) Live(onEvent func(context.Context, Event), onSubscribed func()) {
	log := s.base.With("component", "live")
	run := func(ctx context.Context, conn *amqp.Connection) error {
		ch, err := conn.Channel()
		if err != nil {
			return err
		}
		defer ch.Close()
		q, err := ch.QueueDeclare("", false, true, true, false, nil)
		if err != nil {
			return fmt.Errorf("declare live queue: %w", err)
		}
		s.mu.Lock()
		s.liveQueue = q.Name
		s.mu.Unlock()
		for _, t := range tracking.MessageTypes {
			if err := ch.QueueBind(q.Name, "", ExchangeName(t), false, nil); err != nil {
				return fmt.Errorf("bind live queue: %w", err)
			}
		}
		// Acked after onEvent, with a bounded prefetch, so that a slow hub makes the broker
		// hold the backlog rather than this process's memory. (The queue dies with the
		// connection: nothing is ever redelivered; the next subscription starts with a
		// snapshot.)
		if err := ch.Qos(livePrefetch, 0, false); err != nil {
			return err
		}
		deliveries, err := ch.Consume(q.Name, "", false, true, false, false, nil)
		if err != nil {
			return fmt.Errorf("consume live queue: %w", err)
		}
		if onSubscribed != nil {
			onSubscribed()
		}
		for {
			select {
			case <-ctx.Done():
				return nil
			case d, ok := <-deliveries:
				if !ok {
					return errClosed
				}
				if ev, err := Decode(&d); err != nil {
					log.Warn("live event skipped", "err", err, "message_id", d.MessageId)
				} else {
					onEvent(ctx, ev)
				}
				if err := d.Ack(false); err != nil {
					return err
				}
			}
		}
	}
	s.add(&worker{name: "live", declare: declareMessageExchanges, run: run})
}

// LiveQueue is the name the broker gave this instance's live queue on the current connection;
// "" before the first subscription.
func (s *Supervisor) LiveQueue() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.liveQueue
}
