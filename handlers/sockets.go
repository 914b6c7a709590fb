package handlers

import (
	"context"
	"log/slog"
	"time"

	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
	"calipso/web/live"
)

// SessionEnded is the reason a user's socket is closed with when its session is over.
const SessionEnded = "session ended"

// WatchSessions closes, every interval until ctx ends, the sockets of users whose session is
// over: logged out, past its lifetime or idle timeout, the user disabled, or their password
// changed since the login. A socket is checked at connect only; without this, a list or a
// board left open would keep streaming to a browser that no longer has a login. It reads the
// shared session store and users table, so an action on any instance reaches the sockets here.
func WatchSessions(ctx context.Context, hub *live.Hub, sessions fiber.Storage, users Users, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		for _, conn := range hub.Connections() {
			if conn.Login.UserID == 0 {
				continue // a screen token: revoking the screen closes it
			}
			live, err := loginLive(ctx, conn.Login, sessions, users)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("sockets: cannot check a session", "conn", conn.ID, "err", err)
				}
				continue // unknown: check again next time rather than cut a dispatcher off
			}
			if !live {
				hub.End(conn.ID, SessionEnded)
			}
		}
	}
}

// loginLive reports whether the session a socket was opened with still stands.
func loginLive(ctx context.Context, l live.Login, sessions fiber.Storage, users Users) (bool, error) {
	if !l.Ends.IsZero() && time.Now().After(l.Ends) {
		// Past what was known at connect; the page reconnects if the session was refreshed
		// since (another tab), and meets the login page if not.
		return false, nil
	}
	data, err := sessions.Get(l.Session)
	if err != nil {
		return false, err
	}
	if data == nil {
		return false, nil // logged out, or expired in the store
	}
	u, err := users.UserByID(ctx, l.UserID)
	switch {
	case tracking.ErrorCode(err) == tracking.ENOTFOUND:
		return false, nil
	case err != nil:
		return false, err
	}
	return !u.Disabled && !l.Began.Before(u.SessionsNotBefore), nil
}
