package web

import (
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/filesystem"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/middleware/session"

	"calipso/handlers"
	"calipso/static"
	"calipso/tracking"
)

// routes is the whole HTTP surface of Calipso on one screen. Order matters: Fiber runs
// middleware and routes in the order they are registered, so the public routes come before
// the session middleware and never touch the database for a session.
func routes(app *fiber.App, d Deps, sessions *session.Store) {
	site := d.Site

	app.Use(recover.New())
	app.Use(requestid.New())
	app.Use(requestLog(d.Log))
	app.Use(securityHeaders())

	// Public, no session.
	app.Get("/healthz", handlers.Healthz())
	app.Get("/readyz", handlers.Readyz(d.Checks...))
	if d.Metrics != nil {
		app.Get("/metrics", adaptor.HTTPHandler(d.Metrics))
	}
	app.Use("/static", filesystem.New(filesystem.Config{
		Root:   http.FS(static.FS),
		MaxAge: 365 * 24 * 3600, // asset URLs carry the build, so they may be cached for good
	}))

	// Everything below knows who is asking (and tells the store, which audits changes), and
	// state-changing requests carry a CSRF token.
	app.Use(handlers.LoadUser(d.Users, sessions, d.Session))
	app.Use(withActor())
	app.Use(skipFor(csrfProtection(sessions, d.Session.Idle, d.SecureCookies), "/board", "/ws/"))

	app.Get("/login", handlers.LoginPage(site))
	loginPerUser, loginPerIP := guessLimits(d.LoginLimit, formUsername, handlers.LoginThrottled(site))
	app.Post("/login", loginPerUser, loginPerIP, handlers.Login(site, d.Users, sessions, d.Session, d.Log))
	app.Post("/logout", handlers.Logout(sessions))

	signedIn := handlers.RequireUser()
	staff := handlers.RequireRole(tracking.RoleDispatcher, tracking.RoleAdmin)
	admin := handlers.RequireRole(tracking.RoleAdmin)

	app.Get("/", signedIn, func(c *fiber.Ctx) error { return c.Redirect("/departures", fiber.StatusSeeOther) })
	app.Get("/departures", signedIn, staff, handlers.DepartureList(site, d.Departures))
	app.Get("/departures/new", signedIn, staff, handlers.NewDepartureForm(site))
	app.Post("/departures", signedIn, staff, handlers.CreateDeparture(site, d.Departures))
	app.Get("/departures/:id", signedIn, staff, handlers.DepartureDetail(site, d.Departures))
	app.Get("/departures/:id/edit", signedIn, staff, handlers.EditDepartureForm(site, d.Departures))
	app.Post("/departures/:id", signedIn, staff, handlers.UpdateDeparture(site, d.Departures))
	app.Post("/departures/:id/status", signedIn, staff, handlers.ChangeStatus(site, d.Departures))

	// Accounts, users and the audit trail (issue 6).
	app.Get("/account/password", signedIn, handlers.PasswordPage(site))
	passwordPerUser, passwordPerIP := guessLimits(d.LoginLimit, sessionUsername, handlers.PasswordThrottled(site))
	app.Post("/account/password", signedIn, passwordPerUser, passwordPerIP,
		handlers.ChangePassword(site, d.Users, sessions, d.Session))
	app.Get("/admin/users", signedIn, admin, handlers.UserList(site, d.Users))
	app.Post("/admin/users", signedIn, admin, handlers.AddUser(site, d.Users))
	app.Post("/admin/users/:uid/password", signedIn, admin, handlers.SetUserPassword(site, d.Users))
	app.Post("/admin/users/:uid/disable", signedIn, admin, handlers.SetUserDisabled(site, d.Users, true))
	app.Post("/admin/users/:uid/enable", signedIn, admin, handlers.SetUserDisabled(site, d.Users, false))
	app.Get("/admin/audit", signedIn, admin, handlers.AuditPage(site, d.Audit))

	// The live board: wall screens (by session or screen token), the WebSocket of boards and
	// of the dispatchers' list, and the screens admin.
	if b := d.Board; b != nil {
		screens := b.Boards.Screens
		app.Get("/board", handlers.BoardPage(b.Boards))
		app.Get("/ws/board", handlers.BoardSocket(b.Boards, b.Hub, b.Limits))
		app.Get("/admin/screens", signedIn, admin, handlers.ScreenList(site, screens, b.Hub))
		app.Get("/admin/screens/new", signedIn, admin, handlers.NewScreenForm(site))
		app.Post("/admin/screens", signedIn, admin, handlers.CreateScreen(site, screens))
		app.Get("/admin/screens/:screen/edit", signedIn, admin, handlers.EditScreenForm(site, screens))
		app.Post("/admin/screens/:screen", signedIn, admin, handlers.UpdateScreen(site, screens, b.Boards, b.Hub))
		app.Post("/admin/screens/:screen/revoke", signedIn, admin, handlers.RevokeScreen(screens, b.Hub))
		app.Post("/admin/screens/:screen/link", signedIn, admin, handlers.RelinkScreen(site, screens, b.Boards, b.Hub))
		app.Post("/admin/screens/connections/:conn/reload", signedIn, admin, handlers.ScreenCommand(b.Hub, d.Audit, false))
		app.Post("/admin/screens/connections/:conn/identify", signedIn, admin, handlers.ScreenCommand(b.Hub, d.Audit, true))
	}

	// The admin page: the pipeline's health, and the dead letters (issue 5).
	if con := d.Admin; con != nil {
		app.Get("/admin", signedIn, admin, handlers.AdminPage(site, *con))
		app.Post("/admin/dead-letters/replay-all", signedIn, admin, handlers.ReplayAllDeadLetters(site, *con))
		app.Post("/admin/dead-letters/:id/replay", signedIn, admin, handlers.ReplayDeadLetter(site, *con))
		app.Get("/admin/dead-letters/:id/delete", signedIn, admin, handlers.DeleteDeadLetterPage(site))
		app.Post("/admin/dead-letters/:id/delete", signedIn, admin, handlers.DeleteDeadLetter(site, *con))
	}

	app.Use(func(c *fiber.Ctx) error {
		return tracking.Errorf(tracking.ENOTFOUND, "There is no page at this address.")
	})
}

// skipFor runs h except on the given paths: one ending in "/" stands for every path under it,
// any other for itself alone (so "/board" does not also skip "/boards").
func skipFor(h fiber.Handler, paths ...string) fiber.Handler {
	return func(c *fiber.Ctx) error {
		for _, p := range paths {
			if c.Path() == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(c.Path(), p)) {
				return c.Next()
			}
		}
		return h(c)
	}
}
