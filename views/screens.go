package views

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"calipso/tracking"
)

// ScreenList is the admin's list of registered screens.
type ScreenList struct {
	Page
	Screens []tracking.Screen
	// Online lists, per screen id, the sockets connected to this instance.
	Online map[int64][]ScreenConnection
	Note   string
}

// ScreenConnection is one open socket of a screen on this instance.
type ScreenConnection struct {
	ID          uint64
	RemoteIP    string
	Build       string
	ConnectedAt time.Time
	LastSentAt  time.Time
}

// ScreenFormProps is the create and edit form of a screen.
type ScreenFormProps struct {
	Page
	Screen   *tracking.Screen // nil when creating
	Form     tracking.ScreenForm
	Version  int64
	Errors   map[string]string
	Conflict bool
}

// ScreenLink shows a screen's new link, once: only its hash is kept.
type ScreenLink struct {
	Page
	Screen tracking.Screen
	URL    string
}

// Action is where the screen form posts.
func (f ScreenFormProps) Action() string {
	if f.Screen == nil {
		return "/admin/screens"
	}
	return screenURL(*f.Screen)
}

// HasStatus reports whether the form has status s ticked.
func (f ScreenFormProps) HasStatus(s tracking.Status) bool {
	for _, v := range f.Form.Statuses {
		if v == s.Slug() || v == string(s) {
			return true
		}
	}
	return false
}

func screenURL(s tracking.Screen) string { return "/admin/screens/" + strconv.FormatInt(s.ID, 10) }

// filterSummary says in a few words what a screen shows.
func filterSummary(s tracking.Screen) string {
	var parts []string
	add := func(label string, values []string) {
		if len(values) > 0 {
			parts = append(parts, label+" "+strings.Join(values, ", "))
		}
	}
	add("docks", s.Docks)
	add("to", s.Destinations)
	add("carriers", s.Carriers)
	statuses := make([]string, len(s.Statuses))
	for i, st := range s.Statuses {
		statuses[i] = string(st)
	}
	add("statuses", statuses)
	if len(parts) == 0 {
		return "everything"
	}
	return strings.Join(parts, "; ")
}

func screenSettings(s tracking.Screen) string {
	return fmt.Sprintf("%d rows, %d s per page, %s, %s theme, finished leave after %d min",
		s.PageSize, s.RotateSeconds, languageName(s.Language), s.Theme, s.RemoveAfterMinutes)
}

func languageName(l tracking.Language) string {
	switch l {
	case tracking.LanguageRussian:
		return "Russian"
	case tracking.LanguageEnglish:
		return "English"
	}
	return string(l)
}
