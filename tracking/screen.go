package tracking

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Screen is a wall-mounted tracking screen: a named board profile reached through an
// unguessable token URL (/board?screen=TOKEN) that needs no login. Only the token's hash is
// kept, so a copy of the database does not give working URLs.
type Screen struct {
	ID int64
	ScreenProfile
	// TokenHash is HashScreenToken of the current link's token. It changes with the link, so
	// sockets opened with an older link can be told apart and closed.
	TokenHash string
	// Version grows by one with every change; the edit form carries it, and a screen that is
	// connected re-renders when it sees a newer one.
	Version   int64
	CreatedAt time.Time
	UpdatedAt time.Time
	UpdatedBy string
	// RevokedAt is set when an admin revoked the screen's link: it no longer opens the board.
	RevokedAt *time.Time
}

// Revoked reports whether the screen's link was revoked.
func (s Screen) Revoked() bool { return s.RevokedAt != nil }

// ScreenProfile is what an admin sets for a screen: which departures it shows and how.
type ScreenProfile struct {
	Name string
	// The filter: an empty list means "any". Docks, destinations and carriers match exactly.
	Docks        []string
	Destinations []string
	Carriers     []string
	Statuses     []Status
	// PageSize rows are shown at a time; a longer board rotates its pages every
	// RotateSeconds.
	PageSize      int
	RotateSeconds int
	Language      Language
	Theme         Theme
	// RemoveAfterMinutes is how long an Arrived or Cancelled departure stays on the board.
	RemoveAfterMinutes int
}

// Filter is the profile's filter as a store query, without the time window.
func (p ScreenProfile) Filter() DepartureFilter {
	return DepartureFilter{Docks: p.Docks, Destinations: p.Destinations, Carriers: p.Carriers, Statuses: p.Statuses}
}

// RemoveAfter is RemoveAfterMinutes as a duration.
func (p ScreenProfile) RemoveAfter() time.Duration {
	return time.Duration(p.RemoveAfterMinutes) * time.Minute
}

// Language is a board's language.
type Language string

const (
	LanguageEnglish Language = "en"
	LanguageRussian Language = "ru"
)

// Languages lists the board languages, for forms.
var Languages = []Language{LanguageEnglish, LanguageRussian}

// Theme is a board's colour scheme.
type Theme string

const (
	// ThemeDark is light text on black: the high-contrast default for a wall screen.
	ThemeDark  Theme = "dark"
	ThemeLight Theme = "light"
)

// Themes lists the board themes, for forms.
var Themes = []Theme{ThemeDark, ThemeLight}

// Limits of a screen profile.
const (
	MaxScreenName      = 80
	MaxFilterValues    = 50
	MinPageSize        = 3
	MaxPageSize        = 100
	MinRotateSeconds   = 3
	MaxRotateSeconds   = 600
	MaxRemoveAfterMins = 24 * 60
)

// DefaultScreenProfile is the board a logged-in user sees, and what a new screen form starts
// from.
func DefaultScreenProfile() ScreenProfile {
	return ScreenProfile{
		Name: "Departures", PageSize: 12, RotateSeconds: 10,
		Language: LanguageEnglish, Theme: ThemeDark, RemoveAfterMinutes: 30,
	}
}

// ScreenForm is the raw text of the screen form, exactly as posted. The lists are typed
// comma-separated; statuses come from checkboxes.
type ScreenForm struct {
	Name          string
	Docks         string
	Destinations  string
	Carriers      string
	Statuses      []string
	PageSize      string
	RotateSeconds string
	Language      string
	Theme         string
	RemoveAfter   string
}

// ScreenFormOf returns the form that shows p.
func ScreenFormOf(p ScreenProfile) ScreenForm {
	statuses := make([]string, len(p.Statuses))
	for i, s := range p.Statuses {
		statuses[i] = s.Slug()
	}
	return ScreenForm{
		Name:          p.Name,
		Docks:         strings.Join(p.Docks, ", "),
		Destinations:  strings.Join(p.Destinations, ", "),
		Carriers:      strings.Join(p.Carriers, ", "),
		Statuses:      statuses,
		PageSize:      strconv.Itoa(p.PageSize),
		RotateSeconds: strconv.Itoa(p.RotateSeconds),
		Language:      string(p.Language),
		Theme:         string(p.Theme),
		RemoveAfter:   strconv.Itoa(p.RemoveAfterMinutes),
	}
}

// Parse validates the form. Every problem is reported at once, per field, as one EINVALID
// error.
func (f ScreenForm) Parse() (ScreenProfile, error) {
	errs := FieldErrors{}
	p := ScreenProfile{
		Name:         text(errs, "name", f.Name, MaxScreenName, true, false),
		Docks:        valueList(errs, "docks", f.Docks, MaxDock),
		Destinations: valueList(errs, "destinations", f.Destinations, MaxDestination),
		Carriers:     valueList(errs, "carriers", f.Carriers, MaxCarrier),
	}
	seen := map[Status]bool{}
	for _, raw := range f.Statuses {
		s, err := ParseStatus(raw)
		if err != nil {
			errs.Add("statuses", "Unknown status.")
			continue
		}
		if !seen[s] {
			seen[s] = true
			p.Statuses = append(p.Statuses, s)
		}
	}
	p.PageSize = number(errs, "page_size", f.PageSize, MinPageSize, MaxPageSize)
	p.RotateSeconds = number(errs, "rotate_seconds", f.RotateSeconds, MinRotateSeconds, MaxRotateSeconds)
	p.RemoveAfterMinutes = number(errs, "remove_after", f.RemoveAfter, 0, MaxRemoveAfterMins)
	switch l := Language(strings.TrimSpace(f.Language)); l {
	case LanguageEnglish, LanguageRussian:
		p.Language = l
	default:
		errs.Add("language", "Choose English or Russian.")
	}
	switch t := Theme(strings.TrimSpace(f.Theme)); t {
	case ThemeDark, ThemeLight:
		p.Theme = t
	default:
		errs.Add("theme", "Choose dark or light.")
	}
	if err := errs.Err(); err != nil {
		return ScreenProfile{}, err
	}
	return p, nil
}

// valueList splits a comma-separated list, trims each value and drops empty ones and
// repeats. Each value obeys the limits of the departure field it filters.
func valueList(errs FieldErrors, field, s string, max int) []string {
	var out []string
	seen := map[string]bool{}
	for _, part := range strings.Split(s, ",") {
		v := text(errs, field, part, max, false, false)
		if v == "" || seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v)
	}
	if len(out) > MaxFilterValues {
		errs.Add(field, fmt.Sprintf("At most %d values.", MaxFilterValues))
		return nil
	}
	return out
}

func number(errs FieldErrors, field, s string, min, max int) int {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < min || n > max {
		errs.Add(field, fmt.Sprintf("A whole number from %d to %d.", min, max))
		return 0
	}
	return n
}

// screenTokenBytes is the token's entropy: 256 bits from crypto/rand, far beyond guessing.
const screenTokenBytes = 32

// NewScreenToken returns a fresh token for a screen's URL and the hash to store. The token
// itself is shown once and never stored.
func NewScreenToken() (token, hash string) {
	b := make([]byte, screenTokenBytes)
	rand.Read(b) // never fails (crypto/rand documents that it crashes the program instead)
	token = base64.RawURLEncoding.EncodeToString(b)
	return token, HashScreenToken(token)
}

// HashScreenToken is how a token is stored and looked up: hex SHA-256. A token is random, so
// a fast unsalted hash is enough; it only has to make a leaked hash useless as a URL.
func HashScreenToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// PlausibleScreenToken reports whether s could be a token at all, so that garbage is refused
// without a database lookup.
func PlausibleScreenToken(s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(screenTokenBytes) || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}
