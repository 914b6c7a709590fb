package handlers

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"

	"calipso/tracking"
	"calipso/web/live"
)

// Upgrade turns a Fiber request into a gorilla WebSocket. Fiber runs on fasthttp, which has
// no http.Hijacker, so the request is rebuilt as an *http.Request, the raw connection is
// taken with fasthttp's Hijack, and gorilla's Upgrader gets a ResponseWriter that hands it
// that connection.
//
// serve runs on the hijacked connection's goroutine, once, with the socket, or with the error
// when gorilla refused the handshake (it has then written the HTTP error itself). It must
// keep running for the socket's life: fasthttp closes the connection when it returns. When
// Upgrade itself returns an error, nothing was hijacked and serve is not called.
//
// Nothing of c may be used inside serve: fasthttp reuses the request context once the
// handler returns. Copy what serve needs first.
func Upgrade(c *fiber.Ctx, up *websocket.Upgrader, serve func(*websocket.Conn, error)) error {
	req, err := httpRequest(c)
	if err != nil {
		return err
	}
	if !websocket.IsWebSocketUpgrade(req) {
		return fiber.NewError(fiber.StatusUpgradeRequired, "This address speaks WebSocket only.")
	}
	c.Context().HijackSetNoResponse(true)
	c.Context().Hijack(func(conn net.Conn) {
		ws, err := up.Upgrade(&hijackWriter{conn: closingConn{Conn: conn, raw: rawConn(conn)}}, req, nil)
		serve(ws, err)
	})
	return nil
}

// httpRequest copies what gorilla reads of a request: method, URL, Host, headers, peer.
func httpRequest(c *fiber.Ctx) (*http.Request, error) {
	uri := string(c.Request().RequestURI())
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return nil, fiber.NewError(fiber.StatusBadRequest, "Bad request URI.")
	}
	req := &http.Request{
		Method:     c.Method(),
		URL:        u,
		RequestURI: uri,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header{},
		Host:       string(c.Request().Host()),
		RemoteAddr: c.Context().RemoteAddr().String(),
	}
	c.Request().Header.VisitAll(func(k, v []byte) {
		req.Header.Add(string(k), string(v))
	})
	return req, nil
}

// rawConn is the TCP connection under fasthttp's hijacked one, whose Close does nothing
// (fasthttp closes it after the handler returns).
func rawConn(c net.Conn) net.Conn {
	if u, ok := c.(interface{ UnsafeConn() net.Conn }); ok {
		return u.UnsafeConn()
	}
	return c
}

// closingConn reads and writes through fasthttp's hijacked connection (which holds bytes
// fasthttp may already have buffered) but really closes: the hub closes a socket to drop a
// slow client, and its read pump must then end at once.
type closingConn struct {
	net.Conn
	raw net.Conn
}

func (c closingConn) Close() error { return c.raw.Close() }

// hijackWriter is the http.ResponseWriter and http.Hijacker gorilla's Upgrader needs. Gorilla
// writes the 101 answer on the connection itself; the writer is used only when it refuses
// the handshake.
type hijackWriter struct {
	conn   net.Conn
	header http.Header
	status int
}

func (w *hijackWriter) Header() http.Header {
	if w.header == nil {
		w.header = http.Header{}
	}
	return w.header
}

func (w *hijackWriter) WriteHeader(status int) {
	if w.status != 0 {
		return
	}
	w.status = status
	var b strings.Builder
	fmt.Fprintf(&b, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	h := w.Header().Clone()
	h.Set("Connection", "close")
	h.Write(&b)
	b.WriteString("\r\n")
	w.conn.Write([]byte(b.String()))
}

func (w *hijackWriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	return w.conn.Write(p)
}

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return w.conn, bufio.NewReadWriter(bufio.NewReader(w.conn), bufio.NewWriter(w.conn)), nil
}

// SocketLimits bound the WebSockets of one instance.
type SocketLimits struct {
	// PerIP is how many sockets one address may hold open. Wall screens behind one NAT share
	// an address, so it is generous.
	PerIP int
}

// DefaultSocketsPerIP is SocketLimits.PerIP when unset.
const DefaultSocketsPerIP = 64

// BoardSocket is GET /ws/board: the WebSocket of a board (?screen=TOKEN, ?preview=ID for an
// admin, or a logged-in user's board) or of a dispatcher's list (?list=departures with the
// list's filters). It refuses before upgrading:
//   - a bad or revoked token, or no session and no token: 403;
//   - an Origin header naming another site: 403 (a page elsewhere must not ride a user's
//     cookie). Browsers always send Origin on a WebSocket; a request without one is a
//     program, and is let in only with a screen token, never on a cookie alone;
//   - more than SocketLimits.PerIP sockets from one address: 429.
//
// The socket then belongs to the hub, which sends the board's snapshot and its changes.
func BoardSocket(boards *Boards, hub *live.Hub, limits SocketLimits) fiber.Handler {
	if limits.PerIP <= 0 {
		limits.PerIP = DefaultSocketsPerIP
	}
	perIP := &connCounter{max: limits.PerIP, n: map[string]int{}}
	up := &websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 16 << 10,
		// Checked below, before the upgrade, so that a refusal is a plain 403.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	return func(c *fiber.Ctx) error {
		// Credentials first: a stranger learns nothing, whatever the request looks like.
		view, viewer, err := boards.socketView(c)
		if err != nil {
			return err
		}
		if !strings.EqualFold(c.Get(fiber.HeaderUpgrade), "websocket") {
			return fiber.NewError(fiber.StatusUpgradeRequired, "This address speaks WebSocket only.")
		}
		origin := c.Get(fiber.HeaderOrigin)
		switch {
		case origin == "" && viewer != viewerScreen:
			return tracking.Errorf(tracking.EFORBIDDEN, "A WebSocket without an Origin needs a screen token.")
		case origin != "" && !sameOrigin(origin, string(c.Request().Host())):
			return tracking.Errorf(tracking.EFORBIDDEN, "This WebSocket may be opened only from this site's pages.")
		}
		info := live.ConnInfo{RemoteIP: strings.Clone(c.IP()), Build: strings.Clone(c.Query("build"))}
		if viewer == viewerUser {
			info.Login, _ = c.Locals(loginKey).(live.Login)
		}
		if !perIP.acquire(info.RemoteIP) {
			return fiber.NewError(fiber.StatusTooManyRequests, "Too many open boards from this address.")
		}
		err = Upgrade(c, up, func(conn *websocket.Conn, err error) {
			defer perIP.release(info.RemoteIP)
			if err == nil {
				hub.Serve(conn, view, info)
			}
		})
		if err != nil {
			perIP.release(info.RemoteIP)
		}
		return err
	}
}

// sameOrigin reports whether an Origin header names the host the request came to (any
// scheme: a proxy may terminate TLS).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// connCounter counts open sockets per address.
type connCounter struct {
	mu  sync.Mutex
	max int
	n   map[string]int
}

func (c *connCounter) acquire(ip string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[ip] >= c.max {
		return false
	}
	c.n[ip]++
	return true
}

func (c *connCounter) release(ip string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n[ip]--; c.n[ip] <= 0 {
		delete(c.n, ip)
	}
}
