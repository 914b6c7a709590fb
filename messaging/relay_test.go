package messaging

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"calipso/tracking"
)

func TestRelayPublishesEveryRowWithTheContractPropertiesThenEmptiesTheOutbox(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	deliveries := r.tap(r.vhost.Channel(t))
	r.relay()
	r.start()

	d := r.create("PO-1")
	d = r.change(d, tracking.StatusLoading)
	rows := []struct{ typ, exchange string }{
		{tracking.MessageDepartureUpdate, "Calipso.Tracking.Messages:DepartureUpdated"},
		{tracking.MessageStatusUpdated, "Calipso.Tracking.Messages:DepartureStatusUpdated"},
	}
	for i, want := range rows {
		m := receive(t, deliveries, 10*time.Second)
		if m.Exchange != want.exchange || m.RoutingKey != "" || m.ContentType != "application/vnd.masstransit+json" ||
			m.DeliveryMode != 2 || m.MessageId == "" {
			t.Errorf("message %d: exchange %q, routing key %q, content type %q, delivery mode %d, message id %q",
				i, m.Exchange, m.RoutingKey, m.ContentType, m.DeliveryMode, m.MessageId)
		}
		var env Envelope
		if err := json.Unmarshal(m.Body, &env); err != nil {
			t.Fatal(err)
		}
		if env.MessageID != m.MessageId || len(env.MessageType) != 1 || env.MessageType[0] != "urn:message:"+want.exchange ||
			!strings.HasPrefix(env.DestinationAddress, "rabbitmq://127.0.0.1/"+r.vhost.Name+"/") {
			t.Errorf("message %d: envelope %s", i, m.Body)
		}
		ev, err := Decode(&m)
		if err != nil {
			t.Fatal(err)
		}
		if ev.Type != want.typ || ev.DepartureID != d.PublicID() || ev.Version != int64(i+1) {
			t.Errorf("message %d: event %+v", i, ev)
		}
	}
	eventually(t, 5*time.Second, "outbox empty", func() bool { return r.pending() == 0 })
	eventually(t, 5*time.Second, "published counter at 2", func() bool { return value(r.m.Published) == 2 })
	select {
	case m := <-deliveries:
		t.Fatalf("a third message: %s", m.Body)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestRelayKeepsARowNoQueueTakesUntilOneDoes(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.relay()
	r.start()

	r.create("PO-1") // no queue is bound to the exchange: the broker returns it
	eventually(t, 10*time.Second, "a failed publish", func() bool { return value(r.m.PublishFailed) >= 1 })
	if n := r.pending(); n != 1 {
		t.Fatalf("%d rows pending after a return, want 1", n)
	}
	if n := value(r.m.Published); n != 0 {
		t.Fatalf("published counter = %v after a return, want 0", n)
	}
	deliveries := r.tap(r.vhost.Channel(t))
	m := receive(t, deliveries, 10*time.Second)
	if ev, err := Decode(&m); err != nil || ev.Version != 1 {
		t.Fatalf("event %+v, %v", ev, err)
	}
	eventually(t, 5*time.Second, "outbox empty", func() bool { return r.pending() == 0 })
}

func TestRelayPublishesRowsWrittenWhileItWasNotRunning(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	deliveries := r.tap(r.vhost.Channel(t))
	// The app committed these and died before publishing them.
	d := r.create("PO-1")
	r.change(d, tracking.StatusLoading)
	<-r.st.Committed() // the signal died with it

	r.relay()
	r.start()
	for i := range 2 {
		m := receive(t, deliveries, 10*time.Second)
		if ev, err := Decode(&m); err != nil || ev.Version != int64(i+1) {
			t.Fatalf("message %d: %+v, %v", i, ev, err)
		}
	}
	eventually(t, 5*time.Second, "outbox empty", func() bool { return r.pending() == 0 })
}
