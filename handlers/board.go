package handlers

import (
	"cmp"
	"context"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
	"calipso/views"
	"calipso/web/live"
)

// A board shows departures scheduled from BoardLookback ago to BoardLookahead ahead (Arrived
// and Cancelled ones only for their profile's minutes), sorted by expected time.
const (
	BoardLookback  = 12 * time.Hour
	BoardLookahead = 24 * time.Hour
	// boardLoadLimit caps one board read; a wall screen pages through far fewer.
	boardLoadLimit = 2000
)

// BoardCache is the read cache of boards (the cache package): Board returns the departures
// kept under key, and calls load on a miss or while the cache is down.
type BoardCache interface {
	Board(ctx context.Context, key string, load func(context.Context) ([]tracking.Departure, error)) ([]tracking.Departure, error)
}

// Screens is what the board and the screens admin need from the system of record.
type Screens interface {
	CreateScreen(ctx context.Context, p tracking.ScreenProfile, tokenHash, by string) (tracking.Screen, error)
	UpdateScreen(ctx context.Context, id, version int64, p tracking.ScreenProfile, by string) (tracking.Screen, error)
	RevokeScreen(ctx context.Context, id int64, by string) (tracking.Screen, error)
	SetScreenToken(ctx context.Context, id int64, tokenHash, by string) (tracking.Screen, error)
	Screen(ctx context.Context, id int64) (tracking.Screen, error)
	ScreenByTokenHash(ctx context.Context, tokenHash string) (tracking.Screen, error)
	Screens(ctx context.Context) ([]tracking.Screen, error)
}

// Boards makes the views of every kind of live board (a screen's, a logged-in user's, a
// dispatcher's list) for the pages, the socket and the hub.
type Boards struct {
	Site       Site
	Departures Departures
	Screens    Screens
	Cache      BoardCache // nil: read the store
	// Heartbeat is the hub's heartbeat interval; pages show their data as stale after twice it.
	Heartbeat time.Duration
}

// viewer is who opens a board.
type viewer int

const (
	viewerUser   viewer = iota // a logged-in user, by session
	viewerScreen               // a screen, by its token
)

// ScreenView is the board of a registered screen. Its key changes with the screen's link, so
// that sockets opened with a replaced link can be closed.
func (b *Boards) ScreenView(sc tracking.Screen) live.View {
	return &boardView{
		boards: b, key: ScreenBoardPrefix(sc.ID) + sc.TokenHash[:min(12, len(sc.TokenHash))],
		kind: live.KindScreen, name: sc.Name, rev: sc.Version, profile: sc.ScreenProfile,
	}
}

// ScreenBoardPrefix starts the board key of every link the screen ever had.
func ScreenBoardPrefix(id int64) string { return "screen:" + strconv.FormatInt(id, 10) + ":" }

// userView is the board a logged-in user sees: everything, with the default settings.
func (b *Boards) userView() *boardView {
	p := tracking.DefaultScreenProfile()
	return &boardView{boards: b, key: "board:default", kind: live.KindBoard, name: "Board (logged-in user)", profile: p}
}

// resolve finds the board a request asks for: ?screen=TOKEN (no login), ?preview=ID (an
// admin looks at a screen's board), or the logged-in user's board. query is the socket's
// query string that asks for the same board.
func (b *Boards) resolve(c *fiber.Ctx) (view *boardView, who viewer, query url.Values, err error) {
	query = url.Values{}
	if c.Context().QueryArgs().Has("screen") {
		token := c.Query("screen")
		if !tracking.PlausibleScreenToken(token) {
			return nil, 0, nil, badScreenLink()
		}
		sc, err := b.Screens.ScreenByTokenHash(c.UserContext(), tracking.HashScreenToken(token))
		switch {
		case tracking.ErrorCode(err) == tracking.ENOTFOUND || (err == nil && sc.Revoked()):
			return nil, 0, nil, badScreenLink()
		case err != nil:
			return nil, 0, nil, err
		}
		query.Set("screen", token)
		return b.ScreenView(sc).(*boardView), viewerScreen, query, nil
	}
	u := CurrentUser(c)
	if u == nil {
		return nil, 0, nil, tracking.Errorf(tracking.EUNAUTHORIZED, "Log in, or open the board with a screen link.")
	}
	if raw := c.Query("preview"); raw != "" {
		if !u.IsAdmin() {
			return nil, 0, nil, tracking.Errorf(tracking.EFORBIDDEN, "Only an admin may preview a screen.")
		}
		id, err := strconv.ParseInt(raw, 10, 64)
		if err != nil {
			return nil, 0, nil, tracking.Errorf(tracking.ENOTFOUND, "No such screen.")
		}
		sc, err := b.Screens.Screen(c.UserContext(), id)
		if err != nil {
			return nil, 0, nil, err
		}
		query.Set("preview", raw)
		return b.ScreenView(sc).(*boardView), viewerUser, query, nil
	}
	return b.userView(), viewerUser, query, nil
}

func badScreenLink() error {
	return tracking.Errorf(tracking.EFORBIDDEN,
		"This screen link is not valid (it may have been revoked or replaced). Ask an administrator for the screen's current link.")
}

// socketView finds the view a socket asks for. Every string it keeps is copied: fasthttp
// reuses the request's memory after the handler returns, and the view lives with the socket.
func (b *Boards) socketView(c *fiber.Ctx) (live.View, viewer, error) {
	if c.Query("list") == "departures" {
		u := CurrentUser(c)
		if u == nil || (u.Role != tracking.RoleDispatcher && u.Role != tracking.RoleAdmin) {
			return nil, 0, tracking.Errorf(tracking.EFORBIDDEN, "The live departures list is for dispatchers.")
		}
		f, v, err := listFilter(c, b.Site.Loc)
		if err != nil {
			return nil, 0, err
		}
		return b.listView(cloneFilter(f), cloneListFilter(v)), viewerUser, nil
	}
	v, who, _, err := b.resolve(c)
	if err != nil {
		if tracking.ErrorCode(err) == tracking.EUNAUTHORIZED {
			// A socket cannot follow a redirect to the login page.
			return nil, 0, tracking.Errorf(tracking.EFORBIDDEN, "Log in, or open the board with a screen link.")
		}
		return nil, 0, err
	}
	return v, who, nil
}

// BoardPage is GET /board: the wall screen, rendered from the (cached) board, which then
// connects to /ws/board for its snapshot and changes. Without a session or a screen token it
// sends the visitor to the login page.
func BoardPage(boards *Boards) fiber.Handler {
	return func(c *fiber.Ctx) error {
		v, _, query, err := boards.resolve(c)
		if tracking.ErrorCode(err) == tracking.EUNAUTHORIZED {
			return c.Redirect("/login?next="+url.QueryEscape(c.OriginalURL()), fiber.StatusSeeOther)
		}
		if err != nil {
			return err
		}
		now := time.Now()
		ds, err := v.Load(c.UserContext(), now, false)
		if err != nil {
			return err
		}
		var on []tracking.Departure
		for _, d := range ds {
			if v.Match(d, now) {
				on = append(on, d)
			}
		}
		slices.SortFunc(on, func(a, b tracking.Departure) int { return v.compare(a, b) })
		props := v.props(now)
		for _, d := range on {
			props.Rows = append(props.Rows, views.BoardRow(v.rowProps(d)))
		}
		query.Set("build", boards.Site.Build)
		props.SocketURL = "/ws/board?" + query.Encode()
		// The page embeds a token that opens the board: keep it out of caches and referrers.
		c.Set(fiber.HeaderCacheControl, "no-store")
		c.Set("Referrer-Policy", "no-referrer")
		return Render(c, fiber.StatusOK, views.BoardPage(props))
	}
}

// boardView is a board with a screen profile: a registered screen's, or the default one.
type boardView struct {
	boards  *Boards
	key     string
	kind    string
	name    string
	rev     int64
	profile tracking.ScreenProfile
}

func (v *boardView) Key() string       { return v.key }
func (v *boardView) Revision() int64   { return v.rev }
func (v *boardView) Kind() string      { return v.kind }
func (v *boardView) Name() string      { return v.name }
func (v *boardView) Container() string { return "board-rows" }

func (v *boardView) Match(d tracking.Departure, now time.Time) bool {
	if !v.profile.Filter().Match(d) {
		return false
	}
	if d.ScheduledAt.Before(now.Add(-BoardLookback)) || d.ScheduledAt.After(now.Add(BoardLookahead)) {
		return false
	}
	return !d.Status.Final() || now.Sub(d.UpdatedAt) < v.profile.RemoveAfter()
}

// Less sorts by expected time, then id.
func (v *boardView) Less(a, b tracking.Departure) bool { return v.compare(a, b) < 0 }

func (v *boardView) compare(a, b tracking.Departure) int {
	if c := a.ExpectedAt().Compare(b.ExpectedAt()); c != 0 {
		return c
	}
	return cmp.Compare(a.ID, b.ID)
}

func (v *boardView) rowProps(d tracking.Departure) views.BoardRowProps {
	return views.BoardRowProps{D: d, Lang: v.profile.Language, Loc: v.boards.Site.Loc}
}

func (v *boardView) props(now time.Time) views.Board {
	return views.Board{
		Title: v.profile.Name, Profile: v.profile, Build: v.boards.Site.Build,
		Heartbeat: v.boards.Heartbeat, Loc: v.boards.Site.Loc, Now: now,
	}
}

func (v *boardView) Row(w io.Writer, d tracking.Departure) error {
	return views.BoardRow(v.rowProps(d)).Render(context.Background(), w)
}

func (v *boardView) Snapshot(w io.Writer, s live.Snapshot) error {
	props := v.props(s.At)
	props.OOB = true
	for _, r := range s.Rows {
		props.Rows = append(props.Rows, templ.Raw(string(r)))
	}
	return views.BoardLive(props).Render(context.Background(), w)
}

// Load reads the board through the cache unless fresh. The time window is wider than Match's
// by an hour ahead, so that a cached board still holds what enters the window meanwhile.
func (v *boardView) Load(ctx context.Context, now time.Time, fresh bool) ([]tracking.Departure, error) {
	f := v.profile.Filter()
	f.From, f.To, f.Limit = now.Add(-BoardLookback), now.Add(BoardLookahead+time.Hour), boardLoadLimit
	load := func(ctx context.Context) ([]tracking.Departure, error) { return v.boards.Departures.Departures(ctx, f) }
	if fresh || v.boards.Cache == nil {
		return load(ctx)
	}
	return v.boards.Cache.Board(ctx, v.key+":v"+strconv.FormatInt(v.rev, 10), load)
}

// listView is a dispatcher's list with its filter: the rows of /departures, pushed live.
type listView struct {
	boards *Boards
	key    string
	filter tracking.DepartureFilter
	back   string
}

func (b *Boards) listView(f tracking.DepartureFilter, v views.ListFilter) *listView {
	q := listQuery(v)
	return &listView{boards: b, key: "list:" + q.Encode(), filter: f, back: "/departures?" + q.Encode()}
}

// listQuery is the query string of a list filter.
func listQuery(v views.ListFilter) url.Values {
	q := url.Values{"date": {v.Date}}
	for _, s := range v.Statuses {
		q.Add("status", s.Slug())
	}
	if v.Dock != "" {
		q.Set("dock", v.Dock)
	}
	if v.Query != "" {
		q.Set("q", v.Query)
	}
	return q
}

// listSocketURL is the socket of a dispatcher's list with this filter.
func listSocketURL(v views.ListFilter, build string) string {
	q := listQuery(v)
	q.Set("list", "departures")
	q.Set("build", build)
	return "/ws/board?" + q.Encode()
}

func (v *listView) Key() string       { return v.key }
func (v *listView) Revision() int64   { return 0 }
func (v *listView) Kind() string      { return live.KindList }
func (v *listView) Name() string      { return "Departures list" }
func (v *listView) Container() string { return "departure-rows" }

func (v *listView) Match(d tracking.Departure, _ time.Time) bool { return v.filter.Match(d) }

// Less is the store's order: scheduled time, then id.
func (v *listView) Less(a, b tracking.Departure) bool {
	if !a.ScheduledAt.Equal(b.ScheduledAt) {
		return a.ScheduledAt.Before(b.ScheduledAt)
	}
	return a.ID < b.ID
}

// Row renders the dispatcher's row without a CSRF token: one rendering serves every
// dispatcher watching this list, and htmx sends each one's own token with the row's form,
// from the X-CSRF-Token header the page's body sets (hx-headers). A pushed row only ever
// reaches a page that runs htmx.
func (v *listView) Row(w io.Writer, d tracking.Departure) error {
	return views.DepartureRowFragment(views.DepartureRow{D: d, Loc: v.boards.Site.Loc, Back: v.back}).Render(context.Background(), w)
}

func (v *listView) Snapshot(w io.Writer, s live.Snapshot) error {
	var l views.ListRows
	for _, r := range s.Rows {
		l.Rows = append(l.Rows, templ.Raw(string(r)))
	}
	return views.ListRowsSnapshot(l).Render(context.Background(), w)
}

func (v *listView) Load(ctx context.Context, _ time.Time, _ bool) ([]tracking.Departure, error) {
	return v.boards.Departures.Departures(ctx, v.filter)
}

func cloneFilter(f tracking.DepartureFilter) tracking.DepartureFilter {
	f.Docks = cloneStrings(f.Docks)
	f.Destinations = cloneStrings(f.Destinations)
	f.Carriers = cloneStrings(f.Carriers)
	f.Statuses = slices.Clone(f.Statuses)
	f.Query = strings.Clone(f.Query)
	return f
}

func cloneListFilter(v views.ListFilter) views.ListFilter {
	v.Date, v.Dock, v.Query = strings.Clone(v.Date), strings.Clone(v.Dock), strings.Clone(v.Query)
	v.Statuses = slices.Clone(v.Statuses)
	return v
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = strings.Clone(v)
	}
	return out
}
