// Package web assembles the Fiber application: middleware, the error handler and the routes
// (all in routes.go). It holds no business logic; handlers does, and cmd wires the parts.
package web

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"

	"calipso/handlers"
)

// Deps is everything the application needs. cmd fills it; tests fill it with real parts.
type Deps struct {
	Log        *slog.Logger
	Site       handlers.Site
	Users      handlers.Users
	Departures handlers.Departures
	// Sessions keeps session data; it has fiber.Storage's method set and lives in the
	// database, so logins survive a restart and work across instances.
	Sessions fiber.Storage
	// Board is the live board (wall screens, /ws/board, the screens admin); nil leaves its
	// routes out.
	Board *BoardDeps
	// Admin is the admin page's console on the pipeline; nil leaves /admin out.
	Admin *handlers.Console
	// Metrics serves /metrics (Prometheus); nil leaves the route out.
	Metrics http.Handler
	// Checks decide /readyz.
	Checks []handlers.Check
	// Session bounds logins; zero values take the defaults below.
	Session handlers.SessionPolicy
	// SecureCookies marks cookies Secure; set it when the app is served over https.
	SecureCookies bool
	// BodyLimit caps request bodies (413 past it); zero takes the default.
	BodyLimit int
	// Audit is the audit trail, which admins read at /admin/audit.
	Audit handlers.Audit
	// LoginLimit bounds password guessing; zero values take the defaults.
	LoginLimit LoginLimit
}

// Defaults sized for a dispatcher's shift: idle for a long lunch, but never past a day.
const (
	DefaultSessionIdle = 8 * time.Hour
	DefaultSessionMax  = 24 * time.Hour
	DefaultBodyLimit   = 64 * 1024
	sessionCookie      = "calipso_session"
)

// New builds the application.
func New(d Deps) *fiber.App {
	if d.Log == nil {
		d.Log = slog.Default()
	}
	if d.Site.Loc == nil {
		d.Site.Loc = time.UTC
	}
	if d.Session.Idle <= 0 {
		d.Session.Idle = DefaultSessionIdle
	}
	if d.Session.Max <= 0 {
		d.Session.Max = DefaultSessionMax
	}
	if d.BodyLimit <= 0 {
		d.BodyLimit = DefaultBodyLimit
	}
	d.LoginLimit = d.LoginLimit.withDefaults()
	app := fiber.New(fiber.Config{
		AppName:               "calipso",
		BodyLimit:             d.BodyLimit,
		ErrorHandler:          errorHandler(d.Log, d.Site),
		DisableStartupMessage: true,
		ReadTimeout:           30 * time.Second,
		WriteTimeout:          30 * time.Second,
		IdleTimeout:           2 * time.Minute,
	})
	sessions := session.New(session.Config{
		Storage:        d.Sessions,
		Expiration:     d.Session.Idle,
		KeyLookup:      "cookie:" + sessionCookie,
		CookieHTTPOnly: true,
		CookieSameSite: fiber.CookieSameSiteLaxMode,
		CookieSecure:   d.SecureCookies,
		CookiePath:     "/",
	})
	routes(app, d, sessions)
	return app
}
