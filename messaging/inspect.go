package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/tracking"
)

// Inspector is the admin page's hands on the broker: queue depths by passive declare (so the
// page works without the management plugin), and the dead letters of an endpoint, which it can
// list, replay and delete. It borrows the supervisor's connection and opens a short-lived
// channel per operation, because a failed passive declare closes its channel.
type Inspector struct {
	mu   sync.Mutex
	conn *amqp.Connection // nil while disconnected
}

// errUnreachable is what an admin sees while the broker is down.
var errUnreachable = tracking.Errorf(tracking.EUNAVAILABLE, "The broker is unreachable; try again when it is back.")

// Inspector returns the admin page's view of the broker; it follows the supervisor's
// connection from one reconnect to the next.
func (s *Supervisor) Inspector() *Inspector {
	in := &Inspector{}
	s.add(&worker{name: "inspector", run: func(ctx context.Context, conn *amqp.Connection) error {
		closed := conn.NotifyClose(make(chan *amqp.Error, 1))
		in.set(conn)
		defer in.set(nil)
		select {
		case <-ctx.Done():
			return nil
		case <-closed:
			return errClosed
		}
	}})
	return in
}

func (in *Inspector) set(conn *amqp.Connection) {
	in.mu.Lock()
	in.conn = conn
	in.mu.Unlock()
}

// withChannel runs fn on a fresh channel of the current connection.
func (in *Inspector) withChannel(fn func(ch *amqp.Channel) error) error {
	in.mu.Lock()
	conn := in.conn
	in.mu.Unlock()
	if conn == nil || conn.IsClosed() {
		return errUnreachable
	}
	ch, err := conn.Channel()
	if err != nil {
		return errUnreachable
	}
	defer ch.Close()
	return fn(ch)
}

// QueueStat is what the broker tells about a queue over AMQP itself.
type QueueStat struct {
	Name      string
	Exists    bool
	Ready     int // messages ready for delivery (not those a consumer holds unacked)
	Consumers int
}

// Queue reports a queue's depth and consumers. A queue that does not exist is reported as
// such, not as an error.
func (in *Inspector) Queue(ctx context.Context, name string) (QueueStat, error) {
	st := QueueStat{Name: name}
	err := in.withChannel(func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(name, false, false, false, false, nil)
		var aerr *amqp.Error
		if errors.As(err, &aerr) && aerr.Code == amqp.NotFound {
			return nil
		}
		if err != nil {
			return err
		}
		st.Exists, st.Ready, st.Consumers = true, q.Messages, q.Consumers
		return nil
	})
	return st, err
}

// DeadLetter is one message of an _error queue, read without removing it. Everything in it
// comes from the broker and is untrusted: show it only escaped.
type DeadLetter struct {
	MessageID    string
	MessageType  string // DepartureStatusUpdated, …; "" when the body could not be decoded
	DepartureID  string
	SentAt       time.Time
	FaultType    string
	FaultMessage string
	RetryCount   int
	FaultedAt    time.Time
	ContentType  string
	Body         []byte
	Replayed     bool // an admin replayed it before, and it failed again
}

// HeaderReplayedAt marks a message an admin replayed, with when.
const HeaderReplayedAt = "Calipso-Replayed-At"

// maxScan bounds how many messages one dead-letter operation looks through, so an error queue
// of a million messages cannot hold the admin page's channel for minutes.
const maxScan = 10000

// DeadLetters reads the first limit messages of an endpoint's _error queue and leaves them all
// in place: they are fetched unacknowledged and returned to the queue, in order, when the
// channel closes. It also returns how many the queue holds in all.
func (in *Inspector) DeadLetters(ctx context.Context, endpoint string, limit int) (int, []DeadLetter, error) {
	var (
		total int
		out   []DeadLetter
		queue = ErrorQueue(endpoint)
	)
	err := in.withChannel(func(ch *amqp.Channel) error {
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			return err
		}
		total = q.Messages
		for range min(limit, total) {
			d, ok, err := ch.Get(queue, false)
			if err != nil || !ok {
				return err
			}
			out = append(out, deadLetterOf(d))
		}
		return nil
	})
	return total, out, err
}

// Replay sends the dead letter with this message id back to the exchange it was consumed
// from, the endpoint's own input exchange (as MassTransit moves a fault back to its input
// queue), without its fault headers. It leaves the error queue only once the broker has
// confirmed the copy. A message that was undecodable is replayed too: the consumer may have
// been upgraded since. The consumer is idempotent, so a replayed duplicate is harmless.
func (in *Inspector) Replay(ctx context.Context, endpoint, messageID string) error {
	n, err := in.settle(ctx, endpoint, messageID, true)
	if err == nil && n == 0 {
		return notFound(endpoint, messageID)
	}
	return err
}

// ReplayAll replays every dead letter of the endpoint, and returns how many it replayed.
func (in *Inspector) ReplayAll(ctx context.Context, endpoint string) (int, error) {
	return in.settle(ctx, endpoint, "", true)
}

// Delete removes the dead letter with this message id for good.
func (in *Inspector) Delete(ctx context.Context, endpoint, messageID string) error {
	n, err := in.settle(ctx, endpoint, messageID, false)
	if err == nil && n == 0 {
		return notFound(endpoint, messageID)
	}
	return err
}

func notFound(endpoint, id string) error {
	return tracking.Errorf(tracking.ENOTFOUND, "No dead letter %q in %s: it may have been replayed or deleted already.",
		truncateID(id), ErrorQueue(endpoint))
}

// settle walks the endpoint's error queue and handles the messages with this id (every
// message when id is ""): replays or drops them. Messages it passes over are returned to the
// queue when the channel closes.
func (in *Inspector) settle(ctx context.Context, endpoint, id string, replay bool) (int, error) {
	done, queue := 0, ErrorQueue(endpoint)
	err := in.withChannel(func(ch *amqp.Channel) error {
		if replay {
			if err := ch.Confirm(false); err != nil {
				return err
			}
		}
		returns := ch.NotifyReturn(make(chan amqp.Return, 1))
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
		if err != nil {
			return err
		}
		for range min(q.Messages, maxScan) {
			if err := ctx.Err(); err != nil {
				return err
			}
			d, ok, err := ch.Get(queue, false)
			if err != nil || !ok {
				return err
			}
			if id != "" && d.MessageId != id {
				continue
			}
			if replay {
				if err := republish(ctx, ch, returns, endpoint, d); err != nil {
					return fmt.Errorf("replay %s: %w", d.MessageId, err)
				}
			}
			if err := d.Ack(false); err != nil {
				return err
			}
			done++
			if id != "" {
				return nil
			}
		}
		return nil
	})
	return done, err
}

// republish sends a dead letter back to the endpoint's input exchange, cleaned of the headers
// that would count its earlier failures against it, and waits for the broker's confirm.
func republish(ctx context.Context, ch *amqp.Channel, returns <-chan amqp.Return, endpoint string, d amqp.Delivery) error {
	p := copyOf(d)
	for k := range p.Headers {
		if strings.HasPrefix(k, "MT-Fault-") || strings.HasPrefix(k, "MT-Host-") || k == headerReason || k == headerRedeliveryCount {
			delete(p.Headers, k)
		}
	}
	p.Headers[HeaderReplayedAt] = time.Now().UTC().Format(time.RFC3339Nano)
	dc, err := ch.PublishWithDeferredConfirm(endpoint, "", true, false, p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		return err
	}
	select {
	case r := <-returns:
		return fmt.Errorf("returned by the broker: %s", r.ReplyText)
	default:
	}
	if !ok {
		return errors.New("nacked by the broker")
	}
	return nil
}

// deadLetterOf reads what an admin needs from a dead letter. A body that cannot be decoded is
// still listed, with what its headers tell.
func deadLetterOf(d amqp.Delivery) DeadLetter {
	dl := DeadLetter{
		MessageID:    d.MessageId,
		FaultType:    headerString(d.Headers, headerFaultType),
		FaultMessage: headerString(d.Headers, headerFaultMessage),
		RetryCount:   headerInt(d.Headers, headerFaultRetryCount),
		ContentType:  d.ContentType,
		Body:         d.Body,
		SentAt:       d.Timestamp,
		Replayed:     headerString(d.Headers, HeaderReplayedAt) != "",
	}
	if t, err := time.Parse(time.RFC3339Nano, headerString(d.Headers, headerFaultTimestamp)); err == nil {
		dl.FaultedAt = t
	}
	if ev, err := Decode(&d); err == nil {
		dl.MessageType, dl.DepartureID = ev.Type, ev.DepartureID
		if !ev.SentTime.IsZero() {
			dl.SentAt = ev.SentTime
		}
	} else {
		dl.DepartureID = departureIDOf(d.Body)
	}
	return dl
}

// departureIDOf digs a departure id out of a body that did not decode, when there is one.
func departureIDOf(body []byte) string {
	var probe struct {
		DepartureID string `json:"departureId"`
		Message     struct {
			DepartureID string `json:"departureId"`
		} `json:"message"`
	}
	if json.Unmarshal(body, &probe) != nil {
		return ""
	}
	if probe.Message.DepartureID != "" {
		return truncateID(probe.Message.DepartureID)
	}
	return truncateID(probe.DepartureID)
}

func headerString(h amqp.Table, key string) string {
	s, _ := h[key].(string)
	return s
}

// truncateID keeps an untrusted id short enough to show.
func truncateID(s string) string {
	if utf8.RuneCountInString(s) > 64 {
		return string([]rune(s)[:64]) + "…"
	}
	return s
}
