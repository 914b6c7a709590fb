package web

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"

	"calipso/handlers"
)

// LoginLimit bounds password guessing. Only failures count (a successful login answers a
// redirect, which the limiters skip), in fixed windows, in this process's memory.
//
// PerUser is keyed by username and client address together, so an attacker who hammers a
// username locks it out only for their own address, never for its owner everywhere. PerIP,
// looser, stops one address from trying a few passwords against every username.
type LoginLimit struct {
	PerUser int           // failed attempts per (username, address) in Window
	PerIP   int           // failed attempts per address, any usernames, in Window
	Window  time.Duration // when the count starts again
}

// Defaults: five wrong passwords per user per quarter hour; a depot office behind one address
// may mistype fifty times.
const (
	DefaultLoginPerUser = 5
	DefaultLoginPerIP   = 50
	DefaultLoginWindow  = 15 * time.Minute
)

func (l LoginLimit) withDefaults() LoginLimit {
	if l.PerUser <= 0 {
		l.PerUser = DefaultLoginPerUser
	}
	if l.PerIP <= 0 {
		l.PerIP = DefaultLoginPerIP
	}
	if l.Window <= 0 {
		l.Window = DefaultLoginWindow
	}
	return l
}

// guessLimits returns the per-(user, address) limiter, then the per-address one, for a route
// that checks a password. username names whose password is being tried; throttled answers a
// refused attempt (429, with Retry-After set by the limiter).
//
// The per-user limiter comes first, so that attempts it refuses never reach, and so never
// count against, the address's looser limit.
func guessLimits(l LoginLimit, username func(*fiber.Ctx) string, throttled fiber.Handler) (perUser, perIP fiber.Handler) {
	perUser = limiter.New(limiter.Config{
		Max:                    l.PerUser,
		Expiration:             l.Window,
		SkipSuccessfulRequests: true,
		LimitReached:           throttled,
		KeyGenerator: func(c *fiber.Ctx) string {
			name := strings.ToLower(strings.TrimSpace(username(c)))
			if len(name) > 100 {
				name = name[:100] // longer names never log in; don't let them fill the memory
			}
			return "user:" + name + "\x00" + c.IP()
		},
	})
	perIP = limiter.New(limiter.Config{
		Max:                    l.PerIP,
		Expiration:             l.Window,
		SkipSuccessfulRequests: true,
		LimitReached:           throttled,
		KeyGenerator:           func(c *fiber.Ctx) string { return "ip:" + c.IP() },
	})
	return perUser, perIP
}

// formUsername is the username a login form tries.
func formUsername(c *fiber.Ctx) string { return c.FormValue("username") }

// sessionUsername is the logged-in user, whose current password a password change checks.
func sessionUsername(c *fiber.Ctx) string {
	if u := handlers.CurrentUser(c); u != nil {
		return u.Username
	}
	return ""
}
