package web_test

import (
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"calipso/handlers"
	"calipso/web"
)

// fakeClock is the session policy's clock, moved by the test instead of waiting.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func appWithSessionPolicy(t *testing.T, idle, max time.Duration) (*testApp, *fakeClock) {
	clock := &fakeClock{now: time.Now()}
	ta := newTestAppWith(t, func(d *web.Deps) {
		d.Session = handlers.SessionPolicy{Idle: idle, Max: max, Now: clock.Now}
	})
	return ta, clock
}

// signedIn reports whether the client's session still lets it see the departures.
func (c *client) signedIn() bool {
	c.ta.t.Helper()
	switch res := c.get("/departures"); res.status {
	case fiber.StatusOK:
		return true
	case fiber.StatusSeeOther:
		return false
	default:
		c.ta.t.Fatalf("GET /departures: %d", res.status)
		return false
	}
}

func TestSessionEndsAfterBeingIdleTooLong(t *testing.T) {
	ta, clock := appWithSessionPolicy(t, 30*time.Minute, 8*time.Hour)
	c := ta.loggedIn("dispatcher")
	cookie := c.cookies["calipso_session"]
	// Activity keeps it going well past the idle limit...
	for range 3 {
		clock.Advance(29 * time.Minute)
		if !c.signedIn() {
			t.Fatal("an active session ended")
		}
	}
	// ...and a pause longer than it ends it, on the server too.
	clock.Advance(31 * time.Minute)
	if c.signedIn() {
		t.Fatal("the session outlived its idle timeout")
	}
	replay := ta.client()
	replay.cookies["calipso_session"] = cookie
	if replay.signedIn() {
		t.Fatal("the idle session's id still works")
	}
}

func TestSessionEndsAtItsAbsoluteLifetimeHoweverActive(t *testing.T) {
	ta, clock := appWithSessionPolicy(t, time.Hour, 2*time.Hour)
	c := ta.loggedIn("dispatcher")
	for range 2 {
		clock.Advance(55 * time.Minute)
		if !c.signedIn() {
			t.Fatal("the session ended before its lifetime")
		}
	}
	clock.Advance(15 * time.Minute) // 2h05 after the login, 15 minutes after the last request
	if c.signedIn() {
		t.Fatal("the session outlived its absolute lifetime")
	}
}

// setCookies parses the response's Set-Cookie headers by name.
func setCookies(t *testing.T, res response) map[string]*http.Cookie {
	t.Helper()
	out := map[string]*http.Cookie{}
	for _, line := range res.header.Values("Set-Cookie") {
		ck, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		out[ck.Name] = ck
	}
	return out
}

func TestCookiesAreHttpOnlyLaxAndSecureWhenConfigured(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run("secure="+strconv.FormatBool(secure), func(t *testing.T) {
			ta := newTestAppWith(t, func(d *web.Deps) { d.SecureCookies = secure })
			c := ta.client()
			seen := setCookies(t, c.get("/login"))
			res := c.post("/login", url.Values{"username": {"dispatcher"}, "password": {testPassword}})
			for name, ck := range setCookies(t, res) {
				seen[name] = ck
			}
			if seen["calipso_session"] == nil {
				t.Fatalf("no session cookie set; got %v", seen)
			}
			for name, ck := range seen {
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != secure {
					t.Errorf("cookie %s: HttpOnly=%v SameSite=%v Secure=%v; want true, Lax, %v",
						name, ck.HttpOnly, ck.SameSite, ck.Secure, secure)
				}
			}
		})
	}
}

func TestDisablingAUserEndsTheirSessionsAtOnceAndForGood(t *testing.T) {
	ta := newTestApp(t)
	victim := ta.loggedIn("dispatcher")
	quiet := ta.loggedIn("dispatcher") // makes no request while the user is disabled
	boss := ta.loggedIn("boss")
	id := ta.userID("dispatcher")
	if res := boss.post("/admin/users/"+id+"/disable", url.Values{}); res.status != fiber.StatusSeeOther {
		t.Fatalf("disable: %d %s", res.status, res.body)
	}
	if victim.signedIn() {
		t.Fatal("a disabled user's session still works")
	}
	again := ta.client()
	again.get("/login")
	if res := again.post("/login", url.Values{"username": {"dispatcher"}, "password": {testPassword}}); res.status != fiber.StatusUnauthorized {
		t.Fatalf("a disabled user logged in: %d", res.status)
	}
	// Enabling the user again does not bring the old session back.
	if res := boss.post("/admin/users/"+id+"/enable", url.Values{}); res.status != fiber.StatusSeeOther {
		t.Fatalf("enable: %d %s", res.status, res.body)
	}
	if quiet.signedIn() {
		t.Fatal("a session from before the disabling came back")
	}
	if !ta.loggedIn("dispatcher").signedIn() {
		t.Fatal("the enabled user cannot log in")
	}
}

func TestAPasswordSetByAnAdminEndsTheUsersSessions(t *testing.T) {
	ta := newTestApp(t)
	victim := ta.loggedIn("dispatcher")
	boss := ta.loggedIn("boss")
	res := boss.post("/admin/users/"+ta.userID("dispatcher")+"/password", url.Values{"password": {"brand new password"}})
	if res.status != fiber.StatusSeeOther {
		t.Fatalf("set password: %d %s", res.status, res.body)
	}
	if victim.signedIn() {
		t.Fatal("the session from before the password change still works")
	}
	if !ta.loginAs("dispatcher", "brand new password") || ta.loginAs("dispatcher", testPassword) {
		t.Fatal("the new password must work and the old one not")
	}
}

// Every token issued stores a session row; strangers get one only for the login form, so
// requests for redirects and error pages cannot fill the sessions table.
func TestStrangersGetNoSessionExceptForTheLoginForm(t *testing.T) {
	ta := newTestApp(t)
	for _, path := range []string{"/departures", "/departures/DEP-000001", "/no/such/page", "/admin/users", "/healthz", "/static/css/app.css"} {
		if res := ta.client().get(path); len(res.header.Values("Set-Cookie")) > 0 {
			t.Errorf("GET %s by a stranger set %v", path, res.header.Values("Set-Cookie"))
		}
	}
	if res := ta.client().get("/login"); setCookies(t, res)["calipso_session"] == nil {
		t.Fatal("the login form came without a session for its CSRF token")
	}
}
