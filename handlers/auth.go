package handlers

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/session"
	"golang.org/x/crypto/bcrypt"

	"calipso/tracking"
	"calipso/views"
	"calipso/web/live"
)

// Users is what authentication and the administration of users need from the store.
type Users interface {
	UserByUsername(ctx context.Context, username string) (tracking.User, error)
	UserByID(ctx context.Context, id int64) (tracking.User, error)
	Users(ctx context.Context) ([]tracking.User, error)
	CreateUser(ctx context.Context, username string, role tracking.Role, passwordHash []byte) (tracking.User, error)
	// SetPassword and SetDisabled(true) end the user's sessions (User.SessionsNotBefore).
	SetPassword(ctx context.Context, userID int64, passwordHash []byte) error
	SetDisabled(ctx context.Context, userID int64, disabled bool) error
}

// SessionPolicy bounds how long a login lasts.
type SessionPolicy struct {
	// Idle ends a session nobody used for this long. LoadUser checks it (to within
	// touchEvery); the session store's expiry, refreshed with it, removes the row.
	Idle time.Duration
	// Max is the absolute lifetime, counted from the login, however active the user is.
	Max time.Duration
	// Now is the clock; nil means time.Now. Tests move it to cross the limits above.
	Now func() time.Time
}

func (p SessionPolicy) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// login describes a live session for a socket opened with it: it ends at the first of its
// absolute lifetime and its idle timeout, as they stand now.
func (p SessionPolicy) login(userID int64, id string, created, touched time.Time) live.Login {
	l := live.Login{UserID: userID, Session: id, Began: created}
	if p.Max > 0 {
		l.Ends = created.Add(p.Max)
	}
	if p.Idle > 0 && (l.Ends.IsZero() || touched.Add(p.Idle).Before(l.Ends)) {
		l.Ends = touched.Add(p.Idle)
	}
	return l
}

// ended reports whether a session that began at created and was last refreshed at touched is
// over at now.
func (p SessionPolicy) ended(now, created, touched time.Time) bool {
	return (p.Max > 0 && now.Sub(created) > p.Max) || (p.Idle > 0 && now.Sub(touched) > p.Idle)
}

// Session keys. Times are unix microseconds: a password change ends the sessions that began
// before it, and a session begun in the same second, just after, must survive.
const (
	sessUserID  = "uid"
	sessCreated = "created_us" // the login
	sessTouched = "touched_us" // the last refresh of the idle expiry
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

// Login checks the credentials and starts a session under a new id.
func Login(site Site, users Users, sessions *session.Store, policy SessionPolicy, log *slog.Logger) fiber.Handler {
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
		if err := startSession(c, sessions, policy, u); err != nil {
			return err
		}
		log.Info("login", "username", u.Username, "ip", c.IP(), "request_id", c.Locals("requestid"))
		return c.Redirect(safeNext(next, "/departures"), fiber.StatusSeeOther)
	}
}

// startSession logs u in under a new session id, so that an id planted before the login (or
// known from before a password change) is worthless after it.
func startSession(c *fiber.Ctx, sessions *session.Store, policy SessionPolicy, u tracking.User) error {
	sess, err := sessions.Get(c)
	if err != nil {
		return err
	}
	if err := sess.Regenerate(); err != nil {
		return err
	}
	now := policy.now().UnixMicro()
	sess.Set(sessUserID, u.ID)
	sess.Set(sessCreated, now)
	sess.Set(sessTouched, now)
	return sess.Save()
}

// LoginThrottled answers a login refused by the rate limit (web's login limits): 429, the
// login form, and when to try again (the limiter has set Retry-After). It says the same for
// every username, known or not.
func LoginThrottled(site Site) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return Render(c, fiber.StatusTooManyRequests, views.LoginPage(page(c, site, "Log in", ""),
			c.FormValue("username"), c.FormValue("next"), throttledMessage(c)))
	}
}

// throttledMessage says when to try again, from the Retry-After header the limiter set.
func throttledMessage(c *fiber.Ctx) string {
	wait := "a few minutes"
	if secs, err := strconv.Atoi(string(c.Response().Header.Peek(fiber.HeaderRetryAfter))); err == nil && secs > 0 {
		if mins := (secs + 59) / 60; mins == 1 {
			wait = "a minute"
		} else {
			wait = strconv.Itoa(mins) + " minutes"
		}
	}
	return "Too many failed attempts. Wait " + wait + ", then try again."
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

// LoadUser finds the logged-in user, if any, and leaves it for CurrentUser. It ends, at once,
// sessions idle or alive for too long, those of disabled or deleted users, and those begun
// before the user's password changed.
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
		end := func() error {
			if err := sess.Destroy(); err != nil {
				return err
			}
			return c.Next()
		}
		now := policy.now()
		created, _ := sess.Get(sessCreated).(int64)
		touched, _ := sess.Get(sessTouched).(int64)
		if policy.ended(now, time.UnixMicro(created), time.UnixMicro(touched)) {
			return end()
		}
		u, err := users.UserByID(c.UserContext(), uid)
		switch {
		case tracking.ErrorCode(err) == tracking.ENOTFOUND:
			return end()
		case err != nil:
			return err
		case u.Disabled || time.UnixMicro(created).Before(u.SessionsNotBefore):
			return end()
		}
		c.Locals(userKey, &u)
		id := strings.Clone(sess.ID()) // Save releases sess
		if now.Sub(time.UnixMicro(touched)) > touchEvery {
			touched = now.UnixMicro()
			sess.Set(sessTouched, touched)
			if err := sess.Save(); err != nil {
				return err
			}
		}
		c.Locals(loginKey, policy.login(u.ID, id, time.UnixMicro(created), time.UnixMicro(touched)))
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
