package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"runtime/debug"
	"time"
	_ "time/tzdata" // the depot's zone must load on a machine without tzdata

	"golang.org/x/crypto/bcrypt"

	"calipso/demo"
	"calipso/handlers"
	"calipso/metrics"
	"calipso/store"
	"calipso/tracking"
	"calipso/web"
)

// build identifies this binary to screens, which reload when it changes. The Makefile sets
// it with -ldflags; otherwise the VCS revision is used.
var build = ""

func buildVersion() string {
	if build != "" {
		return build
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				return s.Value[:12]
			}
		}
	}
	return "dev"
}

// shutdownGrace is how long in-flight requests get to finish on SIGTERM.
const shutdownGrace = 10 * time.Second

func serve(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	cfg.flags(fs, getenv)
	fs.BoolVar(&cfg.Demo, "demo", false, "seed a day of sample departures when there are none today")
	cfg.Pipeline.flags(fs, getenv)
	cfg.Live.flags(fs, getenv)
	cfg.Admin.flags(fs, getenv)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	loc, err := cfg.location()
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, nil))

	st, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	if err := ensureAdmin(ctx, st, cfg.AdminPassword, stdout); err != nil {
		return err
	}
	if cfg.Demo {
		n, err := demo.Seed(ctx, st, loc, time.Now())
		if err != nil {
			return fmt.Errorf("demo: %w", err)
		}
		if n > 0 {
			log.Info("demo departures seeded", "count", n)
		}
	}

	m := metrics.New()
	pl, err := startPipeline(ctx, cfg, st, m, log)
	if err != nil {
		return err
	}
	defer pl.stop() // after the web server has shut down
	site := handlers.Site{Build: buildVersion(), Loc: loc}
	cfg.Live.Simulate = cfg.Live.Simulate && cfg.Demo // never on real data
	board, stopLive, err := startLive(ctx, cfg.Live, st, pl.Cache, site, pl.Broker, m, log)
	if err != nil {
		return err
	}
	defer stopLive()
	console, stopAdmin, err := startAdmin(ctx, cfg, st, pl, board.Hub, m)
	if err != nil {
		return err
	}
	defer stopAdmin()
	app := web.New(web.Deps{
		Log:           log,
		Site:          site,
		Board:         board,
		Admin:         console,
		Users:         st,
		Departures:    pl.Departures,
		Sessions:      st.Sessions(),
		Metrics:       m.Handler(),
		Checks:        []handlers.Check{{Name: "database", Fn: st.Ping}, {Name: "broker", Fn: pl.Broker.Ready}},
		SecureCookies: cfg.SecureCookies,
		Audit:         st,
	})

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return err
	}
	log.Info("calipso serving", "addr", ln.Addr().String(), "build", buildVersion(), "database", st.Dialect())
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := app.ShutdownWithContext(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return nil
}

func openStore(ctx context.Context, url string) (*store.Store, error) {
	st, err := store.Open(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	if err := st.Migrate(ctx); err != nil {
		st.Close()
		return nil, fmt.Errorf("migrate: %w", err)
	}
	return st, nil
}

// ensureAdmin creates the admin user on first start, so a newcomer can log in. A generated
// password is printed once and never stored in clear.
func ensureAdmin(ctx context.Context, st *store.Store, password string, out io.Writer) error {
	n, err := st.CountUsers(ctx)
	if err != nil || n > 0 {
		return err
	}
	generated := password == ""
	if generated {
		password = rand.Text()
	} else if err := tracking.CheckPassword(password); err != nil {
		return fmt.Errorf("CALIPSO_ADMIN_PASSWORD: %s", tracking.ErrorMessage(err))
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return err
	}
	if _, err := st.CreateUser(ctx, "admin", tracking.RoleAdmin, hash); err != nil {
		if tracking.ErrorCode(err) == tracking.ECONFLICT {
			return nil // another instance created it first
		}
		return err
	}
	if generated {
		fmt.Fprintf(out, "\n  Created user admin with password: %s\n  (shown once; set CALIPSO_ADMIN_PASSWORD to choose it)\n\n", password)
	} else {
		fmt.Fprintln(out, "Created user admin with the password from CALIPSO_ADMIN_PASSWORD.")
	}
	return nil
}

func migrate(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	cfg.flags(fs, getenv)
	if err := parseFlags(fs, args, stdout); err != nil {
		return err
	}
	st, err := openStore(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	fmt.Fprintln(stdout, "database migrated")
	return nil
}
