package messaging

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"calipso/tracking"
)

func TestLiveSubscribesBeforeEveryEventAndAgainAfterAReconnect(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	var seen recorder
	r.sup.Live(func(_ context.Context, ev Event) {
		snap := "no snapshot"
		if ev.Departure != nil {
			snap = ev.Departure.PONumber
		}
		seen.add(fmt.Sprintf("%s v%d %s %s", ev.DepartureID, ev.Version, ev.Status, snap))
	}, func() { seen.add("subscribed") })
	r.relay()
	r.start()

	d := r.create("PO-1")
	d = r.change(d, tracking.StatusLoading)
	first := []string{"subscribed", d.PublicID() + " v1 Pending PO-1", d.PublicID() + " v2 Loading PO-1"}
	eventually(t, 10*time.Second, "the first events", func() bool { return len(seen.all()) >= 3 })
	if got := seen.all(); !slices.Equal(got, first) {
		t.Fatalf("live saw %q, want %q", got, first)
	}

	r.vhost.CloseConnections(t)
	eventually(t, 20*time.Second, "a second subscription", func() bool { return len(seen.all()) >= 4 })
	r.waitReady()
	d = r.change(d, tracking.StatusInTransit)
	want := append(first, "subscribed", d.PublicID()+" v3 In Transit PO-1")
	eventually(t, 10*time.Second, "the event after the reconnect", func() bool { return len(seen.all()) >= 5 })
	if got := seen.all(); !slices.Equal(got, want) {
		t.Fatalf("live saw %q, want %q", got, want)
	}
	if n := value(r.m.BrokerRedials); n != 1 {
		t.Errorf("redials = %v, want 1", n)
	}
	if n := value(r.m.BrokerConnected); n != 1 {
		t.Errorf("connected gauge = %v, want 1", n)
	}
}

func TestLiveAddedWhileConnectedStartsOnTheCurrentConnection(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	r.relay()
	r.start()
	subscribed := make(chan struct{}, 1)
	events := make(chan Event, 10)
	r.sup.Live(func(_ context.Context, ev Event) { events <- ev }, func() { subscribed <- struct{}{} })
	select {
	case <-subscribed:
	case <-time.After(10 * time.Second):
		t.Fatal("not subscribed")
	}
	d := r.create("PO-1")
	select {
	case ev := <-events:
		if ev.DepartureID != d.PublicID() || ev.Type != tracking.MessageDepartureUpdate {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event")
	}
}
