package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/metrics"
	"calipso/tracking"
)

// TrackingScreenQueue is the receive endpoint of the original Tracking Screen Service.
const TrackingScreenQueue = "tracking-screen-departure-status-updates"

// Defaults of EndpointConfig.
const (
	DefaultPrefetch = 16
	// maxWorkers caps the deliveries handled at once, whatever the prefetch.
	maxWorkers = 16
	// handlerTimeout bounds one call of a handler.
	handlerTimeout = 30 * time.Second
	// republishTimeout bounds the wait for the confirm of a redelivery or a dead letter.
	republishTimeout = 10 * time.Second
)

// Header names, as MassTransit writes them.
const (
	headerRedeliveryCount = "MT-Redelivery-Count"
	headerReason          = "MT-Reason"
	headerFaultType       = "MT-Fault-ExceptionType"
	headerFaultMessage    = "MT-Fault-Message"
	headerFaultTimestamp  = "MT-Fault-Timestamp"
	headerFaultRetryCount = "MT-Fault-RetryCount"
	headerFaultStackTrace = "MT-Fault-StackTrace"
)

// EndpointConfig configures a receive endpoint.
type EndpointConfig struct {
	// Queue names the queue and its same-named exchange (TrackingScreenQueue).
	Queue string
	// MessageTypes are bound to the endpoint; all of tracking.MessageTypes when empty.
	MessageTypes []string
	// Prefetch is how many unacknowledged deliveries the broker sends ahead.
	Prefetch int
	// ImmediateRetries are the retries at once after a failure; Delays are the delayed
	// redeliveries after those, each through a TTL queue. After the last, the message goes to
	// the _error queue.
	ImmediateRetries int
	Delays           []time.Duration
	Handler          Handler
	// Host names this process in the MT-Host-* headers of dead letters.
	Host    Host
	Log     *slog.Logger
	Metrics *metrics.Metrics
}

// endpoint is a MassTransit receive endpoint: a durable queue, a same-named fanout exchange
// bound to it, the message-type exchanges bound to that exchange (exchange to exchange), and
// beside them an _error exchange and queue. Delayed redelivery uses one queue per delay, whose
// TTL dead-letters messages back to the queue (RabbitMQ here has no delay plugin).
type endpoint struct {
	cfg     EndpointConfig
	handler Handler
	log     *slog.Logger
	m       *metrics.Metrics
}

// Endpoint consumes cfg.Queue with cfg.Handler on every connection. The handler is wrapped in
// Retry(cfg.ImmediateRetries) around Recover, so a panic is retried like an error; a body that cannot be decoded goes to _error at
// once, without reaching the handler.
func (s *Supervisor) Endpoint(cfg EndpointConfig) {
	if len(cfg.MessageTypes) == 0 {
		cfg.MessageTypes = tracking.MessageTypes
	}
	if cfg.Prefetch <= 0 {
		cfg.Prefetch = DefaultPrefetch
	}
	if cfg.Log == nil {
		cfg.Log = s.base
	}
	if cfg.Metrics == nil {
		cfg.Metrics = s.m
	}
	log := cfg.Log.With("component", "consumer", "queue", cfg.Queue)
	e := &endpoint{
		cfg:     cfg,
		handler: Retry(cfg.ImmediateRetries, cfg.Metrics.Retried)(Recover(log)(cfg.Handler)),
		log:     log,
		m:       cfg.Metrics,
	}
	s.add(&worker{name: "endpoint " + cfg.Queue, declare: e.declare, run: e.run})
}

// ErrorQueue is the name of an endpoint's dead-letter queue (and exchange), as MassTransit
// names it.
func ErrorQueue(queue string) string { return queue + "_error" }

// DelayQueue is the name of the TTL queue that holds an endpoint's messages for one delayed
// redelivery.
func DelayQueue(queue string, d time.Duration) string {
	return fmt.Sprintf("%s_delay_%dms", queue, d.Milliseconds())
}

func (e *endpoint) errorName() string { return ErrorQueue(e.cfg.Queue) }

func (e *endpoint) delayQueue(d time.Duration) string { return DelayQueue(e.cfg.Queue, d) }

func (e *endpoint) declare(ch *amqp.Channel) error {
	q := e.cfg.Queue
	for _, t := range e.cfg.MessageTypes {
		if err := ch.ExchangeDeclare(ExchangeName(t), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
			return err
		}
	}
	if err := ch.ExchangeDeclare(q, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(q, true, false, false, false, nil); err != nil {
		return err
	}
	if err := ch.QueueBind(q, "", q, false, nil); err != nil {
		return err
	}
	for _, t := range e.cfg.MessageTypes {
		if err := ch.ExchangeBind(q, "", ExchangeName(t), false, nil); err != nil {
			return err
		}
	}
	if err := ch.ExchangeDeclare(e.errorName(), amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(e.errorName(), true, false, false, false, nil); err != nil {
		return err
	}
	if err := ch.QueueBind(e.errorName(), "", e.errorName(), false, nil); err != nil {
		return err
	}
	for _, d := range e.cfg.Delays {
		// Expired messages go back to the queue through the default exchange.
		args := amqp.Table{
			"x-message-ttl":             d.Milliseconds(),
			"x-dead-letter-exchange":    "",
			"x-dead-letter-routing-key": q,
		}
		if _, err := ch.QueueDeclare(e.delayQueue(d), true, false, false, false, args); err != nil {
			return err
		}
	}
	return nil
}

func (e *endpoint) run(ctx context.Context, conn *amqp.Connection) error {
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	if err := ch.Qos(e.cfg.Prefetch, 0, false); err != nil {
		return err
	}
	pub, err := newRepublisher(conn)
	if err != nil {
		return err
	}
	defer pub.close()
	tag := fmt.Sprintf("calipso-%p", e)
	deliveries, err := ch.Consume(e.cfg.Queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", e.cfg.Queue, err)
	}

	work := make(chan amqp.Delivery)
	var wg sync.WaitGroup
	for range min(e.cfg.Prefetch, maxWorkers) {
		wg.Go(func() {
			for d := range work {
				e.handle(d, pub)
			}
		})
	}
	defer func() {
		close(work)
		wg.Wait() // deliveries being handled finish: acked, redelivered or dead-lettered
	}()
	for {
		select {
		case <-ctx.Done():
			// Drain: stop the flow, give back what has not started (requeued at once; the
			// channel's close would requeue it too), and let the handlers in progress finish.
			if err := ch.Cancel(tag, false); err != nil {
				return nil
			}
			for d := range deliveries {
				d.Nack(false, true)
			}
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return errClosed
			}
			work <- d
		}
	}
}

// handle settles one delivery: ack on success, else a delayed redelivery or the _error queue,
// acked once the broker has confirmed the copy. When the copy cannot be made the delivery is
// requeued, never dropped.
func (e *endpoint) handle(d amqp.Delivery, pub *republisher) {
	redeliveries := headerInt(d.Headers, headerRedeliveryCount)
	ev, err := Decode(&d)
	if err != nil {
		e.deadLetter(d, pub, err, 0)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), handlerTimeout)
	err = e.handler(ctx, Delivery{Event: ev, Redelivery: redeliveries, Headers: d.Headers})
	cancel()
	if err == nil {
		if err := d.Ack(false); err != nil {
			e.log.Warn("ack", "err", err, "message_id", ev.MessageID)
			return
		}
		e.m.Consumed.Inc()
		if !ev.SentTime.IsZero() {
			e.m.ConfirmToConsume.Observe(time.Since(ev.SentTime).Seconds())
		}
		return
	}
	if redeliveries < len(e.cfg.Delays) {
		delay := e.cfg.Delays[redeliveries]
		p := copyOf(d)
		p.Expiration = "" // the delay queue's TTL decides
		p.Headers[headerRedeliveryCount] = int32(redeliveries + 1)
		if err := pub.publish("", e.delayQueue(delay), p); err != nil {
			e.log.Error("delayed redelivery failed; requeued", "err", err, "message_id", ev.MessageID)
			d.Nack(false, true)
			return
		}
		d.Ack(false)
		e.m.Retried.Inc()
		e.log.Warn("message failed; redelivering later", "err", err, "message_id", ev.MessageID,
			"departure", ev.DepartureID, "redelivery", redeliveries+1, "in", delay)
		return
	}
	retries := (redeliveries+1)*(e.cfg.ImmediateRetries+1) - 1
	e.deadLetter(d, pub, err, retries)
}

// deadLetter moves a delivery to the _error queue with MassTransit's fault headers, then acks
// it.
func (e *endpoint) deadLetter(d amqp.Delivery, pub *republisher, cause error, retries int) {
	p := copyOf(d)
	var (
		de *DecodeError
		pe *PanicError
	)
	faultType := "Calipso.Messaging.ConsumerException"
	switch {
	case errors.As(cause, &de):
		faultType = "Calipso.Messaging.SerializationException"
	case errors.As(cause, &pe):
		faultType = "Calipso.Messaging.PanicException"
		p.Headers[headerFaultStackTrace] = string(pe.Stack)
	}
	p.Headers[headerReason] = "fault"
	p.Headers[headerFaultType] = faultType
	p.Headers[headerFaultMessage] = cause.Error()
	p.Headers[headerFaultTimestamp] = time.Now().UTC().Format(time.RFC3339Nano)
	p.Headers[headerFaultRetryCount] = int32(retries)
	h := e.cfg.Host
	for k, v := range map[string]any{
		"MT-Host-MachineName": h.MachineName, "MT-Host-ProcessName": h.ProcessName,
		"MT-Host-ProcessId": int32(h.ProcessID), "MT-Host-Assembly": h.Assembly,
		"MT-Host-AssemblyVersion": h.AssemblyVersion, "MT-Host-FrameworkVersion": h.FrameworkVersion,
	} {
		if v != "" && v != int32(0) {
			p.Headers[k] = v
		}
	}
	if err := pub.publish(e.errorName(), "", p); err != nil {
		e.log.Error("dead letter failed; requeued", "err", err, "message_id", d.MessageId)
		d.Nack(false, true)
		return
	}
	d.Ack(false)
	e.m.DeadLettered.Inc()
	e.log.Warn("message moved to the error queue", "error_queue", e.errorName(), "err", cause,
		"message_id", d.MessageId, "retries", retries)
}

// copyOf is a delivery as a new message with the same body and properties. The user id is
// left out: the broker refuses one that is not the publishing connection's user.
func copyOf(d amqp.Delivery) amqp.Publishing {
	h := amqp.Table{}
	for k, v := range d.Headers {
		h[k] = v
	}
	return amqp.Publishing{
		Headers: h, ContentType: d.ContentType, ContentEncoding: d.ContentEncoding,
		DeliveryMode: d.DeliveryMode, Priority: d.Priority, CorrelationId: d.CorrelationId,
		ReplyTo: d.ReplyTo, Expiration: d.Expiration, MessageId: d.MessageId, Timestamp: d.Timestamp,
		Type: d.Type, AppId: d.AppId, Body: d.Body,
	}
}

func headerInt(h amqp.Table, key string) int {
	switch v := h[key].(type) {
	case int:
		return v
	case int8:
		return int(v)
	case int16:
		return int(v)
	case int32:
		return int(v)
	case int64:
		return int(v)
	case uint8:
		return int(v)
	case uint16:
		return int(v)
	case uint32:
		return int(v)
	case string:
		n, _ := strconv.Atoi(v)
		return n
	}
	return 0
}

// republisher publishes copies of deliveries (redeliveries, dead letters) on a confirm channel
// of its own, one at a time: a copy counts as made only when confirmed and not returned, and
// only then is the original acked. This is the rare path, so one at a time is enough.
type republisher struct {
	mu      sync.Mutex
	ch      *amqp.Channel
	returns chan amqp.Return
}

func newRepublisher(conn *amqp.Connection) (*republisher, error) {
	ch, err := conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, err
	}
	return &republisher{ch: ch, returns: ch.NotifyReturn(make(chan amqp.Return, 1))}, nil
}

func (r *republisher) close() { r.ch.Close() }

func (r *republisher) publish(exchange, key string, p amqp.Publishing) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	dc, err := r.ch.PublishWithDeferredConfirm(exchange, key, true, false, p)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), republishTimeout)
	defer cancel()
	for {
		select {
		case ret := <-r.returns:
			// Its confirm follows; wait for it so the next publish starts clean.
			dc.WaitContext(ctx)
			return fmt.Errorf("returned by the broker: %d %s", ret.ReplyCode, ret.ReplyText)
		case <-dc.Done():
			select {
			case ret := <-r.returns:
				return fmt.Errorf("returned by the broker: %d %s", ret.ReplyCode, ret.ReplyText)
			default:
			}
			if !dc.Acked() {
				return errors.New("nacked by the broker")
			}
			return nil
		case <-ctx.Done():
			return fmt.Errorf("no confirm within %s", republishTimeout)
		}
	}
}
