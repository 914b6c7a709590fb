package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
)

func TestWithoutSessionPagesRedirectToLogin(t *testing.T) {
	ta := newTestApp(t)
	c := ta.client()
	res := c.get("/departures?status=loading")
	if res.status != fiber.StatusSeeOther || res.header.Get("Location") != "/login?next=%2Fdepartures%3Fstatus%3Dloading" {
		t.Fatalf("status %d Location %q", res.status, res.header.Get("Location"))
	}
}

func TestLoginWithWrongPasswordOrUnknownUserSaysTheSame(t *testing.T) {
	ta := newTestApp(t)
	c := ta.client()
	c.get("/login")
	wrong := c.post("/login", url.Values{"username": {"dispatcher"}, "password": {"nope nope nope"}})
	unknown := c.post("/login", url.Values{"username": {"ghost"}, "password": {"nope nope nope"}})
	if wrong.status != fiber.StatusUnauthorized || unknown.status != fiber.StatusUnauthorized {
		t.Fatalf("statuses %d %d", wrong.status, unknown.status)
	}
	if !strings.Contains(wrong.body, "Wrong username or password.") || !strings.Contains(unknown.body, "Wrong username or password.") {
		t.Fatal("failures must say the same thing")
	}
}

func TestLoginRotatesTheSessionID(t *testing.T) {
	ta := newTestApp(t)
	c := ta.client()
	c.get("/login")
	before := c.cookies["calipso_session"]
	if before == "" {
		t.Fatal("no session before login")
	}
	c.post("/login", url.Values{"username": {"dispatcher"}, "password": {testPassword}})
	if after := c.cookies["calipso_session"]; after == "" || after == before {
		t.Fatalf("session id not rotated: %q → %q", before, after)
	}
}

func TestLogoutDestroysTheSessionOnTheServer(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	stolen := c.cookies["calipso_session"]
	if res := c.post("/logout", url.Values{}); res.status != fiber.StatusSeeOther {
		t.Fatalf("logout: %d", res.status)
	}
	replay := ta.client()
	replay.cookies["calipso_session"] = stolen
	if res := replay.get("/departures"); res.status != fiber.StatusSeeOther {
		t.Fatalf("the old session id still works after logout: %d", res.status)
	}
}

func TestPostWithoutOrWithWrongCSRFTokenIsRefused(t *testing.T) {
	ta := newTestApp(t)
	c := ta.loggedIn("dispatcher")
	for name, token := range map[string]string{"missing": "", "wrong": "not-the-token"} {
		form := validDeparture()
		form.Set("_csrf", token)
		if res := c.post("/departures", form); res.status != fiber.StatusForbidden {
			t.Errorf("%s token: %d", name, res.status)
		}
	}
	if n := ta.count(); n != 0 {
		t.Fatalf("%d departures saved without a valid token", n)
	}
	if res := c.post("/departures", validDeparture()); res.status != fiber.StatusSeeOther {
		t.Fatalf("with the right token: %d %s", res.status, res.body)
	}
}

func TestLoginItselfNeedsACSRFToken(t *testing.T) {
	ta := newTestApp(t)
	c := ta.client()
	res := c.post("/login", url.Values{"username": {"dispatcher"}, "password": {testPassword}, "_csrf": {""}})
	if res.status != fiber.StatusForbidden {
		t.Fatalf("status %d", res.status)
	}
}

func TestHealthAndReadinessArePublic(t *testing.T) {
	ta := newTestApp(t)
	c := ta.client()
	if res := c.get("/healthz"); res.status != 200 {
		t.Fatalf("healthz %d", res.status)
	}
	if res := c.get("/readyz"); res.status != 200 {
		t.Fatalf("readyz %d %s", res.status, res.body)
	}
}

func TestStaticAssetsAreServedFromTheBinary(t *testing.T) {
	ta := newTestApp(t)
	c := ta.client()
	for _, path := range []string{"/static/css/app.css", "/static/js/htmx.min.js"} {
		if res := c.get(path); res.status != 200 || len(res.body) < 100 {
			t.Errorf("%s: %d (%d bytes)", path, res.status, len(res.body))
		}
	}
}
