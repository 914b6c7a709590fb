package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/messaging"
	"calipso/tracking"
)

// Tests of the admin page against a real `calipso serve` with the real pipeline.

var deadLetterTotal = regexp.MustCompile(`data-dead-letter-total>(\d+)<`)

// deadLetters is the total the page's dead-letter panel shows (0 when it shows none).
func deadLetters(t *testing.T, s *session) int {
	t.Helper()
	code, body := s.get("/admin")
	if code != http.StatusOK {
		t.Fatalf("GET /admin: %d", code)
	}
	if m := deadLetterTotal.FindStringSubmatch(body); m != nil {
		n, _ := strconv.Atoi(m[1])
		return n
	}
	if !strings.Contains(body, "None in") {
		t.Fatalf("the dead-letter panel shows neither a total nor 'None': %.2000s", body)
	}
	return 0
}

// errorQueueDepth is what the broker itself says of the _error queue.
func errorQueueDepth(t *testing.T, ch *amqp.Channel) int {
	t.Helper()
	q, err := ch.QueueDeclarePassive(messaging.ErrorQueue(messaging.TrackingScreenQueue), true, false, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	return q.Messages
}

func TestDeadLetterPanelShowsAPoisonMessageAndReplaysAndDeletesDeadLetters(t *testing.T) {
	t.Parallel()
	vh, _, env := services(t)
	srv := startServer(t, env)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server log:\n%s", srv.out)
		}
	})
	admin := httpLogin(t, srv.URL, "admin", adminPassword)
	ch := vh.Channel(t)

	// A poison message from a misbehaving publisher: it names a departure in markup.
	err := ch.PublishWithContext(t.Context(), messaging.ExchangeName(tracking.MessageStatusUpdated), "", false, false, amqp.Publishing{
		ContentType: messaging.ContentTypeJSON, MessageId: "poison-1",
		Body: []byte(`{"departureId":"<script>alert(1)</script>","newStatus":`),
	})
	if err != nil {
		t.Fatal(err)
	}
	// A dead letter of a message that failed for a reason since fixed: a real event of a real
	// departure, as the endpoint moves it to _error.
	st := srv.store(t)
	d := createDeparture(t, st, "Tver", "D2", time.Hour)
	d, err = st.ChangeStatus(t.Context(), d.ID, d.Version, tracking.StatusLoading, "", "seed")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(tracking.NewStatusUpdated(d, tracking.StatusPending, ""))
	err = ch.PublishWithContext(t.Context(), messaging.ErrorQueue(messaging.TrackingScreenQueue), "", false, false, amqp.Publishing{
		ContentType: messaging.ContentTypeJSON, MessageId: "failed-1", DeliveryMode: amqp.Persistent, Body: body,
		Headers: amqp.Table{"MT-Reason": "fault", "MT-Fault-ExceptionType": "Calipso.Messaging.ConsumerException",
			"MT-Fault-Message": "redis: connection refused", "MT-Fault-Timestamp": time.Now().UTC().Format(time.RFC3339Nano),
			"MT-Fault-RetryCount": int32(8)},
	})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "two dead letters on the page", func() bool { return deadLetters(t, admin) == 2 })

	_, page := admin.get("/admin")
	for _, want := range []string{`data-dead-letter="poison-1"`, "Calipso.Messaging.SerializationException", "undecodable message",
		`data-dead-letter="failed-1"`, "redis: connection refused", d.PublicID()} {
		if !strings.Contains(page, want) {
			t.Errorf("the dead-letter panel does not show %q", want)
		}
	}
	if strings.Contains(page, "<script>alert(1)</script>") {
		t.Error("a dead letter's body reached the page unescaped")
	}

	// Replay the one whose cause is fixed: the consumer handles it, and it leaves _error.
	if code, body := admin.post("/admin/dead-letters/failed-1/replay", url.Values{}); code != http.StatusSeeOther {
		t.Fatalf("replay: %d %.500s", code, body)
	}
	waitFor(t, 20*time.Second, "the _error queue down to 1", func() bool { return errorQueueDepth(t, ch) == 1 })
	waitFor(t, 20*time.Second, "the replayed event handled", func() bool {
		v, err := st.HandledVersion(t.Context(), messaging.TrackingScreenQueue, d.PublicID())
		return err == nil && v == d.Version
	})
	if n := metric(t, srv.URL, "calipso_messages_replayed_total"); n != 1 {
		t.Errorf("calipso_messages_replayed_total %v, want 1", n)
	}

	// Deleting needs a confirmation; then the poison message is gone for good.
	if code, _ := admin.post("/admin/dead-letters/poison-1/delete", url.Values{}); code != http.StatusUnprocessableEntity {
		t.Fatalf("delete without confirmation: %d, want 422", code)
	}
	if code, body := admin.get("/admin/dead-letters/poison-1/delete"); code != http.StatusOK || !strings.Contains(body, "poison-1") {
		t.Fatalf("the confirmation page: %d", code)
	}
	if code, body := admin.post("/admin/dead-letters/poison-1/delete", url.Values{"confirm": {"yes"}}); code != http.StatusSeeOther {
		t.Fatalf("delete: %d %.500s", code, body)
	}
	if n := errorQueueDepth(t, ch); n != 0 {
		t.Fatalf("_error holds %d after the delete", n)
	}
	if n := deadLetters(t, admin); n != 0 {
		t.Fatalf("the page shows %d dead letters after the delete", n)
	}
	if code, _ := admin.post("/admin/dead-letters/poison-1/delete", url.Values{"confirm": {"yes"}}); code != http.StatusNotFound {
		t.Fatalf("deleting it twice: %d, want 404", code)
	}

	// Each action is in the audit log, with who did it.
	_, audit := admin.get("/admin/audit?action=deadletter")
	for _, want := range []string{"deadletter.replay", "deadletter.delete", "failed-1", "poison-1"} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit log does not show %q", want)
		}
	}
}

var pendingRows = regexp.MustCompile(`Pending rows</dt>\s*<dd class="mt-1">(\d+)</dd>`)

// outbox reads the outbox panel: pending rows and whether it raises the alarm.
func outbox(t *testing.T, s *session) (pending int, alarm bool) {
	t.Helper()
	_, body := s.get("/admin")
	m := pendingRows.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no outbox panel: %.3000s", body)
	}
	pending, _ = strconv.Atoi(m[1])
	return pending, strings.Contains(body, `data-outbox-alarm="true"`)
}

func TestOutboxPanelShowsTheBacklogWhileTheBrokerIsUnreachableAndDrainsAfter(t *testing.T) {
	t.Parallel()
	vh, _, env := services(t)
	env["CALIPSO_OUTBOX_ALARM"] = "1s"
	srv := startServer(t, env)
	admin := httpLogin(t, srv.URL, "admin", adminPassword)

	vh.DenyAccess(t)
	waitFor(t, 20*time.Second, "/readyz to notice the broker is gone", func() bool {
		res, err := http.Get(srv.URL + "/readyz")
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusServiceUnavailable
	})
	st := srv.store(t)
	for i := range 3 {
		d := createDeparture(t, st, "Kazan", "D"+strconv.Itoa(i), time.Hour)
		admin.changeStatus(d, tracking.StatusLoading)
	}
	waitFor(t, 10*time.Second, "the backlog and its alarm on the page", func() bool {
		n, alarm := outbox(t, admin)
		return n >= 3 && alarm
	})
	_, page := admin.get("/admin")
	if !strings.Contains(page, "RabbitMQ") || !strings.Contains(page, "Needs attention") {
		t.Error("the page does not say the broker is down")
	}

	vh.AllowAccess(t)
	waitFor(t, 60*time.Second, "the outbox drained", func() bool {
		n, alarm := outbox(t, admin)
		return n == 0 && !alarm
	})
}

func TestMetricsHaveTheDocumentedSeriesAndTheyMoveWhenEventsFlow(t *testing.T) {
	t.Parallel()
	_, _, env := services(t)
	srv := startServer(t, env)
	exposition := func() string {
		res, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return string(b)
	}
	// The queue gauges appear with the monitor's first sample of the broker.
	waitFor(t, 10*time.Second, "the queue gauges", func() bool {
		return strings.Contains(exposition(), "\ncalipso_queue_messages{")
	})
	text := exposition()
	for _, name := range strings.Fields(`calipso_messages_published_total calipso_messages_consumed_total
		calipso_messages_retried_total calipso_messages_dead_lettered_total calipso_messages_replayed_total
		calipso_commit_to_confirm_seconds_bucket calipso_confirm_to_consume_seconds_bucket calipso_consume_to_socket_seconds_bucket
		calipso_outbox_backlog calipso_queue_messages calipso_queue_consumers calipso_screens_connected
		calipso_broker_connected calipso_broker_reconnects_total calipso_cache_requests_total`) {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	published := metric(t, srv.URL, "calipso_messages_published_total")
	consumed := metric(t, srv.URL, "calipso_messages_consumed_total")
	admin := httpLogin(t, srv.URL, "admin", adminPassword)
	d := createDeparture(t, srv.store(t), "Riga", "D1", time.Hour)
	admin.changeStatus(d, tracking.StatusLoading)
	waitFor(t, 20*time.Second, "published and consumed counters to move", func() bool {
		return metric(t, srv.URL, "calipso_messages_published_total") >= published+2 &&
			metric(t, srv.URL, "calipso_messages_consumed_total") >= consumed+2
	})
	if n := metric(t, srv.URL, "calipso_commit_to_confirm_seconds_count"); n < 2 {
		t.Errorf("commit-to-confirm latency has %v samples", n)
	}
}

func TestAdminPageIsForAdminsOnly(t *testing.T) {
	t.Parallel()
	_, _, env := services(t)
	srv := startServer(t, env)
	addTestUser(t, srv.store(t), "olga", tracking.RoleDispatcher)
	dispatcher := httpLogin(t, srv.URL, "olga", adminPassword)
	if code, _ := dispatcher.get("/admin"); code != http.StatusForbidden {
		t.Errorf("a dispatcher gets %d on /admin, want 403", code)
	}
	for _, path := range []string{"/admin/dead-letters/replay-all", "/admin/dead-letters/x/replay", "/admin/dead-letters/x/delete"} {
		if code, _ := dispatcher.post(path, url.Values{"confirm": {"yes"}}); code != http.StatusForbidden {
			t.Errorf("a dispatcher gets %d on POST %s, want 403", code, path)
		}
	}
	anonymous := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := anonymous.Get(srv.URL + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
		t.Errorf("anonymous: %d to %q, want a redirect to login", res.StatusCode, res.Header.Get("Location"))
	}
}
