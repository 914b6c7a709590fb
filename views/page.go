// Package views holds the templ components of Calipso: layouts, pages and the fragments htmx
// swaps. A page and the fragment it swaps are the same component with a stable id, so what a
// WebSocket pushes is exactly what a full page load shows. Views know nothing of HTTP: handlers
// fill the small props structs below and render.
package views

import (
	"encoding/json"
	"fmt"
	"net/url"
	"time"

	"calipso/tracking"
)

// Page is what every full page needs: who is looking, the CSRF token for its forms, and the
// build (for cache-busting static assets).
type Page struct {
	Title string
	User  *tracking.User // nil when nobody is logged in
	CSRF  string
	Build string
	Nav   string // which navigation entry is active
	Loc   *time.Location
}

// CSRFField is the name of the hidden form field; CSRFHeader is the header htmx sends.
const (
	CSRFField  = "_csrf"
	CSRFHeader = "X-CSRF-Token"
)

// hxHeaders is the JSON for the body's hx-headers attribute, so that every htmx request
// carries the CSRF token. templ escapes it as an attribute value.
func hxHeaders(token string) string {
	b, _ := json.Marshal(map[string]string{CSRFHeader: token})
	return string(b)
}

// asset returns the URL of a static file with the build as a cache-busting query.
func asset(p Page, path string) string {
	return "/static/" + path + "?v=" + url.QueryEscape(p.Build)
}

func loc(p Page) *time.Location {
	if p.Loc == nil {
		return time.UTC
	}
	return p.Loc
}

// clock formats a time as HH:MM in the depot's zone.
func clock(t time.Time, l *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(l).Format("15:04")
}

// stamp formats a time with its date in the depot's zone.
func stamp(t time.Time, l *time.Location) string {
	if t.IsZero() {
		return ""
	}
	return t.In(l).Format("2006-01-02 15:04")
}

// delayText is "+25 min" for a late estimate, "" when on time or early.
func delayText(d tracking.Departure) string {
	delay := d.Delay()
	if delay < time.Minute {
		return ""
	}
	if delay >= time.Hour {
		return fmt.Sprintf("+%dh %02dmin", int(delay.Hours()), int(delay.Minutes())%60)
	}
	return fmt.Sprintf("+%d min", int(delay.Minutes()))
}

// statusClass is the CSS class that colours a status badge.
func statusClass(s tracking.Status) string {
	return "badge status-" + s.Slug()
}

// rowID is the DOM id of a departure's row: the same on the list, the board and in pushes.
func rowID(d tracking.Departure) string { return "dep-" + d.PublicID() }

func departureURL(d tracking.Departure) string { return "/departures/" + d.PublicID() }

func itoa(n int64) string { return fmt.Sprint(n) }

// ListFilter is the departure list's filter as the user typed it, echoed back into the form.
type ListFilter struct {
	Date     string // YYYY-MM-DD in the depot's zone
	Statuses []tracking.Status
	Dock     string
	Query    string
}

// Has reports whether s is selected.
func (f ListFilter) Has(s tracking.Status) bool {
	for _, x := range f.Statuses {
		if x == s {
			return true
		}
	}
	return false
}

// DepartureList is the dispatcher's list of the day.
type DepartureList struct {
	Page
	Departures []tracking.Departure
	Filter     ListFilter
	// Back is this list's own URL with its filters, where a status change without JavaScript
	// returns.
	Back string
	// Error explains bad filter values.
	Error string
	// SocketURL is the WebSocket that keeps the rows live ("" for none).
	SocketURL string
}

// DepartureRow is one row of the list: the departure, and the result of the last action on it.
type DepartureRow struct {
	D     tracking.Departure
	CSRF  string
	Loc   *time.Location
	Back  string
	Error string // why the last status change on this row failed
	Note  string // what the last action did ("Now Loading")
}

// DepartureForm is the create and edit page.
type DepartureForm struct {
	Page
	Departure *tracking.Departure // nil when creating
	Form      tracking.DepartureForm
	Version   int64
	Errors    map[string]string
	// Conflict is set when someone else saved first: Form shows their (current) values and
	// Attempted shows what this user tried to save.
	Conflict  bool
	Attempted *tracking.DepartureForm
}

// Action is where the form posts.
func (f DepartureForm) Action() string {
	if f.Departure == nil {
		return "/departures"
	}
	return departureURL(*f.Departure)
}

// DepartureDetail is one departure with its history.
type DepartureDetail struct {
	Page
	D       tracking.Departure
	History []tracking.StatusChange
	Error   string // a failed status change
	Note    string
}

// ariaInvalid marks a field with an error for assistive technology.
func ariaInvalid(errs map[string]string, name string) string {
	if _, ok := errs[name]; ok {
		return "true"
	}
	return "false"
}
