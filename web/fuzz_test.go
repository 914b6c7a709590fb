package web_test

import (
	"bytes"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"

	"calipso/web"
)

// FuzzDepartureFormPost posts arbitrary form bodies, as a logged-in dispatcher with a valid
// CSRF token, to every route that reads a departure form: whatever the body, the answer is a
// decision (saved, refused as invalid, or a conflict), never a 5xx or a panic (which the
// recover middleware would turn into a 500).
func FuzzDepartureFormPost(f *testing.F) {
	ta := newTestApp(f)
	d := ta.departure("Fuzz")
	c := ta.loggedIn("dispatcher")
	id := d.PublicID()
	paths := []string{"/departures", "/departures/" + id, "/departures/" + id + "/status"}

	valid := validDeparture()
	valid.Set("version", "1")
	f.Add(uint8(0), false, []byte(valid.Encode()))
	f.Add(uint8(1), true, []byte(valid.Encode()))
	f.Add(uint8(2), false, []byte(statusForm("Loading", 1).Encode()))
	f.Add(uint8(2), true, []byte("status=in_transit&version=99&reason=%3Cscript%3E"))
	f.Add(uint8(0), false, []byte("po_number=%ff%fe&po_number=x&destination=%00&scheduled_at=2026-02-30T10:00"))
	f.Add(uint8(1), false, []byte("version=-1&version=2&%zz=%&&&=="))

	var cookie strings.Builder
	for k, v := range c.cookies {
		cookie.WriteString(k + "=" + v + "; ")
	}
	answers := map[int]bool{
		fiber.StatusOK: true, fiber.StatusSeeOther: true, fiber.StatusConflict: true, fiber.StatusUnprocessableEntity: true,
	}
	f.Fuzz(func(t *testing.T, route uint8, htmx bool, body []byte) {
		if len(body) >= web.DefaultBodyLimit {
			return // refused while reading (TestBodiesOverTheLimitAnswer413AndSaveNothing)
		}
		path := paths[int(route)%len(paths)]
		req := httptest.NewRequest(fiber.MethodPost, path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Cookie", cookie.String())
		req.Header.Set("X-CSRF-Token", c.csrf)
		if htmx {
			req.Header.Set("HX-Request", "true")
			req.Header.Set("HX-Target", "dep-"+id)
		}
		res, err := ta.app.Test(req, 5000)
		if err != nil {
			t.Fatalf("POST %s %q: %v", path, body, err)
		}
		res.Body.Close()
		if !answers[res.StatusCode] {
			t.Fatalf("POST %s %q: %d", path, body, res.StatusCode)
		}
	})
}
