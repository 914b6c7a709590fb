package handlers

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gorilla/websocket"
)

// fiberServer serves app on a free loopback port until the test ends.
func fiberServer(t *testing.T, app *fiber.App) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.ShutdownWithTimeout(5 * time.Second) })
	return ln.Addr().String()
}

// echoApp upgrades /ws through Upgrade and echoes every message, prefixed with what the
// handler read from the request before the upgrade. closed receives when serve returns.
func echoApp(t *testing.T, closed chan<- error) string {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	up := &websocket.Upgrader{}
	app.Get("/ws", func(c *fiber.Ctx) error {
		// Copied before the upgrade: c is reused once the handler returns.
		who := strings.Clone(c.Query("who"))
		return Upgrade(c, up, func(conn *websocket.Conn, err error) {
			if err != nil {
				closed <- err
				return
			}
			defer conn.Close()
			for {
				kind, msg, err := conn.ReadMessage()
				if err != nil {
					closed <- err
					return
				}
				if string(msg) == "close-from-server" {
					conn.Close()
					continue
				}
				pm, _ := websocket.NewPreparedMessage(kind, append([]byte(who+":"), msg...))
				if err := conn.WritePreparedMessage(pm); err != nil {
					closed <- err
					return
				}
			}
		})
	})
	return fiberServer(t, app)
}

func dialWS(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	conn, res, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v (%v)", url, err, res)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

func TestUpgradeThroughFiberRoundTripsPreparedMessages(t *testing.T) {
	closed := make(chan error, 1)
	addr := echoApp(t, closed)
	conn := dialWS(t, "ws://"+addr+"/ws?who=olga")
	for _, msg := range []string{"hello", strings.Repeat("x", 70000)} { // one small, one spanning frames and buffers
		if err := conn.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := conn.ReadMessage()
		if err != nil || string(got) != "olga:"+msg {
			t.Fatalf("echo of %d bytes: %d bytes, %v", len(msg), len(got), err)
		}
	}
	conn.Close()
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server's read did not end when the client went away")
	}
}

// A client may send its first frame right behind the handshake, in the same packet; fasthttp
// then holds those bytes in its reader, and the socket must still see them.
func TestUpgradeKeepsBytesFasthttpAlreadyBuffered(t *testing.T) {
	closed := make(chan error, 1)
	addr := echoApp(t, closed)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	frame := []byte{0x81, 0x80 | 2, 1, 2, 3, 4, 'h' ^ 1, 'i' ^ 2} // masked text frame "hi"
	req := "GET /ws?who=x HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), frame...)); err != nil {
		t.Fatal(err)
	}
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", res, err)
	}
	head := make([]byte, 2)
	if _, err := io.ReadFull(br, head); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, head[1]&0x7f)
	if _, err := io.ReadFull(br, body); err != nil || string(body) != "x:hi" {
		t.Fatalf("echo %q, %v", body, err)
	}
}

func TestClosingTheSocketOnTheServerClosesTheConnectionAtOnce(t *testing.T) {
	closed := make(chan error, 1)
	addr := echoApp(t, closed)
	conn := dialWS(t, "ws://"+addr+"/ws")
	if err := conn.WriteMessage(websocket.TextMessage, []byte("close-from-server")); err != nil {
		t.Fatal(err)
	}
	// fasthttp's hijacked connection does not close; the adapter must close the TCP
	// connection underneath, so that the server's read fails now, not at some deadline.
	select {
	case err := <-closed:
		if err == nil {
			t.Fatal("read ended without an error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the server's read pump is still blocked after Close")
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := conn.ReadMessage(); err == nil {
		t.Fatal("the client's connection is still open")
	}
}

func TestPlainRequestToASocketAddressIs426(t *testing.T) {
	addr := echoApp(t, make(chan error, 1))
	res, err := http.Get("http://" + addr + "/ws")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != fiber.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", res.StatusCode)
	}
}

func TestHandshakeGorillaRefusesIsAnsweredWithItsError(t *testing.T) {
	closed := make(chan error, 1)
	addr := echoApp(t, closed)
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	// An upgrade without the key: gorilla answers 400 through the adapter's ResponseWriter.
	fmt.Fprintf(nc, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", addr)
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(nc), nil)
	if err != nil || res.StatusCode != http.StatusBadRequest {
		t.Fatalf("answer %v, %v; want 400", res, err)
	}
	select {
	case err := <-closed:
		var he websocket.HandshakeError
		if !errors.As(err, &he) {
			t.Fatalf("serve got %v, want the handshake error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("serve was not told about the refused handshake")
	}
}

func TestSameOriginComparesHostsOnly(t *testing.T) {
	cases := []struct {
		origin, host string
		want         bool
	}{
		{"http://depot.example:8080", "depot.example:8080", true},
		{"https://DEPOT.example", "depot.example", true},
		{"http://evil.example", "depot.example", false},
		{"http://depot.example.evil.example", "depot.example", false},
		{"null", "depot.example", false},
		{"", "depot.example", false},
	}
	for _, c := range cases {
		if got := sameOrigin(c.origin, c.host); got != c.want {
			t.Errorf("sameOrigin(%q, %q) = %v", c.origin, c.host, got)
		}
	}
}

func TestConnCounterLimitsPerAddress(t *testing.T) {
	c := &connCounter{max: 2, n: map[string]int{}}
	for i, want := range []bool{true, true, false} {
		if got := c.acquire("a"); got != want {
			t.Fatalf("acquire %d from a = %v, want %v", i+1, got, want)
		}
	}
	if !c.acquire("b") {
		t.Fatal("another address is refused because of the first")
	}
	c.release("a")
	if !c.acquire("a") {
		t.Fatal("a released slot is not reusable")
	}
	c.release("a")
	c.release("a")
	c.release("b")
	if len(c.n) != 0 {
		t.Fatalf("counts leak: %v", c.n)
	}
}
