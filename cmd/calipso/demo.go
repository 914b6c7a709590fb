package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"calipso/demo"
)

// demoCommand seeds sample departures for today and, with --simulate, keeps moving them
// through their statuses until interrupted, so that a running server's boards change live.
func demoCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg config
	var simulate bool
	every := demo.SimulateEvery
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	cfg.flags(fs, getenv)
	fs.BoolVar(&simulate, "simulate", false, "keep moving the departures along until interrupted")
	fs.DurationVar(&every, "every", every, "with --simulate: how often a departure moves")
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	loc, err := cfg.location()
	if err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	n, err := demo.Seed(ctx, st, loc, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "seeded %d departures\n", n)
	if simulate {
		fmt.Fprintf(stdout, "moving a departure every %s; Ctrl-C stops\n", every)
		demo.Simulate(ctx, st, loc, every, slog.New(slog.NewTextHandler(stdout, nil)))
	}
	return nil
}
