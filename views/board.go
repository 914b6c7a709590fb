package views

import (
	"strconv"
	"time"

	"github.com/a-h/templ"

	"calipso/tracking"
)

// Board is the wall screen: its profile's settings, and its rows.
type Board struct {
	Title     string
	Profile   tracking.ScreenProfile
	Build     string
	SocketURL string // the WebSocket the page connects to (on the page only)
	Heartbeat time.Duration
	Loc       *time.Location
	Now       time.Time
	// Rows are the rendered rows, in board order: BoardRow components on a page load, or rows
	// the hub rendered once for every socket (templ.Raw).
	Rows []templ.Component
	// OOB marks the board for an out-of-band swap: the snapshot a socket gets.
	OOB bool
}

// BoardRowProps is one row of a board.
type BoardRowProps struct {
	D    tracking.Departure
	Lang tracking.Language
	Loc  *time.Location
}

func (b Board) lang() tracking.Language {
	if b.Profile.Language == "" {
		return tracking.LanguageEnglish
	}
	return b.Profile.Language
}

func (b Board) theme() string {
	if b.Profile.Theme == "" {
		return string(tracking.ThemeDark)
	}
	return string(b.Profile.Theme)
}

func (b Board) loc() *time.Location {
	if b.Loc == nil {
		return time.UTC
	}
	return b.Loc
}

// attrs carries the settings board.js needs, and the texts it fills in, in the board's
// language.
func (b Board) attrs() templ.Attributes {
	l := b.lang()
	a := templ.Attributes{
		"data-build":        b.Build,
		"data-heartbeat-ms": strconv.FormatInt(b.Heartbeat.Milliseconds(), 10),
		"data-page-size":    strconv.Itoa(b.Profile.PageSize),
		"data-rotate-ms":    strconv.Itoa(b.Profile.RotateSeconds * 1000),
		"data-time-zone":    b.loc().String(),
		"data-server-time":  strconv.FormatInt(b.Now.UnixMilli(), 10),
		"data-text-updated": text(l, "updated"),
		"data-text-stale":   text(l, "stale"),
		"data-text-page":    text(l, "page"),
		"data-text-revoked": text(l, "revoked"),
		"data-text-screen":  text(l, "identify"),
		"lang":              string(l),
	}
	if b.OOB {
		a["hx-swap-oob"] = "true"
	}
	return a
}

// boardClass is spelled out per theme: Tailwind keeps only the classes it finds written in
// full in the sources.
func (b Board) boardClass() string {
	if b.theme() == string(tracking.ThemeLight) {
		return "board board-theme-light"
	}
	return "board board-theme-dark"
}

func (r BoardRowProps) rowClass() string {
	return "board-row board-row-" + r.D.Status.Slug()
}

func (r BoardRowProps) lang() tracking.Language {
	if r.Lang == "" {
		return tracking.LanguageEnglish
	}
	return r.Lang
}

func (r BoardRowProps) loc() *time.Location {
	if r.Loc == nil {
		return time.UTC
	}
	return r.Loc
}

// estimate is the estimated time, shown only when there is one.
func (r BoardRowProps) estimate() string {
	if r.D.EstimatedAt == nil {
		return ""
	}
	return clock(*r.D.EstimatedAt, r.loc())
}

// ListRows is the dispatcher's list rows as a socket's snapshot: the whole tbody, swapped out
// of band.
type ListRows struct {
	Rows []templ.Component
}

// liveList makes the dispatcher's list live: the htmx ws extension opens the socket, whose
// messages swap rows out of band. A filter change replaces the list, and with it the socket.
func liveList(socketURL string) templ.Attributes {
	if socketURL == "" {
		return nil
	}
	return templ.Attributes{"hx-ext": "ws", "ws-connect": socketURL, "data-live-list": ""}
}
