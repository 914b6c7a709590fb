package handlers

import (
	"context"
	"log/slog"
	"net/url"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"
	"golang.org/x/crypto/bcrypt"

	"calipso/tracking"
	"calipso/views"
)

// Users is what authentication needs from the store.
type Users interface {
	UserByUsername(ctx context.Context, username string) (tracking.User, error)
	UserByID(ctx context.Context, id int64) (tracking.User, error)
}

// SessionPolicy bounds how long a login lasts.
type SessionPolicy struct {
	// Idle is enforced by the session store's expiry, which every request refreshes.
	Idle time.Duration
	// Max is the absolute lifetime, counted from the login, however active the user is.
	Max time.Duration
}

// Session keys.
const (
	sessUserID  = "uid"
	sessCreated = "created" // unix seconds of the login
	sessTouched = "touched" // unix seconds of the last idle-expiry refresh
)

// touchEvery limits session writes: the idle expiry is refreshed at most this often.
const touchEvery = time.Minute

// loginFailed is the one answer to every failed login, so it never tells whether a username
// exists.
const loginFailed = "Wrong username or password."

// dummyHash is compared against when the user does not exist, so that a failed login takes
// as long whether or not the username is known.
var dummyHash, _ = bcrypt.GenerateFromPassword([]byte("calipso-no-such-user"), bcrypt.DefaultCost)

// LoginPage shows the login form.
func LoginPage(site Site) fiber.Handler {
	return func(c *fiber.Ctx) error {
		if CurrentUser(c) != nil {
			return c.Redirect(safeNext(c.Query("next"), "/departures"), fiber.StatusSeeOther)
		}
		return Render(c, fiber.StatusOK, views.LoginPage(page(c, site, "Log in", ""), "", c.Query("next"), ""))
	}
}

// Login checks the credentials and starts a session under a new id (so that an id planted
// before the login is worthless after it).
func Login(site Site, users Users, sessions *session.Store, log *slog.Logger) fiber.Handler {
	return func(c *fiber.Ctx) error {
		name, password, next := c.FormValue("username"), c.FormValue("password"), c.FormValue("next")
		fail := func() error {
			log.Info("login failed", "username", truncateForLog(name), "ip", c.IP(), "request_id", c.Locals("requestid"))
			return Render(c, fiber.StatusUnauthorized,
				views.LoginPage(page(c, site, "Log in", ""), name, next, loginFailed))
		}
		if name == "" || password == "" || len(name) > 100 || len(password) > tracking.MaxPassword {
			bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
			return fail()
		}
		u, err := users.UserByUsername(c.UserContext(), name)
		switch {
		case tracking.ErrorCode(err) == tracking.ENOTFOUND:
			bcrypt.CompareHashAndPassword(dummyHash, []byte(password))
			return fail()
		case err != nil:
			return err
		}
		if bcrypt.CompareHashAndPassword(u.PasswordHash, []byte(password)) != nil || u.Disabled {
			return fail()
		}
		sess, err := sessions.Get(c)
		if err != nil {
			return err
		}
		if err := sess.Regenerate(); err != nil {
			return err
		}
		now := time.Now().Unix()
		sess.Set(sessUserID, u.ID)
		sess.Set(sessCreated, now)
		sess.Set(sessTouched, now)
		if err := sess.Save(); err != nil {
			return err
		}
		log.Info("login", "username", u.Username, "ip", c.IP(), "request_id", c.Locals("requestid"))
		return c.Redirect(safeNext(next, "/departures"), fiber.StatusSeeOther)
	}
}

// Logout destroys the session on the server, not only the cookie.
func Logout(sessions *session.Store) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sess, err := sessions.Get(c)
		if err != nil {
			return err
		}
		if err := sess.Destroy(); err != nil {
			return err
		}
		return c.Redirect("/login", fiber.StatusSeeOther)
	}
}

// LoadUser finds the logged-in user, if any, and leaves it for CurrentUser. It ends sessions
// past their absolute lifetime and those of disabled or deleted users.
func LoadUser(users Users, sessions *session.Store, policy SessionPolicy) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sess, err := sessions.Get(c)
		if err != nil {
			return err
		}
		uid, _ := sess.Get(sessUserID).(int64)
		if uid == 0 {
			return c.Next()
		}
		now := time.Now()
		created, _ := sess.Get(sessCreated).(int64)
		if policy.Max > 0 && now.Sub(time.Unix(created, 0)) > policy.Max {
			if err := sess.Destroy(); err != nil {
				return err
			}
			return c.Next()
		}
		u, err := users.UserByID(c.UserContext(), uid)
		if tracking.ErrorCode(err) == tracking.ENOTFOUND || (err == nil && u.Disabled) {
			if err := sess.Destroy(); err != nil {
				return err
			}
			return c.Next()
		}
		if err != nil {
			return err
		}
		c.Locals(userKey, &u)
		if touched, _ := sess.Get(sessTouched).(int64); now.Sub(time.Unix(touched, 0)) > touchEvery {
			sess.Set(sessTouched, now.Unix())
			if err := sess.Save(); err != nil {
				return err
			}
		}
		return c.Next()
	}
}

// RequireUser lets only logged-in users through. Others go to the login page (htmx requests
// are told to navigate there, rather than swapping a login form into a table cell).
func RequireUser() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if CurrentUser(c) != nil {
			return c.Next()
		}
		login := "/login"
		if c.Method() == fiber.MethodGet {
			login += "?next=" + url.QueryEscape(c.OriginalURL())
		}
		if IsHTMX(c) {
			c.Set("HX-Redirect", login)
			return c.SendStatus(fiber.StatusUnauthorized)
		}
		return c.Redirect(login, fiber.StatusSeeOther)
	}
}

// RequireRole lets through only users with one of the roles; it must follow RequireUser.
func RequireRole(roles ...tracking.Role) fiber.Handler {
	return func(c *fiber.Ctx) error {
		u := CurrentUser(c)
		for _, r := range roles {
			if u != nil && u.Role == r {
				return c.Next()
			}
		}
		return tracking.Errorf(tracking.EFORBIDDEN, "This page is for %s users only.", roles[0])
	}
}

func truncateForLog(s string) string {
	if len(s) > 64 {
		return s[:64]
	}
	return s
}
