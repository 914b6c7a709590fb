package messaging

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The management plugin is disabled on the test broker, so this checks the client against a
// recorded answer of RabbitMQ 3.10's GET /api/queues/{vhost}/{name}.
func TestManagementReadsQueueFiguresOfTheDefaultVirtualHost(t *testing.T) {
	var gotPath, gotUser string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotPath = r.URL.RawPath
		gotUser, _, _ = r.BasicAuth()
		w.Write([]byte(`{"consumers":2,"messages_ready":7,"messages_unacknowledged":3,"name":"q",
			"message_stats":{"publish":120,"publish_details":{"rate":4.2},"deliver_get":110,
			"deliver_get_details":{"rate":3.9},"ack":100,"ack_details":{"rate":3.8}}}`))
	}))
	defer srv.Close()
	m, err := NewManagement("http://guest:guest@"+srv.Listener.Addr().String(), "amqp://guest:guest@localhost:5672/")
	if err != nil {
		t.Fatal(err)
	}
	d, err := m.Queue(t.Context(), "tracking-screen-departure-status-updates")
	if err != nil {
		t.Fatal(err)
	}
	if gotPath != "/api/queues/%2F/tracking-screen-departure-status-updates" || gotUser != "guest" {
		t.Fatalf("asked %s as %q", gotPath, gotUser)
	}
	want := QueueDetail{Ready: 7, Unacked: 3, Consumers: 2, Publish: 4.2, Deliver: 3.9, Ack: 3.8}
	if d != want {
		t.Fatalf("got %+v, want %+v", d, want)
	}
}

func TestManagementReportsAnUnreachableAPI(t *testing.T) {
	m, err := NewManagement("http://127.0.0.1:1", "amqp://guest:guest@localhost:5672/vh")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Queue(t.Context(), "q"); err == nil {
		t.Fatal("no error from a closed port")
	}
}

func TestManagementURLMustBeHTTP(t *testing.T) {
	if _, err := NewManagement("amqp://secret@x", "amqp://x/"); err == nil {
		t.Fatal("accepted")
	}
}
