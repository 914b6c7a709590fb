package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"calipso/internal/servicetest"
)

// server is a real `calipso serve` started through run, as main would start it.
type server struct {
	URL    string
	env    map[string]string
	cancel context.CancelFunc
	done   chan error
	out    *syncBuffer
}

const adminPassword = "admin-password-for-tests"

// startServer runs `calipso serve` on a free port with a SQLite database, a RabbitMQ virtual
// host and a Redis key prefix of the test's own, and waits until /readyz answers 200. env
// overrides the environment (give RABBITMQ_URL, REDIS_URL and CALIPSO_REDIS_PREFIX to share
// them between servers).
func startServer(t *testing.T, env map[string]string, args ...string) *server {
	t.Helper()
	s := &server{env: map[string]string{
		"CALIPSO_ADDR":           "127.0.0.1:" + freePort(t),
		"DATABASE_URL":           "sqlite:" + filepath.Join(t.TempDir(), "calipso.db"),
		"CALIPSO_ADMIN_PASSWORD": adminPassword,
		"CALIPSO_TIMEZONE":       "UTC",
	}}
	for k, v := range env {
		s.env[k] = v
	}
	if _, ok := s.env["RABBITMQ_URL"]; !ok {
		s.env["RABBITMQ_URL"] = servicetest.RabbitMQ(t).URL
	}
	if _, ok := s.env["REDIS_URL"]; !ok {
		r := servicetest.RedisPrefix(t)
		s.env["REDIS_URL"], s.env["CALIPSO_REDIS_PREFIX"] = r.URL, r.Prefix
	}
	s.URL = "http://" + s.env["CALIPSO_ADDR"]
	s.start(t, args...)
	return s
}

func (s *server) start(t *testing.T, args ...string) {
	t.Helper()
	s.launch(t, args...)
	s.waitReady(t)
}

// launch starts the server without waiting for it to be ready.
func (s *server) launch(t *testing.T, args ...string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done, s.out = cancel, make(chan error, 1), &syncBuffer{}
	getenv := func(k string) string { return s.env[k] }
	go func() { s.done <- run(ctx, append([]string{"serve"}, args...), getenv, nil, s.out) }()
	t.Cleanup(func() { s.stop(t) })
}

// waitReady waits until /readyz answers 200.
func (s *server) waitReady(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get(s.URL + "/readyz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("calipso serve exited before it was ready: %v\n%s", err, s.out)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("calipso serve not ready after 30s\n%s", s.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop shuts the server down as SIGTERM would, and fails the test if it does not stop.
func (s *server) stop(t *testing.T) {
	if s.cancel == nil {
		return
	}
	s.cancel()
	s.cancel = nil
	select {
	case err := <-s.done:
		if err != nil {
			t.Errorf("calipso serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Errorf("calipso serve did not stop within 20s\n%s", s.out)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// syncBuffer collects the server's output from its goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
