package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"time"

	"calipso/demo"
)

// demoCommand seeds sample departures for today.
func demoCommand(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	cfg.flags(fs, getenv)
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
	return nil
}
