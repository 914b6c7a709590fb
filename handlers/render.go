// Package handlers holds the HTTP handlers of Calipso, one file per area. Each is a maker
// function that takes its dependencies as typed parameters and returns a fiber.Handler: no
// globals, no container. web/routes.go mounts them.
package handlers

import (
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
	"calipso/views"
)

// Site is what every page needs to know about this installation.
type Site struct {
	Build string         // shown to screens and used to bust static caches
	Loc   *time.Location // the depot's time zone: forms are read and times shown in it
}

// Render writes a component as the HTML response with the given status. A failure part way
// is returned, and the error handler replaces the half-written body.
func Render(c *fiber.Ctx, status int, component templ.Component) error {
	c.Status(status)
	c.Type("html", "utf-8")
	return component.Render(c.UserContext(), c.Response().BodyWriter())
}

// Locals keys shared with the middleware in web.
const (
	userKey  = "calipso.user"
	loginKey = "calipso.login" // the live.Login of a logged-in request
	// CSRFKey is where the CSRF middleware leaves the token for the page's forms.
	CSRFKey = "calipso.csrf"
)

// CurrentUser is the logged-in user, or nil.
func CurrentUser(c *fiber.Ctx) *tracking.User {
	u, _ := c.Locals(userKey).(*tracking.User)
	return u
}

// username is who is acting, for history rows and audit.
func username(c *fiber.Ctx) string {
	if u := CurrentUser(c); u != nil {
		return u.Username
	}
	return ""
}

// csrfToken is the token the CSRF middleware issued for this request.
func csrfToken(c *fiber.Ctx) string {
	t, _ := c.Locals(CSRFKey).(string)
	return t
}

// page fills the props every full page needs.
func page(c *fiber.Ctx, site Site, title, nav string) views.Page {
	return views.Page{Title: title, User: CurrentUser(c), CSRF: csrfToken(c), Build: site.Build, Nav: nav, Loc: site.Loc}
}

// IsHTMX reports whether the request came from htmx (and so wants a fragment, not a page).
func IsHTMX(c *fiber.Ctx) bool { return c.Get("HX-Request") == "true" }

// htmxTarget is the id of the element htmx will swap, without the "#".
func htmxTarget(c *fiber.Ctx) string { return c.Get("HX-Target") }

// safeNext returns next when it is a path on this site, and fallback otherwise, so that a
// "next" parameter can never send a user to another site.
func safeNext(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return fallback
	}
	return next
}

// PageProps is page for the error handler in web.
func PageProps(c *fiber.Ctx, site Site, title, nav string) views.Page {
	return page(c, site, title, nav)
}
