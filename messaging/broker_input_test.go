package messaging

import (
	"bytes"
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/tracking"
)

// Broker input is untrusted: anyone who can publish to the exchanges (or a broken peer) can
// send anything. Each bad message must reach the _error queue with a reason, never the
// handler, and never stop the consumer: a good message sent after all of them is handled.

// badMessage is one delivery a peer could send, and part of the reason it must be refused with.
type badMessage struct {
	name, contentType, messageType string
	body                           []byte
	reason                         string
}

func badMessages(t *testing.T) []badMessage {
	good := readFixture(t, "masstransit_status_updated.json")
	raw := statusEvent(t, "DEP-000001", 2, tracking.StatusPending, tracking.StatusLoading)
	return []badMessage{
		{"huge body", ContentTypeMassTransit, tracking.MessageStatusUpdated,
			append([]byte(`{"messageType":["`), bytes.Repeat([]byte("x"), 8<<20)...), "limit"},
		{"wrong content type", "text/plain", tracking.MessageStatusUpdated, good, "content type"},
		{"xml", "application/xml", tracking.MessageStatusUpdated, []byte(`<departure id="DEP-000001"/>`), "content type"},
		{"wrong messageType", ContentTypeMassTransit, tracking.MessageStatusUpdated,
			bytes.ReplaceAll(good, []byte("Calipso.Tracking.Messages:"), []byte("Other.Namespace:")), "messageType"},
		{"invalid UTF-8 in the id", ContentTypeJSON, tracking.MessageStatusUpdated,
			bytes.Replace(raw, []byte("DEP-000001"), []byte("DEP-00\xff001"), 1), "UTF-8"},
		{"invalid UTF-8 outside strings", ContentTypeJSON, tracking.MessageStatusUpdated, []byte("{\xff}"), "UTF-8"},
		{"snapshot breaking the domain's rules", ContentTypeJSON, tracking.MessageDepartureUpdate,
			[]byte(`{"departureId":"DEP-000001","status":"Pending","version":2,"departure":{"poNumber":"PO-1",` +
				`"destination":"` + strings.Repeat("R", 4<<10) + `","carrier":"C","dock":"D1","scheduledAt":"2026-03-01T08:00:00Z","status":"Pending"}}`),
			"destination"},
		{"missing departureId", ContentTypeJSON, tracking.MessageStatusUpdated,
			[]byte(`{"newStatus":"Loading","previousStatus":"Pending","version":2}`), "departureId"},
		{"missing status", ContentTypeJSON, tracking.MessageDepartureUpdate,
			[]byte(`{"departureId":"DEP-000001","version":2}`), "status"},
		{"empty body", ContentTypeJSON, tracking.MessageDepartureUpdate, nil, tracking.MessageDepartureUpdate},
		{"JSON null", ContentTypeJSON, tracking.MessageDepartureUpdate, []byte("null"), "departureId"},
	}
}

func TestBadBrokerInputGoesToTheErrorQueueWithAReasonAndTheQueueKeepsFlowing(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var handled atomic.Int64
	var lastID atomic.Value
	r.endpoint(func(_ context.Context, d Delivery) error {
		handled.Add(1)
		lastID.Store(d.Event.MessageID)
		return nil
	}, 2, time.Minute)
	r.start()
	ch := r.vhost.Channel(t)

	bad := badMessages(t)
	for i, m := range bad {
		publishProps(t, ch, m.messageType, amqp.Publishing{
			ContentType: m.contentType, DeliveryMode: amqp.Persistent, MessageId: "bad-" + string(rune('a'+i)), Body: m.body,
		})
	}
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "good-after-bad",
		statusEvent(t, "DEP-000002", 3, tracking.StatusPending, tracking.StatusLoading))

	eventually(t, 30*time.Second, "the good message handled", func() bool { return lastID.Load() == "good-after-bad" })
	if n := handled.Load(); n != 1 {
		t.Fatalf("the handler ran %d times; bad messages must never reach it", n)
	}
	reasons := map[string]string{}
	for range bad {
		d := errorMessage(t, ch, 10*time.Second)
		msg, _ := d.Headers[headerFaultMessage].(string)
		reasons[d.MessageId] = msg
		if d.Headers[headerFaultType] != "Calipso.Messaging.SerializationException" || headerInt(d.Headers, headerFaultRetryCount) != 0 {
			t.Errorf("%s: fault %v after %d retries; want a SerializationException at once",
				d.MessageId, d.Headers[headerFaultType], headerInt(d.Headers, headerFaultRetryCount))
		}
	}
	for i, m := range bad {
		id := "bad-" + string(rune('a'+i))
		if reason, ok := reasons[id]; !ok {
			t.Errorf("%s (%s) is not in the error queue", m.name, id)
		} else if !strings.Contains(reason, m.reason) || len(reason) > 2000 {
			t.Errorf("%s: fault message %.200q does not name %q briefly", m.name, reason, m.reason)
		}
	}
	eventually(t, 5*time.Second, "dead-lettered counter", func() bool { return value(r.m.DeadLettered) == float64(len(bad)) })
}

// publishProps sends a message with the given properties to the exchange of a message type.
func publishProps(t *testing.T, ch *amqp.Channel, messageType string, p amqp.Publishing) {
	t.Helper()
	if err := ch.PublishWithContext(t.Context(), ExchangeName(messageType), "", false, false, p); err != nil {
		t.Fatal(err)
	}
}
