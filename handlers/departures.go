package handlers

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
	"calipso/views"
)

// Departures is what the dispatcher's pages need from the system of record. The store
// implements it; a cache may stand in front of the reads.
type Departures interface {
	Departure(ctx context.Context, id int64) (tracking.Departure, error)
	Departures(ctx context.Context, f tracking.DepartureFilter) ([]tracking.Departure, error)
	History(ctx context.Context, id int64) ([]tracking.StatusChange, error)
	CreateDeparture(ctx context.Context, f tracking.DepartureFields, by string) (tracking.Departure, error)
	UpdateDeparture(ctx context.Context, id, version int64, f tracking.DepartureFields, by string) (tracking.Departure, error)
	ChangeStatus(ctx context.Context, id, version int64, to tracking.Status, reason, by string) (tracking.Departure, error)
}

const maxQuery = 100

// DepartureList shows the departures of a day, filtered. An absent date means today; an
// empty one means every day, so that a search by id or PO finds old departures too.
func DepartureList(site Site, deps Departures) fiber.Handler {
	return func(c *fiber.Ctx) error {
		props := views.DepartureList{Page: page(c, site, "Departures", "departures"), Back: c.OriginalURL()}
		filter, view, err := listFilter(c, site.Loc)
		props.Filter = view
		if tracking.ErrorCode(err) == tracking.EINVALID {
			props.Error = tracking.FieldSummary(err)
			return Render(c, fiber.StatusUnprocessableEntity, views.DepartureListPage(props))
		}
		props.SocketURL = listSocketURL(view, site.Build)
		if props.Departures, err = deps.Departures(c.UserContext(), filter); err != nil {
			return err
		}
		return Render(c, fiber.StatusOK, views.DepartureListPage(props))
	}
}

func listFilter(c *fiber.Ctx, loc *time.Location) (tracking.DepartureFilter, views.ListFilter, error) {
	var f tracking.DepartureFilter
	var v views.ListFilter
	errs := tracking.FieldErrors{}

	args := c.Context().QueryArgs()
	switch {
	case !args.Has("date"):
		v.Date = time.Now().In(loc).Format(time.DateOnly)
	default:
		v.Date = strings.TrimSpace(c.Query("date"))
	}
	if v.Date != "" {
		day, err := time.ParseInLocation(time.DateOnly, v.Date, loc)
		if err != nil {
			errs.Add("date", "Use the format YYYY-MM-DD.")
		} else {
			f.From, f.To = tracking.Day(day, loc)
		}
	}
	for _, raw := range args.PeekMulti("status") {
		s, err := tracking.ParseStatus(string(raw))
		if err != nil {
			errs.Add("status", tracking.ErrorFields(err)["status"])
			continue
		}
		f.Statuses = append(f.Statuses, s)
	}
	v.Statuses = f.Statuses
	v.Dock = strings.TrimSpace(c.Query("dock"))
	if v.Dock != "" {
		f.Docks = []string{v.Dock}
	}
	v.Query = strings.TrimSpace(c.Query("q"))
	if utf8.RuneCountInString(v.Query) > maxQuery || !utf8.ValidString(v.Query) {
		errs.Add("q", fmt.Sprintf("At most %d characters.", maxQuery))
	}
	f.Query = v.Query
	return f, v, errs.Err()
}

// NewDepartureForm shows an empty form, scheduled for the next quarter hour.
func NewDepartureForm(site Site) fiber.Handler {
	return func(c *fiber.Ctx) error {
		next := time.Now().In(site.Loc).Add(time.Hour).Truncate(15 * time.Minute)
		return Render(c, fiber.StatusOK, views.DepartureFormPage(views.DepartureForm{
			Page: page(c, site, "New departure", "departures"),
			Form: tracking.DepartureForm{ScheduledAt: next.Format(tracking.DateTimeLayout)},
		}))
	}
}

// CreateDeparture saves a new departure. Bad input answers 422 with the form and its errors.
func CreateDeparture(site Site, deps Departures) fiber.Handler {
	return func(c *fiber.Ctx) error {
		form := departureForm(c)
		props := views.DepartureForm{Page: page(c, site, "New departure", "departures"), Form: form}
		fields, err := form.Parse(site.Loc)
		if err == nil {
			var d tracking.Departure
			if d, err = deps.CreateDeparture(c.UserContext(), fields, username(c)); err == nil {
				return afterSave(c, site, deps, d)
			}
		}
		if tracking.ErrorCode(err) != tracking.EINVALID {
			return err
		}
		props.Errors = tracking.ErrorFields(err)
		return renderForm(c, fiber.StatusUnprocessableEntity, props)
	}
}

// EditDepartureForm shows a departure's current values and the version they belong to.
func EditDepartureForm(site Site, deps Departures) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d, err := departureParam(c, deps)
		if err != nil {
			return err
		}
		return Render(c, fiber.StatusOK, views.DepartureFormPage(views.DepartureForm{
			Page:      page(c, site, "Edit "+d.PublicID(), "departures"),
			Departure: &d,
			Form:      tracking.FormOf(d.DepartureFields, site.Loc),
			Version:   d.Version,
		}))
	}
}

// UpdateDeparture saves an edit when nobody else saved since the form was opened. Otherwise it
// answers 409, shows the current values and what the user tried, and overwrites nothing.
func UpdateDeparture(site Site, deps Departures) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := tracking.ParseID(c.Params("id"))
		if err != nil {
			return err
		}
		form := departureForm(c)
		props := views.DepartureForm{Page: page(c, site, "Edit "+tracking.FormatID(id), "departures"), Form: form}
		version, verr := formVersion(c)
		fields, err := form.Parse(site.Loc)
		if verr != nil {
			err = mergeInvalid(err, verr)
		}
		if err == nil {
			var d tracking.Departure
			if d, err = deps.UpdateDeparture(c.UserContext(), id, version, fields, username(c)); err == nil {
				return afterSave(c, site, deps, d)
			}
		}
		switch tracking.ErrorCode(err) {
		case tracking.EINVALID:
			current, lerr := deps.Departure(c.UserContext(), id)
			if lerr != nil {
				return lerr
			}
			props.Departure, props.Version = &current, version
			props.Errors = tracking.ErrorFields(err)
			return renderForm(c, fiber.StatusUnprocessableEntity, props)
		case tracking.ECONFLICT:
			current, lerr := deps.Departure(c.UserContext(), id)
			if lerr != nil {
				return lerr
			}
			props.Departure, props.Version = &current, current.Version
			props.Conflict, props.Attempted = true, &form
			props.Form = tracking.FormOf(current.DepartureFields, site.Loc)
			return renderForm(c, fiber.StatusConflict, props)
		}
		return err
	}
}

// afterSave sends the browser to the departure: a 303 for a plain form, and for htmx the
// detail fragment in place of the page, with the URL pushed.
func afterSave(c *fiber.Ctx, site Site, deps Departures, d tracking.Departure) error {
	if !IsHTMX(c) {
		return c.Redirect("/departures/"+d.PublicID(), fiber.StatusSeeOther)
	}
	props, err := detail(c, site, deps, d)
	if err != nil {
		return err
	}
	props.Note = "Saved."
	c.Set("HX-Retarget", "#main")
	c.Set("HX-Reswap", "innerHTML")
	c.Set("HX-Push-Url", "/departures/"+d.PublicID())
	return Render(c, fiber.StatusOK, views.DepartureDetailFragment(props))
}

func renderForm(c *fiber.Ctx, status int, props views.DepartureForm) error {
	if IsHTMX(c) {
		return Render(c, status, views.DepartureFormFragment(props))
	}
	return Render(c, status, views.DepartureFormPage(props))
}

// DepartureDetail shows one departure and its history.
func DepartureDetail(site Site, deps Departures) fiber.Handler {
	return func(c *fiber.Ctx) error {
		d, err := departureParam(c, deps)
		if err != nil {
			return err
		}
		props, err := detail(c, site, deps, d)
		if err != nil {
			return err
		}
		return Render(c, fiber.StatusOK, views.DepartureDetailPage(props))
	}
}

func detail(c *fiber.Ctx, site Site, deps Departures, d tracking.Departure) (views.DepartureDetail, error) {
	history, err := deps.History(c.UserContext(), d.ID)
	return views.DepartureDetail{Page: page(c, site, d.PublicID(), "departures"), D: d, History: history}, err
}

// ChangeStatus applies a one-click status change. With htmx it answers the fragment that was
// clicked in (the list row or the detail panel); without, a 303 back where the user was. A
// forbidden transition answers 422 naming the allowed ones; a stale version 409 with the
// current status.
func ChangeStatus(site Site, deps Departures) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := tracking.ParseID(c.Params("id"))
		if err != nil {
			return err
		}
		version, err := formVersion(c)
		var to tracking.Status
		var reason string
		if err == nil {
			to, err = tracking.ParseStatus(c.FormValue("status"))
		}
		if err == nil {
			reason, err = tracking.CheckReason(c.FormValue("reason"))
		}
		var d tracking.Departure
		if err == nil {
			d, err = deps.ChangeStatus(c.UserContext(), id, version, to, reason, username(c))
		}
		status, message := fiber.StatusOK, "Now "+string(to)+"."
		switch tracking.ErrorCode(err) {
		case "":
			if !IsHTMX(c) {
				return c.Redirect(safeNext(c.FormValue("next"), "/departures/"+d.PublicID()), fiber.StatusSeeOther)
			}
		case tracking.EINVALID:
			status, message = fiber.StatusUnprocessableEntity, firstFieldError(err)
		case tracking.ECONFLICT:
			status = fiber.StatusConflict
		default:
			return err
		}
		if err != nil {
			// Show the departure as it is now, with the reason nothing changed.
			if d, err = deps.Departure(c.UserContext(), id); err != nil {
				return err
			}
			if status == fiber.StatusConflict {
				message = fmt.Sprintf("%s changed it meanwhile: it is now %s. Nothing was changed; try again if still needed.", d.UpdatedBy, d.Status)
			}
		}
		return renderStatusResult(c, site, deps, d, status, message)
	}
}

func renderStatusResult(c *fiber.Ctx, site Site, deps Departures, d tracking.Departure, status int, message string) error {
	ok := status == fiber.StatusOK
	note, failure := message, ""
	if !ok {
		note, failure = "", message
	}
	if IsHTMX(c) && htmxTarget(c) == "dep-"+d.PublicID() {
		return Render(c, status, views.DepartureRowFragment(views.DepartureRow{
			D: d, CSRF: csrfToken(c), Loc: site.Loc, Back: safeNext(c.FormValue("next"), "/departures"), Error: failure, Note: note,
		}))
	}
	props, err := detail(c, site, deps, d)
	if err != nil {
		return err
	}
	props.Error, props.Note = failure, note
	if IsHTMX(c) {
		return Render(c, status, views.DepartureDetailFragment(props))
	}
	return Render(c, status, views.DepartureDetailPage(props))
}

// departureParam loads the departure named by the :id parameter; a malformed id is 404.
func departureParam(c *fiber.Ctx, deps Departures) (tracking.Departure, error) {
	id, err := tracking.ParseID(c.Params("id"))
	if err != nil {
		return tracking.Departure{}, err
	}
	return deps.Departure(c.UserContext(), id)
}

func departureForm(c *fiber.Ctx) tracking.DepartureForm {
	return tracking.DepartureForm{
		PONumber:    c.FormValue("po_number"),
		Destination: c.FormValue("destination"),
		Carrier:     c.FormValue("carrier"),
		Vehicle:     c.FormValue("vehicle"),
		Dock:        c.FormValue("dock"),
		ScheduledAt: c.FormValue("scheduled_at"),
		EstimatedAt: c.FormValue("estimated_at"),
		Notes:       c.FormValue("notes"),
	}
}

// formVersion reads the version a form was opened at. Without it a save could overwrite a
// change the user never saw, so it is required.
func formVersion(c *fiber.Ctx) (int64, error) {
	v, err := strconv.ParseInt(c.FormValue("version"), 10, 64)
	if err != nil || v <= 0 {
		return 0, &tracking.Error{Code: tracking.EINVALID, Message: "The form is missing its version: reload the page.",
			Fields: map[string]string{"version": "The form is missing its version: reload the page."}}
	}
	return v, nil
}

// mergeInvalid combines two EINVALID errors' fields; either may be nil.
func mergeInvalid(a, b error) error {
	errs := tracking.FieldErrors{}
	for _, e := range []error{a, b} {
		for k, v := range tracking.ErrorFields(e) {
			errs.Add(k, v)
		}
	}
	return errs.Err()
}

func firstFieldError(err error) string {
	fields := tracking.ErrorFields(err)
	for _, k := range []string{"status", "version", "reason"} {
		if msg, ok := fields[k]; ok {
			if k == "reason" {
				return "Reason: " + msg
			}
			return msg
		}
	}
	return tracking.ErrorMessage(err)
}
