package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"calipso/cache"
	"calipso/messaging"
	"calipso/metrics"
	"calipso/store"
)

// pipelineConfig holds the settings of the event pipeline (serve only). Each has a default
// that works with the local services.
type pipelineConfig struct {
	RedisPrefix      string
	CacheTTL         time.Duration
	Prefetch         int
	ImmediateRetries int
	RetryDelays      []time.Duration
	OutboxPoll       time.Duration

	errs []error // environment values that do not parse
}

// flags registers the pipeline's settings on fs, with defaults from the environment.
func (c *pipelineConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	env := envFlags{fs, getenv, &c.errs}
	fs.StringVar(&c.RedisPrefix, "redis-prefix", getenv("CALIPSO_REDIS_PREFIX"),
		"prefix of every Redis key, for sharing one Redis ($CALIPSO_REDIS_PREFIX)")
	env.duration(&c.CacheTTL, "cache-ttl", "CALIPSO_CACHE_TTL", 5*time.Minute, time.Millisecond, "lifetime of a cached read, the safety net behind invalidation")
	env.integer(&c.Prefetch, "prefetch", "CALIPSO_PREFETCH", 16, 1, "unacknowledged deliveries the consumer may hold")
	env.integer(&c.ImmediateRetries, "retry-immediate", "CALIPSO_RETRY_IMMEDIATE", 2, 0, "retries of a failed message at once, before delayed redelivery")
	env.duration(&c.OutboxPoll, "outbox-poll", "CALIPSO_OUTBOX_POLL", messaging.DefaultPoll, time.Millisecond, "how often the relay looks for unpublished rows besides being woken at commit")

	c.RetryDelays = []time.Duration{5 * time.Second, 30 * time.Second, 2 * time.Minute}
	if s := getenv("CALIPSO_RETRY_DELAYS"); s != "" {
		d, err := parseDelays(s)
		if err != nil {
			c.errs = append(c.errs, fmt.Errorf("CALIPSO_RETRY_DELAYS: %w", err))
		} else {
			c.RetryDelays = d
		}
	}
	fs.Func("retry-delays", "delays of the redeliveries after the immediate retries, comma separated, growing ($CALIPSO_RETRY_DELAYS; default 5s,30s,2m)",
		func(s string) error {
			d, err := parseDelays(s)
			if err == nil {
				c.RetryDelays = d
			}
			return err
		})
}

// parseDelays reads "5s,30s,2m"; "" or "none" means no delayed redelivery.
func parseDelays(s string) ([]time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" || s == "none" {
		return nil, nil
	}
	var out []time.Duration
	for _, part := range strings.Split(s, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(part))
		if err != nil || d <= 0 {
			return nil, fmt.Errorf("%q is not a list of positive durations such as 5s,30s,2m", s)
		}
		out = append(out, d)
	}
	return out, nil
}

func (c *pipelineConfig) validate() error { return errors.Join(c.errs...) }

// pipeline is the running event pipeline of one instance: the broker connection with the
// outbox relay, the tracking screens' consumer that invalidates the cache, the cache, and for
// the boards the live feed (Broker.Live) and the board cache (Cache.Board).
type pipeline struct {
	Broker *messaging.Supervisor
	Relay  *messaging.Relay
	Cache  *cache.Cache
	// Departures is the store read through the cache, for the dispatcher's pages.
	Departures *cache.Departures

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// startPipeline starts the broker supervisor with the outbox relay and the consumer. It waits
// for neither the broker nor Redis: /readyz reports the broker, and reads go to the database
// while Redis is away. Stop it after the web server, so that requests in flight can still
// write to the outbox.
func startPipeline(ctx context.Context, cfg config, st *store.Store, m *metrics.Metrics, log *slog.Logger) (*pipeline, error) {
	pc := cfg.Pipeline
	if err := pc.validate(); err != nil {
		return nil, err
	}
	c, err := cache.New(cache.Config{URL: cfg.RedisURL, Prefix: pc.RedisPrefix, TTL: pc.CacheTTL, Log: log, Metrics: m})
	if err != nil {
		return nil, err
	}
	instance := instanceName()
	host := messaging.Host{
		MachineName:            hostname(),
		ProcessName:            "calipso",
		ProcessID:              os.Getpid(),
		Assembly:               "calipso",
		AssemblyVersion:        buildVersion(),
		FrameworkVersion:       runtime.Version(),
		OperatingSystemVersion: runtime.GOOS + "/" + runtime.GOARCH,
	}
	codec, err := messaging.NewCodec(cfg.RabbitMQURL, instance, host)
	if err != nil {
		c.Close()
		return nil, err
	}
	broker := messaging.NewSupervisor(messaging.SupervisorConfig{
		URL: cfg.RabbitMQURL, Name: "calipso " + instance, Log: log, Metrics: m,
	})
	// The consumer's topology is declared first, so that the relay's first messages find
	// the queue bound.
	broker.Endpoint(messaging.EndpointConfig{
		Queue:            messaging.TrackingScreenQueue,
		Prefetch:         pc.Prefetch,
		ImmediateRetries: pc.ImmediateRetries,
		Delays:           pc.RetryDelays,
		Handler:          messaging.InvalidateCache(messaging.TrackingScreenQueue, st, c),
		Host:             host,
	})
	relay := broker.Relay(messaging.RelayConfig{
		Outbox: st, Codec: codec, Wake: st.Committed(), Poll: pc.OutboxPoll, Claimant: instance,
	})

	// The pipeline outlives ctx (the signal) until stop: the web server shuts down first.
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	p := &pipeline{Broker: broker, Relay: relay, Cache: c, Departures: cache.NewDepartures(c, st), cancel: cancel}
	p.wg.Go(func() { broker.Run(pctx) })
	p.wg.Go(func() { relay.Report(pctx, time.Second) })
	return p, nil
}

// stop drains the pipeline (the consumer acks or requeues what it holds, the relay waits for
// its confirms), closes the broker connection, then Redis.
func (p *pipeline) stop() {
	p.cancel()
	p.wg.Wait()
	p.Cache.Close()
}

// instanceName names this process in the broker's connection list, the outbox leases and the
// envelopes' sourceAddress: the host name and a random suffix, since several instances may
// run on one host.
func instanceName() string {
	b := make([]byte, 3)
	rand.Read(b)
	return "calipso-" + hostname() + "-" + hex.EncodeToString(b)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}
