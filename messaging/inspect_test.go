package messaging

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/tracking"
)

// failing is a handler that fails for the departures it is told to, until told otherwise.
type failing struct {
	mu   sync.Mutex
	ids  map[string]bool
	seen map[string]int
}

func (f *failing) set(id string, fail bool) {
	f.mu.Lock()
	f.ids[id] = fail
	f.mu.Unlock()
}

func (f *failing) handle(_ context.Context, d Delivery) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen[d.Event.DepartureID]++
	if f.ids[d.Event.DepartureID] {
		return errors.New("downstream said no for " + d.Event.DepartureID)
	}
	return nil
}

func (r *rig) errorDepth(in *Inspector) int {
	r.t.Helper()
	st, err := in.Queue(r.t.Context(), queue+"_error")
	if err != nil {
		r.t.Fatal(err)
	}
	return st.Ready
}

func TestInspectorListsReplaysAndDeletesDeadLetters(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	h := &failing{ids: map[string]bool{}, seen: map[string]int{}}
	for _, id := range []string{"DEP-000001", "DEP-000002", "DEP-000003"} {
		h.set(id, true)
	}
	r.endpoint(h.handle, 0)
	in := r.sup.Inspector()
	r.start()
	ch := r.vhost.Channel(t)
	for i, id := range []string{"DEP-000001", "DEP-000002", "DEP-000003"} {
		publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "m-"+id,
			statusEvent(t, id, int64(i+2), tracking.StatusPending, tracking.StatusLoading))
	}
	eventually(t, 20*time.Second, "three dead letters", func() bool { return r.errorDepth(in) == 3 })

	total, list, err := in.DeadLetters(t.Context(), queue, 2)
	if err != nil {
		t.Fatal(err)
	}
	if total != 3 || len(list) != 2 {
		t.Fatalf("total %d, listed %d; want 3 and the first 2", total, len(list))
	}
	_, list, err = in.DeadLetters(t.Context(), queue, 10)
	if err != nil {
		t.Fatal(err)
	}
	var first DeadLetter
	for _, dl := range list {
		if dl.DepartureID == "DEP-000001" {
			first = dl
		}
	}
	if first.MessageID != "m-DEP-000001" || first.MessageType != tracking.MessageStatusUpdated ||
		first.FaultMessage != "downstream said no for DEP-000001" || first.FaultType == "" || first.FaultedAt.IsZero() {
		t.Fatalf("first dead letter %+v", first)
	}
	if n := r.errorDepth(in); n != 3 {
		t.Fatalf("listing removed messages: %d left", n)
	}

	// Replay one once its cause is fixed: it is consumed and leaves the error queue.
	h.set("DEP-000002", false)
	if err := in.Replay(t.Context(), queue, "m-DEP-000002"); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the replayed message consumed", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		return h.seen["DEP-000002"] == 2
	})
	if n := r.errorDepth(in); n != 2 {
		t.Fatalf("after replay %d dead letters, want 2", n)
	}
	if err := in.Replay(t.Context(), queue, "m-DEP-000002"); tracking.ErrorCode(err) != tracking.ENOTFOUND {
		t.Fatalf("replaying it again: %v, want ENOTFOUND", err)
	}

	// Delete one for good.
	if err := in.Delete(t.Context(), queue, "m-DEP-000003"); err != nil {
		t.Fatal(err)
	}
	if n := r.errorDepth(in); n != 1 {
		t.Fatalf("after delete %d dead letters, want 1", n)
	}

	// Replay all.
	h.set("DEP-000001", false)
	n, err := in.ReplayAll(t.Context(), queue)
	if err != nil || n != 1 {
		t.Fatalf("replay all: %d, %v", n, err)
	}
	eventually(t, 10*time.Second, "empty error queue", func() bool { return r.errorDepth(in) == 0 })
}

func TestInspectorReplaysAPoisonMessageBackThroughTheEndpoint(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.endpoint(func(context.Context, Delivery) error { return nil }, 0)
	in := r.sup.Inspector()
	r.start()
	ch := r.vhost.Channel(t)
	publish(t, ch, tracking.MessageStatusUpdated, ContentTypeJSON, "poison-1", []byte(`{"departureId":"DEP-000009","newStatus":`))
	eventually(t, 20*time.Second, "the poison message dead-lettered", func() bool { return r.errorDepth(in) == 1 })

	_, list, err := in.DeadLetters(t.Context(), queue, 10)
	if err != nil || len(list) != 1 {
		t.Fatalf("%v %v", list, err)
	}
	first := list[0]
	if first.MessageID != "poison-1" || first.FaultType != "Calipso.Messaging.SerializationException" ||
		first.FaultMessage == "" || first.DepartureID != "" {
		t.Fatalf("poison dead letter %+v", first)
	}
	// Replayed, it goes through the endpoint again (the consumer may have learnt to read it
	// since); this one still cannot be read, so it comes back, marked as replayed.
	if err := in.Replay(t.Context(), queue, "poison-1"); err != nil {
		t.Fatal(err)
	}
	var again DeadLetter
	eventually(t, 20*time.Second, "the replayed poison message faulted again", func() bool {
		_, list, err := in.DeadLetters(t.Context(), queue, 10)
		if err != nil || len(list) != 1 || !list[0].FaultedAt.After(first.FaultedAt) {
			return false
		}
		again = list[0]
		return true
	})
	if again.MessageID != "poison-1" || !again.Replayed {
		t.Fatalf("after replay: %+v", again)
	}
}

func TestInspectorReportsQueuesOverAMQP(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	in := r.sup.Inspector()
	r.start()
	ch := r.vhost.Channel(t)
	if _, err := ch.QueueDeclare("held", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if err := ch.PublishWithContext(t.Context(), "", "held", false, false, amqpText("x")); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "5 ready", func() bool {
		st, err := in.Queue(t.Context(), "held")
		return err == nil && st.Exists && st.Ready == 5 && st.Consumers == 0
	})
	st, err := in.Queue(t.Context(), "no-such-queue")
	if err != nil || st.Exists {
		t.Fatalf("a missing queue: %+v, %v", st, err)
	}
}

func TestInspectorSaysTheBrokerIsUnreachableBeforeConnecting(t *testing.T) {
	r := newRig(t)
	in := r.sup.Inspector() // never started
	if _, err := in.Queue(context.Background(), "x"); tracking.ErrorCode(err) != tracking.EUNAVAILABLE {
		t.Fatalf("got %v", err)
	}
}

func amqpText(s string) amqp.Publishing {
	return amqp.Publishing{ContentType: "text/plain", Body: []byte(s)}
}
