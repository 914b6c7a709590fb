// Package live pushes departure changes to open WebSockets: wall screens and dispatchers'
// lists. One Hub per instance owns every socket from a single goroutine. For each board (a
// screen profile, or a dispatcher list's filter) it keeps what the sockets show, computes
// how a change alters it, renders the changed row once for all the board's sockets, and
// sends the result as htmx out-of-band swaps (gorilla PreparedMessage).
//
// A socket first gets a snapshot of its whole board, then the live stream, both from the
// hub's goroutine, so nothing falls between the two. Every departure carries its version,
// and the hub never replaces a newer version with an older one.
package live

import (
	"context"
	"io"
	"time"

	"calipso/tracking"
)

// View is one kind of board: which departures it shows, in what order, and how its rows and
// its whole content render. Sockets whose views have equal keys share one board, so a change
// is rendered once per board, not once per socket.
type View interface {
	// Key identifies the board, such as "screen:7" or "list:2026-12-03|loading||".
	Key() string
	// Revision grows when the view's settings change (a screen profile's version). A socket
	// that arrives with a newer revision than its board's reconfigures the board.
	Revision() int64
	// Kind is "screen" (a registered screen), "board" (a logged-in user's board) or "list" (a
	// dispatcher's list): it decides what counts as a screen for the admin page and metrics.
	Kind() string
	// Name is what the admin page shows for the socket (a screen's name).
	Name() string
	// Match reports whether d is on the board at time now.
	Match(d tracking.Departure, now time.Time) bool
	// Less orders the board's rows.
	Less(a, b tracking.Departure) bool
	// Container is the id of the element that holds the rows (the tbody).
	Container() string
	// Row renders one row: a <tr id="dep-DEP-000123"> exactly as the page renders it.
	Row(w io.Writer, d tracking.Departure) error
	// Snapshot renders the whole board as an out-of-band swap that replaces what the page
	// shows, with the rows already rendered by Row, in order.
	Snapshot(w io.Writer, s Snapshot) error
	// Load reads the board's departures (a superset is fine: Match filters them). fresh asks
	// for the system of record itself, bypassing any cache, after events may have been lost.
	Load(ctx context.Context, now time.Time, fresh bool) ([]tracking.Departure, error)
}

// Snapshot is a board's whole content, for View.Snapshot.
type Snapshot struct {
	Rows [][]byte // rendered rows, in board order
	At   time.Time
}

// RowID is the DOM id of a departure's row, the same on every page and in every push.
func RowID(publicID string) string { return "dep-" + publicID }
