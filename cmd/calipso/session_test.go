package main

import (
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"calipso/tracking"
)

// session is a browser without JavaScript, logged in to a real server: it keeps its cookies
// and the last CSRF token a page carried. Its try* methods may be called from several
// goroutines and return errors instead of failing the test.
type session struct {
	t    *testing.T
	base string
	http *http.Client
	mu   sync.Mutex
	csrf string
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]*)"`)

// httpLogin logs in as user through the login form.
func httpLogin(t *testing.T, base, user, password string) *session {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	s := &session{t: t, base: base, http: &http.Client{
		Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
	s.get("/login")
	if code, body := s.post("/login", url.Values{"username": {user}, "password": {password}}); code != http.StatusSeeOther {
		t.Fatalf("login as %s: %d %s", user, code, body)
	}
	s.get("/departures") // a CSRF token bound to the new session
	return s
}

func (s *session) tryDo(req *http.Request) (int, http.Header, string, error) {
	res, err := s.http.Do(req)
	if err != nil {
		return 0, nil, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if m := csrfField.FindSubmatch(b); m != nil && len(m[1]) > 0 {
		s.mu.Lock()
		s.csrf = html.UnescapeString(string(m[1]))
		s.mu.Unlock()
	}
	return res.StatusCode, res.Header, string(b), err
}

func (s *session) get(path string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, s.base+path, nil)
	code, _, body, err := s.tryDo(req)
	if err != nil {
		s.t.Fatal(err)
	}
	return code, body
}

// post submits a form with the session's CSRF token, unless the form sets _csrf itself.
func (s *session) post(path string, form url.Values) (int, string) {
	s.t.Helper()
	code, _, body, err := s.tryPost(path, form)
	if err != nil {
		s.t.Fatal(err)
	}
	return code, body
}

func (s *session) tryPost(path string, form url.Values) (int, http.Header, string, error) {
	with := url.Values{}
	for k, v := range form {
		with[k] = v
	}
	if _, ok := with["_csrf"]; !ok {
		s.mu.Lock()
		with.Set("_csrf", s.csrf)
		s.mu.Unlock()
	}
	req, _ := http.NewRequest(http.MethodPost, s.base+path, strings.NewReader(with.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return s.tryDo(req)
}

// create makes a departure through the form and returns its public id.
func (s *session) create(po string) string {
	s.t.Helper()
	code, h, body, err := s.tryPost("/departures", url.Values{
		"po_number": {po}, "destination": {"Rotterdam"}, "carrier": {"Maersk"}, "vehicle": {"TR-1"},
		"dock": {"D1"}, "scheduled_at": {time.Now().UTC().Add(time.Hour).Format("2006-01-02T15:04")},
	})
	if err != nil || code != http.StatusSeeOther {
		s.t.Fatalf("create: %d %v %s", code, err, body)
	}
	return strings.TrimPrefix(h.Get("Location"), "/departures/")
}

// changeStatus moves a departure on, as a dispatcher clicking the button.
func (s *session) changeStatus(d tracking.Departure, to tracking.Status) {
	s.t.Helper()
	if err := s.tryChangeStatus(d.PublicID(), d.Version, to); err != nil {
		s.t.Fatal(err)
	}
}

// tryChangeStatus moves departure id from version to status to, and reports a failure.
func (s *session) tryChangeStatus(id string, version int64, to tracking.Status) error {
	code, _, body, err := s.tryPost("/departures/"+id+"/status", url.Values{
		"status": {string(to)}, "version": {strconv.FormatInt(version, 10)}, "reason": {""},
	})
	if err != nil {
		return err
	}
	if code != http.StatusSeeOther {
		return fmt.Errorf("%s v%d → %s: %d %.200s", id, version, to, code, body)
	}
	return nil
}

// waitFor polls cond until it holds, failing t after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
