package messaging

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/cache"
	"calipso/internal/servicetest"
	"calipso/tracking"
)

const queue = TrackingScreenQueue

func (r *rig) endpoint(h Handler, immediate int, delays ...time.Duration) {
	r.sup.Endpoint(EndpointConfig{
		Queue: queue, Prefetch: 4, ImmediateRetries: immediate, Delays: delays, Handler: h,
		Host: Host{MachineName: "test-host", ProcessName: "calipso.test"},
	})
}

// publish sends body to the exchange of a message type, as another service would.
func publish(t *testing.T, ch *amqp.Channel, messageType, contentType, messageID string, body []byte) {
	t.Helper()
	err := ch.PublishWithContext(t.Context(), ExchangeName(messageType), "", false, false, amqp.Publishing{
		ContentType: contentType, DeliveryMode: amqp.Persistent, MessageId: messageID, Body: body,
	})
	if err != nil {
		t.Fatal(err)
	}
}

// statusEvent is the raw JSON of a status change of departure id to version.
func statusEvent(t *testing.T, id string, version int64, from, to tracking.Status) []byte {
	t.Helper()
	b, err := json.Marshal(tracking.DepartureStatusUpdated{
		DepartureID: id, NewStatus: to, PreviousStatus: from, Version: version, Timestamp: time.Now().UTC(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// errorMessage waits for a message in the _error queue.
func errorMessage(t *testing.T, ch *amqp.Channel, within time.Duration) amqp.Delivery {
	t.Helper()
	var got amqp.Delivery
	eventually(t, within, "a message in "+queue+"_error", func() bool {
		d, ok, err := ch.Get(queue+"_error", true)
		if err != nil {
			t.Fatal(err)
		}
		got = d
		return ok
	})
	return got
}

func TestEndpointIsLaidOutAsAMassTransitReceiveEndpoint(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.endpoint(func(context.Context, Delivery) error { return nil }, 1, 5*time.Second, time.Minute)
	r.start()
	ch := r.vhost.Channel(t)
	for _, ex := range []string{queue, queue + "_error", ExchangeName(tracking.MessageStatusUpdated), ExchangeName(tracking.MessageDepartureUpdate)} {
		if err := ch.ExchangeDeclarePassive(ex, "fanout", true, false, false, false, nil); err != nil {
			t.Fatalf("exchange %s: %v", ex, err)
		}
	}
	for _, q := range []string{queue, queue + "_error", queue + "_delay_5000ms", queue + "_delay_60000ms"} {
		if _, err := ch.QueueDeclarePassive(q, true, false, false, false, nil); err != nil {
			t.Fatalf("queue %s: %v", q, err)
		}
	}
	bindings := r.vhost.Bindings(t)
	for _, b := range []string{
		"Calipso.Tracking.Messages:DepartureStatusUpdated\t" + queue + "\texchange",
		"Calipso.Tracking.Messages:DepartureUpdated\t" + queue + "\texchange",
		queue + "\t" + queue + "\tqueue",
		queue + "_error\t" + queue + "_error\tqueue",
	} {
		if !strings.Contains(bindings, b) {
			t.Errorf("no binding %q in\n%s", b, bindings)
		}
	}
}

func TestEndpointAcceptsTheEnvelopeAndRawJSON(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	got := make(chan Event, 4)
	r.endpoint(func(_ context.Context, d Delivery) error { got <- d.Event; return nil }, 0)
	r.start()
	ch := r.vhost.Channel(t)
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeMassTransit, "m-1", readFixture(t, "masstransit_status_updated.json"))
	publish(t, ch, tracking.MessageDepartureUpdate, ContentTypeJSON, "m-2", readFixture(t, "raw_departure_updated.json"))
	seen := map[string]Event{}
	for range 2 {
		select {
		case ev := <-got:
			seen[ev.MessageID] = ev
		case <-time.After(10 * time.Second):
			t.Fatalf("consumed only %v", seen)
		}
	}
	if seen["6c600000-5d6f-0015-0b2a-08dc4d1e5f3a"].DepartureID != "DEP-000042" || seen["m-2"].DepartureID != "DEP-000007" {
		t.Fatalf("consumed %+v", seen)
	}
	eventually(t, 5*time.Second, "consumed counter", func() bool { return value(r.m.Consumed) == 2 })
}

func TestPoisonMessageGoesToTheErrorQueueAtOnceWithFaultHeaders(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var calls atomic.Int64
	r.endpoint(func(context.Context, Delivery) error { calls.Add(1); return nil }, 3, time.Minute)
	r.start()
	ch := r.vhost.Channel(t)
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeMassTransit, "poison-1", []byte("{not json"))

	d := errorMessage(t, ch, 10*time.Second)
	if string(d.Body) != "{not json" || d.MessageId != "poison-1" || d.ContentType != ContentTypeMassTransit || d.DeliveryMode != 2 {
		t.Errorf("dead letter %q id %q type %q mode %d: want the original body and properties", d.Body, d.MessageId, d.ContentType, d.DeliveryMode)
	}
	wantHeaders(t, d.Headers, "fault", "Calipso.Messaging.SerializationException", "undecodable message", 0)
	if calls.Load() != 0 {
		t.Errorf("handler called %d times for a poison message", calls.Load())
	}
	// Counted just after the copy is confirmed, so a moment after it can be read.
	eventually(t, 5*time.Second, "dead-lettered counter", func() bool { return value(r.m.DeadLettered) == 1 })
	if value(r.m.DeadLettered) != 1 || value(r.m.Retried) != 0 {
		t.Errorf("dead-lettered %v, retried %v; want 1 and 0", value(r.m.DeadLettered), value(r.m.Retried))
	}
}

func wantHeaders(t *testing.T, h amqp.Table, reason, faultType, message string, retries int) {
	t.Helper()
	if h["MT-Reason"] != reason || h["MT-Fault-ExceptionType"] != faultType ||
		!strings.Contains(h["MT-Fault-Message"].(string), message) || headerInt(h, "MT-Fault-RetryCount") != retries {
		t.Errorf("headers %v\nwant MT-Reason %q, MT-Fault-ExceptionType %q, MT-Fault-Message containing %q, MT-Fault-RetryCount %d",
			h, reason, faultType, message, retries)
	}
	ts, _ := h["MT-Fault-Timestamp"].(string)
	if at, err := time.Parse(time.RFC3339Nano, ts); err != nil || time.Since(at) > time.Minute {
		t.Errorf("MT-Fault-Timestamp %q", ts)
	}
	if h["MT-Host-MachineName"] != "test-host" {
		t.Errorf("MT-Host-MachineName %v", h["MT-Host-MachineName"])
	}
}

func TestAFailingHandlerIsRetriedAtOnceThenLaterThenDeadLettered(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var calls atomic.Int64
	redeliveries := make(chan int, 10)
	r.endpoint(func(_ context.Context, d Delivery) error {
		if calls.Add(1)%3 == 1 { // first call of each delivery
			redeliveries <- d.Redelivery
		}
		return errors.New("dock system unreachable")
	}, 2, 100*time.Millisecond, 300*time.Millisecond)
	r.start()
	ch := r.vhost.Channel(t)
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "fails-1",
		statusEvent(t, "DEP-000001", 2, tracking.StatusPending, tracking.StatusLoading))

	d := errorMessage(t, ch, 20*time.Second)
	// 3 deliveries (the first and two delayed) × 3 calls (the first and two immediate).
	if calls.Load() != 9 {
		t.Errorf("handler called %d times, want 9", calls.Load())
	}
	wantHeaders(t, d.Headers, "fault", "Calipso.Messaging.ConsumerException", "dock system unreachable", 8)
	if d.MessageId != "fails-1" || d.ContentType != ContentTypeJSON || headerInt(d.Headers, "MT-Redelivery-Count") != 2 {
		t.Errorf("dead letter id %q, type %q, headers %v", d.MessageId, d.ContentType, d.Headers)
	}
	close(redeliveries)
	var seen []int
	for n := range redeliveries {
		seen = append(seen, n)
	}
	if len(seen) != 3 || seen[0] != 0 || seen[1] != 1 || seen[2] != 2 {
		t.Errorf("deliveries saw redelivery counts %v, want [0 1 2]", seen)
	}
	eventually(t, 5*time.Second, "dead-lettered counter", func() bool { return value(r.m.DeadLettered) == 1 })
	if value(r.m.Retried) != 8 || value(r.m.DeadLettered) != 1 || value(r.m.Consumed) != 0 {
		t.Errorf("retried %v, dead-lettered %v, consumed %v; want 8, 1, 0",
			value(r.m.Retried), value(r.m.DeadLettered), value(r.m.Consumed))
	}
}

func TestAHandlerThatRecoversOnARedeliveryIsNotDeadLettered(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var calls atomic.Int64
	r.endpoint(func(context.Context, Delivery) error {
		if calls.Add(1) <= 2 {
			panic("first delivery always breaks")
		}
		return nil
	}, 1, 100*time.Millisecond)
	r.start()
	ch := r.vhost.Channel(t)
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "m-1",
		statusEvent(t, "DEP-000001", 2, tracking.StatusPending, tracking.StatusLoading))
	eventually(t, 10*time.Second, "consumed", func() bool { return value(r.m.Consumed) == 1 })
	if calls.Load() != 3 || value(r.m.DeadLettered) != 0 {
		t.Fatalf("calls %d, dead-lettered %v; want 3 and 0", calls.Load(), value(r.m.DeadLettered))
	}
	if _, ok, _ := ch.Get(queue+"_error", true); ok {
		t.Fatal("a message in the error queue")
	}
}

func TestInvalidateCacheDeletesTheKeysOnceAndIgnoresDuplicatesAndOlderVersions(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	red := servicetest.RedisPrefix(t)
	c, err := cache.New(cache.Config{URL: red.URL, Prefix: red.Prefix, Metrics: r.m, Log: r.log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r.endpoint(InvalidateCache(queue, r.st, c), 0)
	r.start()
	ch := r.vhost.Channel(t)

	keys := []string{c.DepartureKey("DEP-000005"), c.StatusKey(tracking.StatusPending), c.StatusKey(tracking.StatusLoading), c.ListsKey()}
	other := c.StatusKey(tracking.StatusDelayed)
	plant := func() {
		t.Helper()
		for _, k := range append(keys, other) {
			if err := red.Client.Set(t.Context(), k, "cached", time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
		}
	}
	count := func(ks ...string) int64 {
		t.Helper()
		return red.Client.Exists(t.Context(), ks...).Val()
	}
	handled := func(n float64) {
		t.Helper()
		eventually(t, 10*time.Second, "consumed", func() bool { return value(r.m.Consumed) == n })
	}

	plant()
	v2 := statusEvent(t, "DEP-000005", 2, tracking.StatusPending, tracking.StatusLoading)
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "m-v2", v2)
	handled(1)
	if n := count(keys...); n != 0 {
		t.Fatalf("%d of the departure's keys left after its event", n)
	}
	if count(other) != 1 {
		t.Fatal("the list of an untouched status was deleted")
	}
	if v, _ := r.st.HandledVersion(t.Context(), queue, "DEP-000005"); v != 2 {
		t.Fatalf("handled version %d, want 2", v)
	}

	plant()
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "m-v2", v2) // redelivered
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "m-v1",
		statusEvent(t, "DEP-000005", 1, tracking.StatusPending, tracking.StatusPending)) // older, late
	handled(3)
	if n := count(keys...); n != int64(len(keys)) {
		t.Fatalf("a duplicate or an older event deleted %d keys", int64(len(keys))-n)
	}

	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "m-v3",
		statusEvent(t, "DEP-000005", 3, tracking.StatusLoading, tracking.StatusInTransit))
	handled(4)
	if n := count(c.DepartureKey("DEP-000005"), c.StatusKey(tracking.StatusLoading), c.ListsKey()); n != 0 {
		t.Fatalf("%d keys left after a newer event", n)
	}
	if count(c.StatusKey(tracking.StatusPending)) != 1 {
		t.Fatal("v3 (Loading → In Transit) deleted the Pending lists")
	}
}

func TestShutdownLetsTheMessageInHandFinishAndLeavesTheRestQueued(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	entered := make(chan string, 3)
	release := make(chan struct{})
	r.sup.Endpoint(EndpointConfig{Queue: queue, Prefetch: 1, Handler: func(_ context.Context, d Delivery) error {
		entered <- d.Event.MessageID
		<-release
		return nil
	}})
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- r.sup.Run(ctx) }()
	t.Cleanup(cancel)
	r.waitReady()

	ch := r.vhost.Channel(t)
	for i := range 3 {
		publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, fmt.Sprintf("m-%d", i),
			statusEvent(t, fmt.Sprintf("DEP-00000%d", i+1), 2, tracking.StatusPending, tracking.StatusLoading))
	}
	var first string
	select {
	case first = <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing consumed")
	}
	cancel() // SIGTERM while a message is in hand
	select {
	case err := <-stopped:
		t.Fatalf("Run returned (%v) before the message in hand was done", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return after the handler finished")
	}
	if value(r.m.Consumed) != 1 {
		t.Fatalf("consumed %v, want the one in hand", value(r.m.Consumed))
	}
	// The one in hand was acked; the other two wait in the queue for the next start.
	q, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	if q.Messages != 2 {
		t.Fatalf("%d messages left in the queue, want 2", q.Messages)
	}
	for range 2 {
		d, ok, _ := ch.Get(queue, true)
		if !ok || d.MessageId == first {
			t.Fatalf("left in the queue: %q (ok %v); the handled %q must not be", d.MessageId, ok, first)
		}
	}
}
