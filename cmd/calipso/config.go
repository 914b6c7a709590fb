package main

import (
	"flag"
	"fmt"
	"io"
	"strconv"
	"time"
)

// config is the contract of DESIGN.md: every setting is an environment variable and a flag
// of the same meaning, the flag winning, each with a default that works on a developer's
// machine.
type config struct {
	Addr          string
	DatabaseURL   string
	RabbitMQURL   string
	RedisURL      string
	AdminPassword string
	TimeZone      string
	SecureCookies bool
	Demo          bool
	Pipeline      pipelineConfig // serve only; see pipeline.go
	Live          liveConfig     // serve only; see live.go
	Admin         adminConfig    // serve only; see admin.go
}

// flags registers the shared settings on fs, with defaults taken from the environment.
func (c *config) flags(fs *flag.FlagSet, getenv func(string) string) {
	str := func(p *string, name, env, def, help string) {
		v := getenv(env)
		if v == "" {
			v = def
		}
		fs.StringVar(p, name, v, help+" ($"+env+")")
	}
	str(&c.Addr, "addr", "CALIPSO_ADDR", ":8080", "HTTP listen address")
	str(&c.DatabaseURL, "database-url", "DATABASE_URL", "sqlite:data/calipso.db", "sqlite:PATH or postgres://…")
	str(&c.RabbitMQURL, "rabbitmq-url", "RABBITMQ_URL", "amqp://guest:guest@localhost:5672/", "RabbitMQ broker")
	str(&c.RedisURL, "redis-url", "REDIS_URL", "redis://localhost:6379/0", "Redis cache")
	str(&c.AdminPassword, "admin-password", "CALIPSO_ADMIN_PASSWORD", "", "password of the admin user created on first start (generated and printed when empty)")
	str(&c.TimeZone, "timezone", "CALIPSO_TIMEZONE", "Local", "the depot's time zone (IANA name): forms are read and times shown in it")
	secure, _ := strconv.ParseBool(getenv("CALIPSO_SECURE_COOKIES"))
	fs.BoolVar(&c.SecureCookies, "secure-cookies", secure, "mark cookies Secure; set when served over https ($CALIPSO_SECURE_COOKIES)")
}

// location resolves the configured time zone.
func (c *config) location() (*time.Location, error) {
	loc, err := time.LoadLocation(c.TimeZone)
	if err != nil {
		return nil, fmt.Errorf("time zone %q: %w", c.TimeZone, err)
	}
	return loc, nil
}

// parseFlags parses args for a sub-command, printing its usage to out.
func parseFlags(fs *flag.FlagSet, args []string, out io.Writer) error {
	fs.SetOutput(out)
	if err := fs.Parse(args); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	return nil
}

// envFlags registers flags whose defaults come from the environment. A value in the
// environment that does not parse is kept in errs, for the config's validate, rather than
// silently replaced by the default.
type envFlags struct {
	fs     *flag.FlagSet
	getenv func(string) string
	errs   *[]error
}

// duration registers a duration flag of at least least.
func (e envFlags) duration(p *time.Duration, name, env string, def, least time.Duration, help string) {
	if s := e.getenv(env); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d < least {
			*e.errs = append(*e.errs, fmt.Errorf("%s: %q is not a duration of at least %s", env, s, least))
		} else {
			def = d
		}
	}
	e.fs.DurationVar(p, name, def, help+" ($"+env+")")
}

// integer registers a whole-number flag of at least least.
func (e envFlags) integer(p *int, name, env string, def, least int, help string) {
	if s := e.getenv(env); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < least {
			*e.errs = append(*e.errs, fmt.Errorf("%s: %q is not a whole number of at least %d", env, s, least))
		} else {
			def = n
		}
	}
	e.fs.IntVar(p, name, def, help+" ($"+env+")")
}
