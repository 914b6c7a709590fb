// Package messaging is Calipso's side of RabbitMQ, in MassTransit's wire format: a supervisor
// that owns the AMQP connection and brings everything back after a loss, the envelope codec,
// the outbox relay (publisher confirms), the receive endpoint with its retry and error queues,
// and the per-instance live feed the boards follow.
//
// amqp091-go does not reconnect on its own (its experimental recovery is left off: Calipso
// wants to redeclare its topology and resume its consumers itself, and to report the state on
// /readyz). Every part here is a worker of the Supervisor: it declares its topology on every
// (re)connect and runs on the connection until it is lost.
package messaging

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	amqp "github.com/rabbitmq/amqp091-go"

	"calipso/metrics"
)

// Defaults of SupervisorConfig.
const (
	DefaultHeartbeat   = 10 * time.Second
	DefaultDialTimeout = 5 * time.Second
	DefaultMinRedial   = 200 * time.Millisecond
	DefaultMaxRedial   = 10 * time.Second
	// workerRestart is the pause before a worker that failed on a live connection runs again.
	workerRestart = time.Second
)

// SupervisorConfig says where the broker is and how to reach it again.
type SupervisorConfig struct {
	URL     string // amqp://user:pass@host:port/vhost
	Name    string // connection name shown by `rabbitmqctl list_connections name`
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// Heartbeat detects a dead peer; DialTimeout bounds one dial.
	Heartbeat, DialTimeout time.Duration
	// MinRedial and MaxRedial bound the exponential backoff between dials.
	MinRedial, MaxRedial time.Duration
}

// Supervisor owns the AMQP connection. Its Run loop is the only goroutine that dials, and on
// every connect it has each worker redeclare its topology before any worker runs, then runs
// them until the connection is lost, then redials with backoff.
type Supervisor struct {
	cfg  SupervisorConfig
	base *slog.Logger // for the workers' own loggers
	log  *slog.Logger
	m    *metrics.Metrics

	mu        sync.Mutex
	workers   []*worker
	notReady  error         // nil while connected with the topology declared
	liveQueue string        // the server-named queue of Live, for the admin page
	added     chan struct{} // a worker was added while running (capacity 1)
}

// worker is one user of the connection. declare redeclares what it needs (idempotent) on a
// shared channel; run opens its own channels and returns when ctx ends (after draining) or
// when the connection or its channel fails.
type worker struct {
	name    string
	declare func(ch *amqp.Channel) error
	run     func(ctx context.Context, conn *amqp.Connection) error
}

// NewSupervisor returns a supervisor that is not connected yet: call Run.
func NewSupervisor(cfg SupervisorConfig) *Supervisor {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = metrics.New()
	}
	if cfg.Heartbeat <= 0 {
		cfg.Heartbeat = DefaultHeartbeat
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	if cfg.MinRedial <= 0 {
		cfg.MinRedial = DefaultMinRedial
	}
	if cfg.MaxRedial < cfg.MinRedial {
		cfg.MaxRedial = max(DefaultMaxRedial, cfg.MinRedial)
	}
	return &Supervisor{
		cfg:      cfg,
		base:     cfg.Log,
		log:      cfg.Log.With("component", "broker"),
		m:        cfg.Metrics,
		notReady: errors.New("connecting"),
		added:    make(chan struct{}, 1),
	}
}

// Ready reports nil while the broker is connected and the topology declared, else a short
// reason. It fits handlers.Check.
func (s *Supervisor) Ready(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notReady
}

func (s *Supervisor) setReady(err error) {
	s.mu.Lock()
	s.notReady = err
	s.mu.Unlock()
	if err == nil {
		s.m.BrokerConnected.Set(1)
	} else {
		s.m.BrokerConnected.Set(0)
	}
}

// add registers a worker. Workers added while Run is connected start on the current
// connection; all of them start on every later one.
func (s *Supervisor) add(w *worker) {
	s.mu.Lock()
	s.workers = append(s.workers, w)
	s.mu.Unlock()
	select {
	case s.added <- struct{}{}:
	default:
	}
}

func (s *Supervisor) snapshot() []*worker {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*worker(nil), s.workers...)
}

// Run connects and keeps the connection until ctx ends; then it lets the workers drain (a
// consumer acks or requeues what it holds, the relay waits for its confirms) and closes the
// connection. It returns nil after ctx ends: a broker that is down is reported by Ready,
// never as an error that would stop the app.
func (s *Supervisor) Run(ctx context.Context) error {
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     s.cfg.MinRedial,
		RandomizationFactor: 0.3,
		Multiplier:          2,
		MaxInterval:         s.cfg.MaxRedial,
	}
	bo.Reset()
	connected := false
	for {
		conn, err := s.dial()
		if err == nil {
			if connected {
				s.m.BrokerRedials.Inc()
			}
			connected = true
			bo.Reset()
			err = s.session(ctx, conn)
		}
		if ctx.Err() != nil {
			s.setReady(errors.New("shutting down"))
			return nil
		}
		s.setReady(fmt.Errorf("not connected: %w", err))
		wait := bo.NextBackOff()
		s.log.Warn("broker connection lost; redialling", "err", err, "in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			s.setReady(errors.New("shutting down"))
			return nil
		case <-time.After(wait):
		}
	}
}

func (s *Supervisor) dial() (*amqp.Connection, error) {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(s.cfg.Name)
	return amqp.DialConfig(s.cfg.URL, amqp.Config{
		Heartbeat:  s.cfg.Heartbeat,
		Properties: props,
		Dial:       amqp.DefaultDial(s.cfg.DialTimeout),
	})
}

// session runs the workers on one connection until it is lost or ctx ends.
func (s *Supervisor) session(ctx context.Context, conn *amqp.Connection) error {
	defer conn.Close()
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))

	started := map[*worker]bool{}
	workers := s.snapshot()
	if err := declare(conn, workers); err != nil {
		return err
	}
	s.setReady(nil)
	s.log.Info("broker connected", "workers", len(workers))

	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	start := func(w *worker) {
		started[w] = true
		wg.Go(func() { s.runWorker(wctx, conn, w) })
	}
	for _, w := range workers {
		start(w)
	}
	for {
		select {
		case err := <-closed:
			s.setReady(fmt.Errorf("not connected: %v", err))
			cancel()
			wg.Wait()
			if err == nil {
				return errors.New("connection closed")
			}
			return err
		case <-s.added:
			var fresh []*worker
			for _, w := range s.snapshot() {
				if !started[w] {
					fresh = append(fresh, w)
				}
			}
			if err := declare(conn, fresh); err != nil {
				cancel()
				wg.Wait()
				return err
			}
			for _, w := range fresh {
				start(w)
			}
		case <-ctx.Done():
			s.setReady(errors.New("shutting down"))
			cancel()
			wg.Wait() // the workers drain before the connection closes
			return nil
		}
	}
}

// declare has every worker redeclare its topology, in order, on one channel.
func declare(conn *amqp.Connection, workers []*worker) error {
	if len(workers) == 0 {
		return nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("open channel: %w", err)
	}
	defer ch.Close()
	for _, w := range workers {
		if w.declare == nil {
			continue
		}
		if err := w.declare(ch); err != nil {
			return fmt.Errorf("declare %s topology: %w", w.name, err)
		}
	}
	return nil
}

// runWorker runs w until ctx ends or the connection is lost; a worker that fails while the
// connection lives (a channel error, a database error) runs again after a pause, with its
// topology redeclared.
func (s *Supervisor) runWorker(ctx context.Context, conn *amqp.Connection, w *worker) {
	for {
		err := w.run(ctx, conn)
		if ctx.Err() != nil || conn.IsClosed() {
			return
		}
		s.log.Warn("broker worker stopped; restarting", "worker", w.name, "err", err)
		select {
		case <-ctx.Done():
			return
		case <-time.After(workerRestart):
		}
		if err := declare(conn, []*worker{w}); err != nil {
			s.log.Warn("broker worker topology", "worker", w.name, "err", err)
		}
	}
}
