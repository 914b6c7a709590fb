package web

import (
	"calipso/handlers"
	"calipso/web/live"
)

// BoardDeps is the live board: the wall screens, their WebSocket hub, and the screens admin.
type BoardDeps struct {
	Boards *handlers.Boards
	Hub    *live.Hub
	Limits handlers.SocketLimits
}
