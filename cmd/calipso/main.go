// Command calipso is the one binary of Calipso Tracking: the web app, the outbox relay and the
// consumers (serve), and the admin commands (migrate, user, demo). This package is the only
// place where the parts are wired together.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "calipso:", err)
		if errors.Is(err, errUsage) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

const usage = `usage: calipso <command> [flags]

commands:
  serve      migrate the database, then serve (flags: calipso serve -h)
  migrate    apply database migrations and exit
  user add   --username U --role dispatcher|admin   (password read from stdin)
  user passwd|disable|enable --username U          (passwd reads stdin; both end U's sessions)
  demo       seed sample departures [--simulate to keep moving them]
`

// run is main without the process: tests call it with their own arguments, environment,
// input and output, and cancel ctx to stop it.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stdout, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], getenv, stdout)
	case "migrate":
		return migrate(ctx, args[1:], getenv, stdout)
	case "user":
		return userCommand(ctx, args[1:], getenv, stdin, stdout)
	case "demo":
		return demoCommand(ctx, args[1:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stdout, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
}
