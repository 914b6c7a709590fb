package live

import (
	"bytes"
	"slices"
	"sort"

	"github.com/gorilla/websocket"

	"calipso/tracking"
)

// board is what the sockets of one view show. It belongs to the hub's goroutine.
type board struct {
	key     string
	view    View
	clients map[*client]struct{}

	// ready is set once the first load arrived: from then on rows is what every ready socket
	// of the board shows.
	ready bool
	rows  map[string]*row // by public id
	order []string        // public ids in board order
	// snapshot caches the whole board as one message until the rows change.
	snapshot *websocket.PreparedMessage

	// loadSeq numbers loads, so that the result of a superseded load is ignored.
	loadSeq  int
	loading  bool
	resnap   bool // send every socket a snapshot when the running load arrives
	rerender bool // the view changed: render every row anew when the running load arrives
	failures int  // consecutive failed loads, for the retry backoff
}

type row struct {
	d    tracking.Departure
	html []byte
}

// op is one out-of-band swap, sent as one WebSocket message (htmx parses each message as a
// fragment, and table rows of different swap kinds do not mix in one fragment).
type op []byte

// diff turns the board into next (the departures that should be on it) and returns the
// swaps that bring a socket showing the old board to the new one: deletions first, then rows
// replaced in place, then insertions from the last row up, so that each insertion's anchor
// is already in place. Rows are rendered only when new or changed; render is called once per
// such row.
func (b *board) diff(next map[string]tracking.Departure, render func(tracking.Departure) []byte) []op {
	order := b.nextOrder(next)

	// The rows present before and after whose relative order is kept (a longest increasing
	// subsequence of their new positions) stay where they are; other common rows move.
	pos := make(map[string]int, len(order))
	for i, id := range order {
		pos[id] = i
	}
	var common []string
	for _, id := range b.order {
		if _, ok := next[id]; ok {
			common = append(common, id)
		}
	}
	stay := stable(common, pos)

	var dels, repls, ins []op
	for _, id := range b.order {
		if _, ok := next[id]; !ok {
			dels = append(dels, deleteOp(id))
		}
	}
	rows := make(map[string]*row, len(order))
	for _, id := range order {
		d := next[id]
		old, had := b.rows[id]
		r := old
		if !had || old.d.Version != d.Version {
			r = &row{d: d, html: render(d)}
		}
		rows[id] = r
		switch {
		case had && stay[id]:
			if old.d.Version != d.Version {
				repls = append(repls, op(r.html))
			}
		case had:
			dels = append(dels, deleteOp(id))
		}
	}
	for i := len(order) - 1; i >= 0; i-- {
		id := order[i]
		if _, had := b.rows[id]; had && stay[id] {
			continue
		}
		if i+1 < len(order) {
			ins = append(ins, insertBeforeOp(order[i+1], rows[id].html))
		} else {
			ins = append(ins, appendOp(b.view.Container(), rows[id].html))
		}
	}
	b.rows, b.order = rows, order
	ops := slices.Concat(dels, repls, ins)
	if len(ops) > 0 {
		b.snapshot = nil
	}
	return ops
}

// nextOrder sorts next. The rows that stay unchanged keep their old order, which is sorted
// already; the new and changed ones are placed by binary search, unless they are many.
func (b *board) nextOrder(next map[string]tracking.Departure) []string {
	less := func(a, c string) bool {
		da, dc := next[a], next[c]
		switch {
		case b.view.Less(da, dc):
			return true
		case b.view.Less(dc, da):
			return false
		}
		return a < c // a total order, so equal keys cannot swap places between diffs
	}
	var keep, add []string
	for _, id := range b.order {
		if d, ok := next[id]; ok {
			if b.rows[id].d.Version == d.Version {
				keep = append(keep, id)
			} else {
				add = append(add, id)
			}
		}
	}
	for id := range next {
		if _, had := b.rows[id]; !had {
			add = append(add, id)
		}
	}
	if len(add) > 8 && len(add) > len(next)/8 {
		order := append(keep, add...)
		sort.Slice(order, func(i, j int) bool { return less(order[i], order[j]) })
		return order
	}
	for _, id := range add {
		i := sort.Search(len(keep), func(i int) bool { return less(id, keep[i]) })
		keep = slices.Insert(keep, i, id)
	}
	return keep
}

// departures returns what the board shows, by public id.
func (b *board) departures() map[string]tracking.Departure {
	m := make(map[string]tracking.Departure, len(b.rows))
	for id, r := range b.rows {
		m[id] = r.d
	}
	return m
}

// stable returns the ids of seq (in old order) that can stay in place: a longest increasing
// subsequence of their new positions.
func stable(seq []string, pos map[string]int) map[string]bool {
	p := make([]int, len(seq))
	for i, id := range seq {
		p[i] = pos[id]
	}
	// Patience sorting: tails[k] is the index in seq of the smallest tail of an increasing
	// run of length k+1; prev links each element to its predecessor.
	tails := []int{}
	prev := make([]int, len(seq))
	for i := range seq {
		k := sort.Search(len(tails), func(k int) bool { return p[tails[k]] >= p[i] })
		if k > 0 {
			prev[i] = tails[k-1]
		} else {
			prev[i] = -1
		}
		if k == len(tails) {
			tails = append(tails, i)
		} else {
			tails[k] = i
		}
	}
	out := make(map[string]bool, len(tails))
	if len(tails) == 0 {
		return out
	}
	for i := tails[len(tails)-1]; i >= 0; i = prev[i] {
		out[seq[i]] = true
	}
	return out
}

func deleteOp(id string) op {
	return op(`<tr id="` + RowID(id) + `" hx-swap-oob="delete"></tr>`)
}

// A <tbody> wraps inserted rows: htmx swaps the wrapper's content for any strategy but
// outerHTML, and a <tr> parses only inside table context.
func insertBeforeOp(anchorID string, html []byte) op {
	return wrap(`<tbody hx-swap-oob="beforebegin:#`+RowID(anchorID)+`">`, html, `</tbody>`)
}

func appendOp(container string, html []byte) op {
	return wrap(`<tbody hx-swap-oob="beforeend:#`+container+`">`, html, `</tbody>`)
}

func wrap(open string, html []byte, closing string) op {
	var b bytes.Buffer
	b.Grow(len(open) + len(html) + len(closing))
	b.WriteString(open)
	b.Write(html)
	b.WriteString(closing)
	return op(b.Bytes())
}
