package main

import (
	"context"
	"flag"
	"sync"
	"time"

	"calipso/handlers"
	"calipso/messaging"
	"calipso/metrics"
	"calipso/monitor"
	"calipso/store"
	"calipso/web/live"
)

// adminConfig holds the settings of the admin page (serve only).
type adminConfig struct {
	// ManagementURL is RabbitMQ's management API (http://user:pass@host:15672); empty leaves
	// out the figures only it has (unacked counts, rates).
	ManagementURL string
	// OutboxAlarm is the age of the oldest unpublished row past which the page raises the alarm.
	OutboxAlarm time.Duration

	errs []error
}

func (c *adminConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	fs.StringVar(&c.ManagementURL, "rabbitmq-management-url", getenv("CALIPSO_RABBITMQ_MANAGEMENT_URL"),
		"RabbitMQ management API for unacked counts and rates on the admin page, e.g. http://guest:guest@localhost:15672 ($CALIPSO_RABBITMQ_MANAGEMENT_URL)")
	envFlags{fs, getenv, &c.errs}.duration(&c.OutboxAlarm, "outbox-alarm", "CALIPSO_OUTBOX_ALARM", monitor.DefaultOutboxAlarm,
		time.Millisecond, "the admin page raises the alarm when the oldest unpublished event is older than this")
}

// startAdmin starts the monitor behind the admin page and returns the page's console.
func startAdmin(ctx context.Context, cfg config, st *store.Store, pl *pipeline, hub *live.Hub, m *metrics.Metrics) (*handlers.Console, func(), error) {
	ac := cfg.Admin
	if len(ac.errs) > 0 {
		return nil, nil, ac.errs[0]
	}
	var mgmt *messaging.Management
	if ac.ManagementURL != "" {
		var err error
		if mgmt, err = messaging.NewManagement(ac.ManagementURL, cfg.RabbitMQURL); err != nil {
			return nil, nil, err
		}
	}
	inspector := pl.Broker.Inspector()
	mon := monitor.New(monitor.Config{
		Inspector: inspector, Management: mgmt, Broker: pl.Broker,
		Endpoint: messaging.TrackingScreenQueue, Delays: cfg.Pipeline.RetryDelays,
		Outbox: st, Relay: pl.Relay, Database: st, Cache: pl.Cache, Metrics: m,
		OutboxAlarm: ac.OutboxAlarm,
	})
	mctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { mon.Run(mctx) })
	console := &handlers.Console{
		Pipeline: mon, DeadLetters: inspector, Endpoint: messaging.TrackingScreenQueue,
		Screens: hub, Audit: st, Replayed: m.Replayed,
	}
	return console, func() { cancel(); wg.Wait() }, nil
}
