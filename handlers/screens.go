package handlers

import (
	"context"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
	"calipso/views"
	"calipso/web/live"
)

// The screens admin: an admin registers a screen with its profile, edits it (connected
// screens take the change at once), replaces its link or revokes it (its sockets close at
// once). Forms post with the CSRF token like the departure forms.

// ScreenList is GET /admin/screens.
func ScreenList(site Site, screens Screens, hub *live.Hub) fiber.Handler {
	return func(c *fiber.Ctx) error {
		all, err := screens.Screens(c.UserContext())
		if err != nil {
			return err
		}
		props := views.ScreenList{Page: page(c, site, "Screens", "screens"), Screens: all, Online: map[int64][]views.ScreenConnection{}}
		for _, conn := range hub.Connections() {
			if conn.Kind != live.KindScreen {
				continue
			}
			id, ok := screenIDOfBoard(conn.Board)
			if !ok {
				continue
			}
			props.Online[id] = append(props.Online[id], views.ScreenConnection{
				ID: conn.ID, RemoteIP: conn.RemoteIP, Build: conn.Build, ConnectedAt: conn.ConnectedAt, LastSentAt: conn.LastSentAt,
			})
		}
		return Render(c, fiber.StatusOK, views.ScreensPage(props))
	}
}

// screenIDOfBoard reads the screen id out of a board key made by ScreenView.
func screenIDOfBoard(key string) (int64, bool) {
	rest, ok := strings.CutPrefix(key, "screen:")
	if !ok {
		return 0, false
	}
	idText, _, _ := strings.Cut(rest, ":")
	id, err := strconv.ParseInt(idText, 10, 64)
	return id, err == nil
}

// NewScreenForm is GET /admin/screens/new.
func NewScreenForm(site Site) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return Render(c, fiber.StatusOK, views.ScreenFormPage(views.ScreenFormProps{
			Page: page(c, site, "Register a screen", "screens"),
			Form: tracking.ScreenFormOf(tracking.DefaultScreenProfile()),
		}))
	}
}

// CreateScreen is POST /admin/screens: it saves the screen and shows its link, once.
func CreateScreen(site Site, screens Screens) fiber.Handler {
	return func(c *fiber.Ctx) error {
		form := screenForm(c)
		props := views.ScreenFormProps{Page: page(c, site, "Register a screen", "screens"), Form: form}
		p, err := form.Parse()
		if err == nil {
			token, hash := tracking.NewScreenToken()
			var sc tracking.Screen
			if sc, err = screens.CreateScreen(c.UserContext(), p, hash, username(c)); err == nil {
				return renderScreenLink(c, site, sc, token)
			}
		}
		switch tracking.ErrorCode(err) {
		case tracking.EINVALID:
			props.Errors = tracking.ErrorFields(err)
			return Render(c, fiber.StatusUnprocessableEntity, views.ScreenFormPage(props))
		case tracking.ECONFLICT:
			props.Errors = map[string]string{"name": tracking.ErrorMessage(err)}
			return Render(c, fiber.StatusConflict, views.ScreenFormPage(props))
		}
		return err
	}
}

// EditScreenForm is GET /admin/screens/:id/edit.
func EditScreenForm(site Site, screens Screens) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sc, err := screenParam(c, screens)
		if err != nil {
			return err
		}
		return Render(c, fiber.StatusOK, views.ScreenFormPage(views.ScreenFormProps{
			Page: page(c, site, "Edit screen "+sc.Name, "screens"), Screen: &sc,
			Form: tracking.ScreenFormOf(sc.ScreenProfile), Version: sc.Version,
		}))
	}
}

// UpdateScreen is POST /admin/screens/:id: it saves the profile when nobody else changed it
// meanwhile, and the screen's open boards re-render with it at once.
func UpdateScreen(site Site, screens Screens, boards *Boards, hub *live.Hub) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sc, err := screenParam(c, screens)
		if err != nil {
			return err
		}
		form := screenForm(c)
		props := views.ScreenFormProps{Page: page(c, site, "Edit screen "+sc.Name, "screens"), Screen: &sc, Form: form, Version: sc.Version}
		version, verr := formVersion(c)
		p, err := form.Parse()
		if verr != nil {
			err = mergeInvalid(err, verr)
		}
		if err == nil {
			var saved tracking.Screen
			if saved, err = screens.UpdateScreen(c.UserContext(), sc.ID, version, p, username(c)); err == nil {
				hub.Reconfigure(boards.ScreenView(saved))
				return c.Redirect("/admin/screens", fiber.StatusSeeOther)
			}
		}
		switch tracking.ErrorCode(err) {
		case tracking.EINVALID:
			props.Version = version
			props.Errors = tracking.ErrorFields(err)
			return Render(c, fiber.StatusUnprocessableEntity, views.ScreenFormPage(props))
		case tracking.ECONFLICT:
			if sc, err = screens.Screen(c.UserContext(), sc.ID); err != nil {
				return err
			}
			if sc.Version == version { // the name is taken
				props.Errors = map[string]string{"name": "Another screen already has this name."}
			} else {
				props.Conflict, props.Form = true, tracking.ScreenFormOf(sc.ScreenProfile)
			}
			props.Screen, props.Version = &sc, sc.Version
			return Render(c, fiber.StatusConflict, views.ScreenFormPage(props))
		}
		return err
	}
}

// RevokeScreen is POST /admin/screens/:id/revoke: the link stops working and the screen's
// sockets here close at once (other instances close theirs at their next WatchScreens pass).
func RevokeScreen(screens Screens, hub *live.Hub) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sc, err := screenParam(c, screens)
		if err != nil {
			return err
		}
		if _, err := screens.RevokeScreen(c.UserContext(), sc.ID, username(c)); err != nil {
			return err
		}
		prefix := ScreenBoardPrefix(sc.ID)
		hub.Disconnect(func(key string) bool { return strings.HasPrefix(key, prefix) }, "revoked")
		return c.Redirect("/admin/screens", fiber.StatusSeeOther)
	}
}

// RelinkScreen is POST /admin/screens/:id/link: the screen gets a new link, shown once; the
// old one stops working and its sockets close.
func RelinkScreen(site Site, screens Screens, boards *Boards, hub *live.Hub) fiber.Handler {
	return func(c *fiber.Ctx) error {
		sc, err := screenParam(c, screens)
		if err != nil {
			return err
		}
		token, hash := tracking.NewScreenToken()
		if sc, err = screens.SetScreenToken(c.UserContext(), sc.ID, hash, username(c)); err != nil {
			return err
		}
		keep, prefix := boards.ScreenView(sc).Key(), ScreenBoardPrefix(sc.ID)
		hub.Disconnect(func(key string) bool { return strings.HasPrefix(key, prefix) && key != keep }, "link replaced")
		return renderScreenLink(c, site, sc, token)
	}
}

// Audit actions of the commands sent to a connected screen.
const (
	AuditScreenReload   = "screen.reload"
	AuditScreenIdentify = "screen.identify"
)

// ScreenCommand is POST /admin/screens/connections/:conn/reload and …/identify: it tells one
// screen connected to this instance to reload its page, or to show its name large. It returns
// to the page the admin came from (next), the screens admin by default.
func ScreenCommand(hub *live.Hub, audit Audit, identify bool) fiber.Handler {
	action, send := AuditScreenReload, hub.Reload
	if identify {
		action, send = AuditScreenIdentify, hub.Identify
	}
	return func(c *fiber.Ctx) error {
		id, err := strconv.ParseUint(c.Params("conn"), 10, 64)
		if err != nil || !send(id) {
			return tracking.Errorf(tracking.ENOTFOUND, "That screen is no longer connected here.")
		}
		name := ""
		for _, conn := range hub.Connections() {
			if conn.ID == id {
				name = conn.Name
			}
		}
		if err := audit.Audit(c.UserContext(), action, name, "connection "+c.Params("conn")); err != nil {
			return err
		}
		return c.Redirect(safeNext(c.FormValue("next"), "/admin/screens"), fiber.StatusSeeOther)
	}
}

// WatchScreens keeps connected screens in step with the screens table, every interval, until
// ctx ends: a profile changed (by an admin on another instance) re-renders its boards, and a
// revoked or replaced link closes its sockets. Changes made on this instance take effect at
// once; this catches the others'.
func WatchScreens(ctx context.Context, boards *Boards, hub *live.Hub, interval time.Duration, log *slog.Logger) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		all, err := boards.Screens.Screens(ctx)
		if err != nil {
			if ctx.Err() == nil {
				log.Warn("screens: cannot read profiles", "err", err)
			}
			continue
		}
		for _, sc := range all {
			prefix := ScreenBoardPrefix(sc.ID)
			if sc.Revoked() {
				hub.Disconnect(func(key string) bool { return strings.HasPrefix(key, prefix) }, "revoked")
				continue
			}
			view := boards.ScreenView(sc)
			keep := view.Key()
			hub.Disconnect(func(key string) bool { return strings.HasPrefix(key, prefix) && key != keep }, "link replaced")
			hub.Reconfigure(view)
		}
	}
}

func renderScreenLink(c *fiber.Ctx, site Site, sc tracking.Screen, token string) error {
	// The answer holds a working link: no cache may keep it.
	c.Set(fiber.HeaderCacheControl, "no-store")
	return Render(c, fiber.StatusOK, views.ScreenLinkPage(views.ScreenLink{
		Page: page(c, site, "Screen link", "screens"), Screen: sc,
		URL: c.BaseURL() + "/board?screen=" + token,
	}))
}

func screenParam(c *fiber.Ctx, screens Screens) (tracking.Screen, error) {
	id, err := strconv.ParseInt(c.Params("screen"), 10, 64)
	if err != nil || id <= 0 {
		return tracking.Screen{}, tracking.Errorf(tracking.ENOTFOUND, "No such screen.")
	}
	return screens.Screen(c.UserContext(), id)
}

func screenForm(c *fiber.Ctx) tracking.ScreenForm {
	f := tracking.ScreenForm{
		Name:          c.FormValue("name"),
		Docks:         c.FormValue("docks"),
		Destinations:  c.FormValue("destinations"),
		Carriers:      c.FormValue("carriers"),
		PageSize:      c.FormValue("page_size"),
		RotateSeconds: c.FormValue("rotate_seconds"),
		Language:      c.FormValue("language"),
		Theme:         c.FormValue("theme"),
		RemoveAfter:   c.FormValue("remove_after"),
	}
	for _, v := range c.Context().PostArgs().PeekMulti("statuses") {
		f.Statuses = append(f.Statuses, string(v))
	}
	return f
}
