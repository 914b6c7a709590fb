package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/cache"
	"calipso/handlers"
	"calipso/internal/servicetest"
	"calipso/messaging"
	"calipso/metrics"
	"calipso/monitor"
	"calipso/store"
	"calipso/tracking"
	"calipso/web"
)

// console builds the admin page's console over the broker at brokerURL, for the app whose deps
// are d; it runs until the test ends. With a broker that is never reached the page still
// renders, every panel saying what it could not read.
func console(t *testing.T, d *web.Deps, brokerURL, redisURL string) *handlers.Console {
	t.Helper()
	st := d.Audit.(*store.Store)
	m := metrics.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sup := messaging.NewSupervisor(messaging.SupervisorConfig{URL: brokerURL, Log: log, Metrics: m, MaxRedial: time.Second})
	in := sup.Inspector()
	c, err := cache.New(cache.Config{URL: redisURL, Log: log, Metrics: m})
	if err != nil {
		t.Fatal(err)
	}
	mon := monitor.New(monitor.Config{
		Inspector: in, Broker: sup, Endpoint: messaging.TrackingScreenQueue,
		Outbox: st, Database: st, Cache: c, Metrics: m, Every: 200 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { sup.Run(ctx); done <- struct{}{} }()
	go func() { mon.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() {
		cancel()
		<-done
		<-done
		c.Close()
	})
	return &handlers.Console{
		Pipeline: mon, DeadLetters: in, Endpoint: messaging.TrackingScreenQueue,
		Screens: d.Board.Hub, Audit: st, Replayed: m.Replayed,
	}
}

// offlineConsole is a console whose broker and Redis are unreachable, for tests of the routes
// rather than of the pipeline.
func offlineConsole(t *testing.T, d *web.Deps) *handlers.Console {
	return console(t, d, "amqp://guest:guest@127.0.0.1:1/", "redis://127.0.0.1:1/0")
}

var queueReady = regexp.MustCompile(`data-queue="` + messaging.TrackingScreenQueue + `"[^>]*>(?s:.*?)data-ready>(\d+)<`)

// TestQueuePanelShowsWhatTheBrokerHoldsWhileTheConsumerIsStopped: the endpoint's topology is
// declared by a consumer that then stops; N events published meanwhile wait in its queue, and
// the page shows exactly N, with no consumer, as an alarm.
func TestQueuePanelShowsWhatTheBrokerHoldsWhileTheConsumerIsStopped(t *testing.T) {
	vh := servicetest.RabbitMQ(t)
	red := servicetest.RedisPrefix(t)

	// A consumer declares the endpoint, then stops.
	consumer := messaging.NewSupervisor(messaging.SupervisorConfig{URL: vh.URL, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	consumer.Endpoint(messaging.EndpointConfig{Queue: messaging.TrackingScreenQueue,
		Handler: func(context.Context, messaging.Delivery) error { return nil }})
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { consumer.Run(ctx); close(stopped) }()
	deadline := time.Now().Add(20 * time.Second)
	for consumer.Ready(ctx) != nil {
		if time.Now().After(deadline) {
			t.Fatal("the consumer never connected")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	<-stopped

	const n = 7
	ch := vh.Channel(t)
	for i := range n {
		body, _ := json.Marshal(tracking.DepartureStatusUpdated{DepartureID: tracking.FormatID(int64(i + 1)),
			NewStatus: tracking.StatusLoading, PreviousStatus: tracking.StatusPending, Version: 2, Timestamp: time.Now().UTC()})
		err := ch.PublishWithContext(t.Context(), messaging.ExchangeName(tracking.MessageStatusUpdated), "", false, false,
			amqp.Publishing{ContentType: messaging.ContentTypeJSON, DeliveryMode: amqp.Persistent, Body: body})
		if err != nil {
			t.Fatal(err)
		}
	}

	ta := newTestAppWith(t, func(d *web.Deps) { d.Admin = console(t, d, vh.URL, red.URL) })
	c := ta.loggedIn("boss")
	var page string
	deadline = time.Now().Add(20 * time.Second)
	for {
		res := c.get("/admin")
		page = res.body
		if m := queueReady.FindStringSubmatch(page); m != nil && m[1] == "7" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue panel never showed %d ready: %.4000s", n, page)
		}
		time.Sleep(100 * time.Millisecond)
	}
	q, err := ch.QueueDeclarePassive(messaging.TrackingScreenQueue, true, false, false, false, nil)
	if err != nil || q.Messages != n || q.Consumers != 0 {
		t.Fatalf("the broker says %d ready, %d consumers (%v)", q.Messages, q.Consumers, err)
	}
	if !strings.Contains(page, "Needs attention") || !strings.Contains(page, "Queue "+messaging.TrackingScreenQueue+": 7 ready, 0 consumers") {
		t.Errorf("a consumer queue with no consumer is not an alarm: %.3000s", page)
	}
}

func TestAdminPageRendersEveryPanelWhileTheBrokerAndRedisAreDown(t *testing.T) {
	ta := newTestAppWith(t, func(d *web.Deps) { d.Admin = offlineConsole(t, d) })
	c := ta.loggedIn("boss")
	res := c.get("/admin")
	if res.status != 200 {
		t.Fatalf("status %d", res.status)
	}
	for _, want := range []string{"panel-queues", "panel-outbox", "panel-dead-letters", "panel-latency",
		"panel-dependencies", "panel-screens", "Needs attention", "RabbitMQ is down", "Redis is down", "Cannot read the dead letters"} {
		if !strings.Contains(res.body, want) {
			t.Errorf("the page does not show %q", want)
		}
	}
}

func TestDeadLetterActionsNeedAnAdminAndAToken(t *testing.T) {
	ta := newTestAppWith(t, func(d *web.Deps) { d.Admin = offlineConsole(t, d) })
	dispatcher := ta.loggedIn("dispatcher")
	if res := dispatcher.get("/admin"); res.status != 403 {
		t.Errorf("a dispatcher gets %d on /admin", res.status)
	}
	if res := dispatcher.post("/admin/dead-letters/replay-all", nil); res.status != 403 {
		t.Errorf("a dispatcher gets %d on replay-all", res.status)
	}
	boss := ta.loggedIn("boss")
	if res := boss.post("/admin/dead-letters/replay-all", map[string][]string{"_csrf": {"forged"}}); res.status != 403 {
		t.Errorf("a forged token gets %d", res.status)
	}
}
