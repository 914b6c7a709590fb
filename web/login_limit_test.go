package web_test

import (
	"context"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"calipso/web"
)

func appWithLoginLimit(t *testing.T, l web.LoginLimit) *testApp {
	return newTestAppWith(t, func(d *web.Deps) { d.LoginLimit = l })
}

// tryLogin posts a login from a fresh client (the same address: app.Test's).
func (ta *testApp) tryLogin(name, password string) response {
	ta.t.Helper()
	c := ta.client()
	c.get("/login")
	return c.post("/login", url.Values{"username": {name}, "password": {password}})
}

func wantThrottled(t *testing.T, res response) {
	t.Helper()
	if res.status != fiber.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", res.status)
	}
	if secs, err := strconv.Atoi(res.header.Get("Retry-After")); err != nil || secs <= 0 {
		t.Fatalf("Retry-After %q, want a number of seconds", res.header.Get("Retry-After"))
	}
	if !strings.Contains(res.body, "Too many failed attempts. Wait") {
		t.Fatalf("the 429 page does not say what happened: %s", res.body)
	}
}

func TestLoginFailuresAreLimitedPerUsernameAndAddress(t *testing.T) {
	ta := appWithLoginLimit(t, web.LoginLimit{PerUser: 3, PerIP: 100, Window: time.Hour})
	for _, name := range []string{"dispatcher", "ghost"} { // a known and an unknown user alike
		for i := range 3 {
			if res := ta.tryLogin(name, "wrong password"); res.status != fiber.StatusUnauthorized {
				t.Fatalf("%s attempt %d: %d", name, i+1, res.status)
			}
		}
		wantThrottled(t, ta.tryLogin(name, "wrong password"))
	}
	// Once limited, even the right password is refused: a guess must not learn it was right.
	wantThrottled(t, ta.tryLogin("dispatcher", testPassword))
	wantThrottled(t, ta.tryLogin("DISPATCHER ", testPassword))
	// Other users from the same address are not affected.
	if !ta.loginAs("boss", testPassword) {
		t.Fatal("another user was locked out")
	}
}

func TestSuccessfulLoginsDoNotCountAgainstTheLimit(t *testing.T) {
	ta := appWithLoginLimit(t, web.LoginLimit{PerUser: 2, PerIP: 2, Window: time.Hour})
	for i := range 5 {
		if !ta.loginAs("dispatcher", testPassword) {
			t.Fatalf("login %d refused", i+1)
		}
	}
}

func TestLoginFailuresAreLimitedPerAddressAcrossUsernames(t *testing.T) {
	ta := appWithLoginLimit(t, web.LoginLimit{PerUser: 100, PerIP: 4, Window: time.Hour})
	for i, name := range []string{"a1", "a2", "a3", "a4"} {
		if res := ta.tryLogin(name, "wrong password"); res.status != fiber.StatusUnauthorized {
			t.Fatalf("attempt %d: %d", i+1, res.status)
		}
	}
	wantThrottled(t, ta.tryLogin("a5", "wrong password"))
	wantThrottled(t, ta.tryLogin("dispatcher", testPassword))
}

func TestLoginLimitOfOneAddressDoesNotLockOutAnother(t *testing.T) {
	ta := appWithLoginLimit(t, web.LoginLimit{PerUser: 2, PerIP: 100, Window: time.Hour})
	base := ta.listen()
	attacker, owner := netClient(t, base, "127.0.0.2"), netClient(t, base, "127.0.0.3")
	for range 2 {
		if status := attacker.login("dispatcher", "wrong password"); status != fiber.StatusUnauthorized {
			t.Fatalf("attacker's attempt: %d", status)
		}
	}
	if status := attacker.login("dispatcher", testPassword); status != fiber.StatusTooManyRequests {
		t.Fatalf("the attacker's address is not limited: %d", status)
	}
	if status := owner.login("dispatcher", testPassword); status != fiber.StatusSeeOther {
		t.Fatalf("the owner, from another address, cannot log in: %d", status)
	}
}

func TestGuessingTheCurrentPasswordOnThePasswordPageIsLimited(t *testing.T) {
	ta := appWithLoginLimit(t, web.LoginLimit{PerUser: 2, PerIP: 100, Window: time.Hour})
	c := ta.loggedIn("dispatcher")
	c.get("/account/password")
	form := url.Values{"current_password": {"guess guess"}, "new_password": {"new password!"}, "confirm_password": {"new password!"}}
	for range 2 {
		if res := c.post("/account/password", form); res.status != fiber.StatusUnprocessableEntity {
			t.Fatalf("wrong current password: %d", res.status)
		}
	}
	wantThrottled(t, c.post("/account/password", form))
}

// listen serves the app on a loopback port of its own (for tests that need real client
// addresses) and returns its base URL.
func (ta *testApp) listen() string {
	ta.t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ta.t.Fatal(err)
	}
	go ta.app.Listener(ln)
	ta.t.Cleanup(func() { ta.app.ShutdownWithTimeout(5 * time.Second) })
	return "http://" + ln.Addr().String()
}

// addrClient is a browser at a loopback address of its own (Linux routes all of 127/8 to
// loopback), so the app sees it as a different client.
type addrClient struct {
	t    *testing.T
	base string
	http *http.Client
}

func netClient(t *testing.T, base, localIP string) *addrClient {
	jar, _ := cookiejar.New(nil)
	dialer := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(localIP)}, Timeout: 5 * time.Second}
	return &addrClient{t: t, base: base, http: &http.Client{
		Jar:           jar,
		Transport:     &http.Transport{DialContext: dialer.DialContext},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       10 * time.Second,
	}}
}

// login fetches the login form (for its CSRF token), posts it, and returns the status.
func (a *addrClient) login(name, password string) int {
	a.t.Helper()
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, a.base+"/login", nil)
	res, err := a.http.Do(req)
	if err != nil {
		a.t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	m := csrfInput.FindStringSubmatch(string(body))
	if m == nil {
		a.t.Fatalf("no CSRF token on the login page: %s", body)
	}
	form := url.Values{"username": {name}, "password": {password}, "_csrf": {html.UnescapeString(m[1])}}
	res, err = a.http.PostForm(a.base+"/login", form)
	if err != nil {
		a.t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}
