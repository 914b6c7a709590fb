package live

import (
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// Close codes the hub ends a socket with. The htmx ws extension reconnects after 1006
// (abnormal), 1011, 1012 and 1013, and stays closed after the others.
const (
	closeRevoked      = websocket.ClosePolicyViolation // 1008: the screen's link was revoked
	closeRestart      = websocket.CloseServiceRestart  // 1012: this instance is stopping
	closeTryAgain     = websocket.CloseTryAgainLater   // 1013: dropped as too slow
	closeNormal       = websocket.CloseNormalClosure
	maxIncomingBytes  = 1024 // clients send nothing; anything bigger is not a browser of ours
	sendBufferDefault = 64   // messages queued per socket before it counts as too slow
)

// ConnInfo is what the handler knows about a socket when it hands it to the hub.
type ConnInfo struct {
	RemoteIP string
	// Build is the server build the page was rendered by (sent in the socket's URL).
	Build string
	// Login is the session a logged-in user opened the socket with; zero for a screen token.
	// The socket must not outlive it (see handlers.WatchSessions).
	Login Login
}

// Login is the session behind a user's socket.
type Login struct {
	UserID  int64
	Session string    // the session's id
	Began   time.Time // when the user logged in
	Ends    time.Time // the session's end as it was known at connect: its absolute lifetime, or its idle timeout
}

// Connection describes one open socket, for the admin page.
type Connection struct {
	ID          uint64
	Kind        string // see View.Kind
	Board       string // the view's key
	Name        string
	RemoteIP    string
	Build       string
	ConnectedAt time.Time
	// LastSentAt is when a message (a change, a snapshot or a heartbeat) was last written to
	// the socket; zero before the first.
	LastSentAt time.Time
	Login      Login
}

// client is one socket. The hub's goroutine owns every field but the atomics; the write
// pump is the only writer of data frames, the read pump the only reader.
type client struct {
	id          uint64
	conn        *websocket.Conn
	send        chan *websocket.PreparedMessage
	view        View
	info        ConnInfo
	connectedAt time.Time
	lastSent    atomic.Int64 // unix nanoseconds

	board *board
	ready bool // has had its board's snapshot
	// closed is set when the hub closed send; closeCode is the close frame the write pump
	// sends then (0: none, the connection is cut).
	closed    bool
	closeCode int
	closeText string
}

// writePump writes what the hub queues, pings at every heartbeat interval, and ends (closing
// the connection, which ends the read pump) when the hub closes send or a write fails.
func (c *client) writePump(t timing) {
	ping := time.NewTicker(t.heartbeat)
	defer func() {
		ping.Stop()
		c.conn.Close()
	}()
	for {
		select {
		case msg, ok := <-c.send:
			if !ok {
				if c.closeCode != 0 {
					frame := websocket.FormatCloseMessage(c.closeCode, c.closeText)
					c.conn.WriteControl(websocket.CloseMessage, frame, time.Now().Add(t.writeWait))
				}
				return
			}
			now := time.Now()
			c.lastSent.Store(now.UnixNano())
			c.conn.SetWriteDeadline(now.Add(t.writeWait))
			if err := c.conn.WritePreparedMessage(msg); err != nil {
				return
			}
		case <-ping.C:
			if err := c.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(t.writeWait)); err != nil {
				return
			}
		}
	}
}

// readPump reads until the connection fails. Clients send nothing but pongs, which keep the
// read deadline moving; a client that stops answering pings is cut after pongWait.
func (c *client) readPump(t timing) {
	c.conn.SetReadLimit(maxIncomingBytes)
	c.conn.SetReadDeadline(time.Now().Add(t.pongWait()))
	c.conn.SetPongHandler(func(string) error {
		return c.conn.SetReadDeadline(time.Now().Add(t.pongWait()))
	})
	for {
		if _, _, err := c.conn.ReadMessage(); err != nil {
			return
		}
	}
}
