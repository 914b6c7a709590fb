package web

import (
	"github.com/gofiber/fiber/v2"

	"calipso/handlers"
	"calipso/tracking"
)

// withActor puts the logged-in user and the client's address into the request's context
// (tracking.WithActor), where the store finds them to audit a change inside the change's own
// transaction. It must follow LoadUser.
//
// The address is Fiber's c.IP(): the peer of the connection. Behind a reverse proxy, every
// request comes from the proxy; see SECURITY.md.
func withActor() fiber.Handler {
	return func(c *fiber.Ctx) error {
		if u := handlers.CurrentUser(c); u != nil {
			a := tracking.Actor{Username: u.Username, IP: c.IP()}
			c.SetUserContext(tracking.WithActor(c.UserContext(), a))
		}
		return c.Next()
	}
}
