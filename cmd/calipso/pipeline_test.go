package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
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

	deadline := time.Now().Add(20 * time.Second)
	for {
		code, body := 0, ""
		if res, err := http.Get(s.URL + "/readyz"); err == nil {
			b, _ := io.ReadAll(res.Body)
			res.Body.Close()
			code, body = res.StatusCode, string(b)
		}
		if code == http.StatusServiceUnavailable && strings.Contains(body, "broker: not connected") {
			if strings.Contains(body, "database") {
				t.Errorf("readyz blames the database: %q", body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readyz = %d %q, want 503 naming the broker\n%s", code, body, s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if code, body := get(t, s.URL+"/healthz"); code != http.StatusOK {
		t.Fatalf("healthz = %d %q, want 200", code, body)
	}
}
