package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/internal/servicetest"
	"calipso/messaging"
	"calipso/store"
	"calipso/tracking"
)

// These tests run the whole app (startServer) against the real RabbitMQ, Redis and database,
// each in a virtual host, key prefix and database of its own.

// metric reads a sample of the app's /metrics, such as `calipso_messages_consumed_total`.
func metric(t *testing.T, baseURL, sample string) float64 {
	t.Helper()
	res, err := http.Get(baseURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			f, _ := strconv.ParseFloat(v, 64)
			return f
		}
	}
	return 0
}

// tapQueue declares a durable queue bound to the exchange of every message type, so that the
// test sees every message the app publishes, across broker connection losses.
func tapQueue(t *testing.T, vh servicetest.VHost, name string) {
	t.Helper()
	ch := vh.Channel(t)
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	for _, mt := range tracking.MessageTypes {
		if err := ch.ExchangeDeclare(messaging.ExchangeName(mt), "fanout", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
		if err := ch.QueueBind(name, "", messaging.ExchangeName(mt), false, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// drainTap reads every message in the tap queue, in queue order, on a connection of its own.
func drainTap(t *testing.T, vh servicetest.VHost, name string) []amqp.Delivery {
	t.Helper()
	ch := vh.Channel(t)
	var out []amqp.Delivery
	for {
		d, ok, err := ch.Get(name, true)
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		out = append(out, d)
	}
}

func decode(t *testing.T, d amqp.Delivery) messaging.Event {
	t.Helper()
	ev, err := messaging.Decode(&d)
	if err != nil {
		t.Fatalf("message %s: %v", d.Body, err)
	}
	return ev
}

// openStore opens the app's database beside it, for the test to look into.
func openBeside(t *testing.T, url string) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// services gives a test its own virtual host and Redis prefix, as the app's environment.
func services(t *testing.T) (servicetest.VHost, servicetest.Redis, map[string]string) {
	t.Helper()
	vh := servicetest.RabbitMQ(t)
	red := servicetest.RedisPrefix(t)
	return vh, red, map[string]string{
		"RABBITMQ_URL": vh.URL, "REDIS_URL": red.URL, "CALIPSO_REDIS_PREFIX": red.Prefix,
		"CALIPSO_OUTBOX_POLL": "100ms", "CALIPSO_RETRY_DELAYS": "200ms,500ms",
	}
}

func TestReadyzIs503WithAReasonWhileTheBrokerIsUnreachableAndHealthzStays200(t *testing.T) {
	t.Parallel()
	s := &server{env: map[string]string{
		"CALIPSO_ADDR":           "127.0.0.1:" + freePort(t),
		"DATABASE_URL":           "sqlite:" + t.TempDir() + "/calipso.db",
		"CALIPSO_ADMIN_PASSWORD": adminPassword,
		"RABBITMQ_URL":           "amqp://guest:guest@127.0.0.1:" + freePort(t) + "/", // nothing listens there
	}}
	s.URL = "http://" + s.env["CALIPSO_ADDR"]
	s.launch(t)

	var code int
	var body string
	waitFor(t, 20*time.Second, "readyz 503 naming the broker", func() bool {
		res, err := http.Get(s.URL + "/readyz")
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		code, body = res.StatusCode, string(b)
		return code == http.StatusServiceUnavailable && strings.Contains(body, "broker: not connected")
	})
	if strings.Contains(body, "database") {
		t.Errorf("readyz blames the database: %q", body)
	}
	res, err := http.Get(s.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("healthz = %d, want 200", res.StatusCode)
	}
}

func TestAStatusChangeThroughTheFormPublishesOneMessageThatTheConsumerHandles(t *testing.T) {
	t.Parallel()
	vh, red, env := services(t)
	ch := vh.Channel(t)
	for _, mt := range tracking.MessageTypes {
		if err := ch.ExchangeDeclare(messaging.ExchangeName(mt), "fanout", true, false, false, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	q, _ := ch.QueueDeclare("", false, true, true, false, nil)
	ch.QueueBind(q.Name, "", messaging.ExchangeName(tracking.MessageStatusUpdated), false, nil)
	status, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := startServer(t, env)
	st := openBeside(t, srv.env["DATABASE_URL"])
	s := httpLogin(t, srv.URL, "admin", adminPassword)
	id := s.create("PO-E2E")

	// Once the creation's own event has been handled, fill the departure's keys through the
	// pages.
	waitFor(t, 10*time.Second, "the creation consumed", func() bool {
		v, _ := st.HandledVersion(t.Context(), messaging.TrackingScreenQueue, id)
		return v == 1
	})
	depKey := red.Prefix + "tracking:departure:" + id
	pendingKey := red.Prefix + "tracking:departures:status:pending"
	for range 2 {
		if code, body := s.get("/departures/" + id); code != http.StatusOK || !strings.Contains(body, "PO-E2E") {
			t.Fatalf("detail: %d", code)
		}
		if code, body := s.get("/departures?date=&status=Pending"); code != http.StatusOK || !strings.Contains(body, "PO-E2E") {
			t.Fatalf("list: %d", code)
		}
	}
	if n := red.Client.Exists(t.Context(), depKey, pendingKey).Val(); n != 2 {
		t.Fatalf("%d of the departure and the Pending list cached, want both", n)
	}
	if hits := metric(t, srv.URL, `calipso_cache_requests_total{result="hit"}`); hits < 2 {
		t.Fatalf("%v cache hits, want the second reads from Redis", hits)
	}

	if err := s.tryChangeStatus(id, 1, tracking.StatusLoading); err != nil {
		t.Fatal(err)
	}
	select {
	case d := <-status:
		ev := decode(t, d)
		if d.Exchange != "Calipso.Tracking.Messages:DepartureStatusUpdated" || d.ContentType != messaging.ContentTypeMassTransit ||
			d.DeliveryMode != amqp.Persistent || ev.DepartureID != id || ev.Version != 2 ||
			ev.PreviousStatus != tracking.StatusPending || ev.Status != tracking.StatusLoading {
			t.Fatalf("message on %s (%s): %+v", d.Exchange, d.ContentType, ev)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no DepartureStatusUpdated message")
	}
	// The consumer of the tracking screens' queue handled it: version 2 is recorded, and the
	// departure's keys and the Pending lists are gone.
	waitFor(t, 10*time.Second, "the change consumed", func() bool {
		v, _ := st.HandledVersion(t.Context(), messaging.TrackingScreenQueue, id)
		return v == 2
	})
	if n := red.Client.Exists(t.Context(), depKey, pendingKey).Val(); n != 0 {
		t.Fatalf("%d stale keys left", n)
	}
	select {
	case d := <-status:
		t.Fatalf("a second status message: %s", d.Body)
	case <-time.After(300 * time.Millisecond):
	}
	if code, body := s.get("/departures/" + id); code != http.StatusOK || !strings.Contains(body, "Loading") {
		t.Fatalf("detail after the change: %d", code)
	}
	waitFor(t, 5*time.Second, "published counter at 2", func() bool {
		return metric(t, srv.URL, "calipso_messages_published_total") == 2
	})
}

// chain is a departure's life in five status changes.
var chain = []tracking.Status{tracking.StatusLoading, tracking.StatusDelayed, tracking.StatusLoading, tracking.StatusInTransit, tracking.StatusArrived}

func TestEveryChangeIsPublishedAndConsumedWhileTheBrokerDropsEveryConnection(t *testing.T) {
	t.Parallel()
	vh, _, env := services(t)
	tapQueue(t, vh, "test-tap")
	srv := startServer(t, env)
	st := openBeside(t, srv.env["DATABASE_URL"])
	s := httpLogin(t, srv.URL, "admin", adminPassword)

	const departures = 60 // × 5 changes = 300
	ids := make([]string, departures)
	for i := range ids {
		ids[i] = s.create(fmt.Sprintf("PO-%03d", i))
	}

	// The stream: 6 dispatchers, one change every 10ms between them. The broker drops every
	// connection after 60 changes and again after 160; changes 81 on and 181 on wait until the
	// drop before them is over, so that some are made while the app reconnects.
	start := time.Now()
	var (
		ticket, done atomic.Int64
		wg           sync.WaitGroup
		mu           sync.Mutex
		failed       []error
	)
	drops := []struct {
		after, holdFrom int64
		over            chan struct{}
	}{{60, 81, make(chan struct{})}, {160, 181, make(chan struct{})}}
	pace := time.NewTicker(10 * time.Millisecond)
	defer pace.Stop()
	for w := range 6 {
		wg.Go(func() {
			for i := w; i < departures; i += 6 {
				for v, to := range chain {
					<-pace.C
					n := ticket.Add(1)
					for _, d := range drops {
						if n >= d.holdFrom {
							<-d.over
						}
					}
					if err := s.tryChangeStatus(ids[i], int64(v+1), to); err != nil {
						mu.Lock()
						failed = append(failed, err)
						mu.Unlock()
						return
					}
					done.Add(1)
				}
			}
		})
	}
	for _, d := range drops {
		waitFor(t, 60*time.Second, fmt.Sprintf("%d changes", d.after), func() bool { return done.Load() >= d.after })
		vh.CloseConnections(t)
		t.Logf("the broker dropped every connection after %d changes", done.Load())
		close(d.over)
	}
	wg.Wait()
	for _, err := range failed {
		t.Error(err)
	}
	if done.Load() != departures*int64(len(chain)) {
		t.Fatalf("%d changes made, want %d", done.Load(), departures*len(chain))
	}
	streamed := time.Since(start)

	// Every change is published and consumed, and the outbox ends empty.
	waitFor(t, 60*time.Second, "every final version consumed", func() bool {
		for _, id := range ids {
			if v, err := st.HandledVersion(t.Context(), messaging.TrackingScreenQueue, id); err != nil || v != int64(len(chain)+1) {
				return false
			}
		}
		return true
	})
	waitFor(t, 30*time.Second, "the outbox empty", func() bool {
		o, err := st.OutboxStats(t.Context())
		return err == nil && o.Pending == 0
	})
	seen := map[string]int{}
	msgs := drainTap(t, vh, "test-tap")
	for _, d := range msgs {
		ev := decode(t, d)
		seen[fmt.Sprintf("%s v%d", ev.DepartureID, ev.Version)]++
	}
	missing := 0
	for _, id := range ids {
		for v := 1; v <= len(chain)+1; v++ {
			if seen[fmt.Sprintf("%s v%d", id, v)] == 0 {
				missing++
				t.Errorf("%s v%d never published", id, v)
			}
		}
	}
	redials := metric(t, srv.URL, "calipso_broker_reconnects_total")
	if redials < 2 {
		t.Errorf("%v reconnects, want the two drops seen", redials)
	}
	t.Logf("%d status changes in %s; %d messages on the exchanges for %d events (%d duplicates), %v reconnects, %v publish failures retried, %v consumed, %d missing; all consumed %s after the start",
		done.Load(), streamed.Round(time.Millisecond), len(msgs), len(seen), len(msgs)-len(seen), redials,
		metric(t, srv.URL, "calipso_messages_publish_failed_total"), metric(t, srv.URL, "calipso_messages_consumed_total"),
		missing, time.Since(start).Round(time.Millisecond))
	if code, _ := s.get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz %d after the drops", code)
	}
}

// TestCalipsoServeProcess is not a test: it is `calipso serve` in a process of its own, which
// TestAKilledAppPublishesItsCommittedChangesOnTheNextStart starts and kills.
func TestCalipsoServeProcess(t *testing.T) {
	if os.Getenv("CALIPSO_TEST_SERVE_PROCESS") != "1" {
		t.Skip("runs only as the child of another test")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := run(ctx, []string{"serve"}, os.Getenv, nil, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(0)
}

func TestAKilledAppPublishesItsCommittedChangesOnTheNextStart(t *testing.T) {
	t.Parallel()
	vh, red, env := services(t)
	tapQueue(t, vh, "test-tap")
	dbURL := "sqlite:" + t.TempDir() + "/calipso.db"
	addr := "127.0.0.1:" + freePort(t)

	// The first process commits changes but cannot publish them: its broker is away.
	child := exec.Command(os.Args[0], "-test.run=^TestCalipsoServeProcess$")
	child.Env = append(os.Environ(),
		"CALIPSO_TEST_SERVE_PROCESS=1", "CALIPSO_ADDR="+addr, "DATABASE_URL="+dbURL,
		"CALIPSO_ADMIN_PASSWORD="+adminPassword, "CALIPSO_TIMEZONE=UTC",
		"RABBITMQ_URL=amqp://guest:guest@127.0.0.1:"+freePort(t)+"/",
		"REDIS_URL="+red.URL, "CALIPSO_REDIS_PREFIX="+red.Prefix)
	var out syncBuffer
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- child.Wait() }()
	t.Cleanup(func() { child.Process.Kill() })
	waitFor(t, 30*time.Second, "the first process serving", func() bool {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
		}
		return err == nil && res.StatusCode == http.StatusOK
	})
	s := httpLogin(t, "http://"+addr, "admin", adminPassword)
	id := s.create("PO-KILLED")
	if err := s.tryChangeStatus(id, 1, tracking.StatusLoading); err != nil {
		t.Fatal(err)
	}
	st := openBeside(t, dbURL)
	if o, err := st.OutboxStats(t.Context()); err != nil || o.Pending != 2 {
		t.Fatalf("outbox %+v, %v before the kill; want 2 pending", o, err)
	}
	if err := child.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-exited

	// The next start, with the broker, publishes them.
	env["DATABASE_URL"] = dbURL
	srv := startServer(t, env)
	waitFor(t, 20*time.Second, "the outbox empty", func() bool {
		o, err := st.OutboxStats(t.Context())
		return err == nil && o.Pending == 0
	})
	msgs := drainTap(t, vh, "test-tap")
	var got []string
	for _, d := range msgs {
		ev := decode(t, d)
		got = append(got, fmt.Sprintf("%s %s v%d", ev.Type, ev.DepartureID, ev.Version))
	}
	want := []string{"DepartureUpdated " + id + " v1", "DepartureStatusUpdated " + id + " v2"}
	if strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Fatalf("published %q, want %q\nfirst process:\n%s", got, want, out.String())
	}
	waitFor(t, 5*time.Second, "published counter at 2", func() bool {
		return metric(t, srv.URL, "calipso_messages_published_total") == 2
	})
}

func TestPagesWorkWhileRedisIsUnreachable(t *testing.T) {
	t.Parallel()
	vh := servicetest.RabbitMQ(t)
	srv := startServer(t, map[string]string{
		"RABBITMQ_URL": vh.URL,
		"REDIS_URL":    "redis://127.0.0.1:" + freePort(t) + "/0", // nothing listens there
	})
	s := httpLogin(t, srv.URL, "admin", adminPassword)
	id := s.create("PO-NOREDIS")
	if err := s.tryChangeStatus(id, 1, tracking.StatusLoading); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if code, body := s.get("/departures/" + id); code != http.StatusOK || !strings.Contains(body, "PO-NOREDIS") || !strings.Contains(body, "Loading") {
			t.Fatalf("detail: %d", code)
		}
		if code, body := s.get("/departures?date="); code != http.StatusOK || !strings.Contains(body, "PO-NOREDIS") {
			t.Fatalf("list: %d", code)
		}
	}
	if n := metric(t, srv.URL, `calipso_cache_requests_total{result="error"}`); n < 6 {
		t.Fatalf("%v cache errors counted, want every read", n)
	}
	if code, _ := s.get("/readyz"); code != http.StatusOK {
		t.Fatalf("readyz %d: Redis is a cache, not a dependency", code)
	}
}

func TestTwoInstancesOnPostgreSQLPublishEveryChangeInOrderPerDeparture(t *testing.T) {
	t.Parallel()
	vh, _, env := services(t)
	env["DATABASE_URL"] = servicetest.Postgres(t)
	tapQueue(t, vh, "test-tap")
	a := startServer(t, env)
	b := startServer(t, env)
	sa, sb := httpLogin(t, a.URL, "admin", adminPassword), httpLogin(t, b.URL, "admin", adminPassword)

	const departures = 20
	ids := make([]string, departures)
	for i := range ids {
		ids[i] = sa.create(fmt.Sprintf("PO-%03d", i))
	}
	var wg sync.WaitGroup
	errs := make(chan error, departures)
	for i, id := range ids {
		wg.Go(func() {
			for v, to := range chain {
				via := sa // the dispatchers alternate between the instances
				if (i+v)%2 == 1 {
					via = sb
				}
				if err := via.tryChangeStatus(id, int64(v+1), to); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	st := openBeside(t, env["DATABASE_URL"])
	waitFor(t, 30*time.Second, "the outbox empty", func() bool {
		o, err := st.OutboxStats(t.Context())
		return err == nil && o.Pending == 0
	})
	highest := map[string]int64{}
	count := 0
	for _, d := range drainTap(t, vh, "test-tap") {
		ev := decode(t, d)
		count++
		switch {
		case ev.Version == highest[ev.DepartureID]: // a duplicate of the newest: harmless
		case ev.Version != highest[ev.DepartureID]+1:
			t.Errorf("%s v%d arrived after v%d", ev.DepartureID, ev.Version, highest[ev.DepartureID])
		default:
			highest[ev.DepartureID] = ev.Version
		}
	}
	for _, id := range ids {
		if highest[id] != int64(len(chain)+1) {
			t.Errorf("%s: last version seen %d, want %d", id, highest[id], len(chain)+1)
		}
	}
	t.Logf("%d messages for %d events; published by A %v, by B %v", count, departures*(len(chain)+1),
		metric(t, a.URL, "calipso_messages_published_total"), metric(t, b.URL, "calipso_messages_published_total"))
}
