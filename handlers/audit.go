package handlers

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"calipso/tracking"
	"calipso/views"
)

// Audit is the audit trail. The store audits its own changes inside their transactions (the
// actor comes from the request's context, set by web's middleware); a handler whose change is
// not in the store, such as an action on the broker, records it with Audit. Admins read it
// with AuditLog.
type Audit interface {
	Audit(ctx context.Context, action, subject, detail string) error
	AuditLog(ctx context.Context, f tracking.AuditFilter) ([]tracking.AuditEntry, error)
}

// auditPageSize is how many entries one page of the audit log shows.
const auditPageSize = 100

// AuditPage shows the audit trail, newest first, filtered by user, action, subject and days.
func AuditPage(site Site, audit Audit) fiber.Handler {
	return func(c *fiber.Ctx) error {
		props := views.AuditLog{Page: page(c, site, "Audit trail", "admin")}
		filter, view, err := auditFilter(c, site.Loc)
		props.Filter = view
		if err != nil {
			props.Error = tracking.FieldSummary(err)
			return Render(c, fiber.StatusUnprocessableEntity, views.AuditLogPage(props))
		}
		if props.Entries, err = audit.AuditLog(c.UserContext(), filter); err != nil {
			return err
		}
		if n := len(props.Entries); n == auditPageSize {
			props.Older = view.Query(props.Entries[n-1].ID)
		}
		return Render(c, fiber.StatusOK, views.AuditLogPage(props))
	}
}

func auditFilter(c *fiber.Ctx, loc *time.Location) (tracking.AuditFilter, views.AuditFilter, error) {
	v := views.AuditFilter{
		User:    strings.TrimSpace(c.Query("user")),
		Action:  strings.TrimSpace(c.Query("action")),
		Subject: strings.TrimSpace(c.Query("subject")),
		From:    strings.TrimSpace(c.Query("from")),
		To:      strings.TrimSpace(c.Query("to")),
	}
	// A departure's id is found however it was typed: dep-123 is DEP-000123.
	if id, err := tracking.ParseID(strings.ToUpper(v.Subject)); err == nil {
		v.Subject = tracking.FormatID(id)
	}
	f := tracking.AuditFilter{Username: v.User, Action: v.Action, Subject: v.Subject, Limit: auditPageSize}
	errs := tracking.FieldErrors{}
	for name, s := range map[string]string{"user": v.User, "action": v.Action, "subject": v.Subject} {
		if len(s) > maxQuery {
			errs.Add(name, "At most 100 characters.")
		}
	}
	day := func(name, s string) time.Time {
		if s == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation(time.DateOnly, s, loc)
		if err != nil {
			errs.Add(name, "Use the format YYYY-MM-DD.")
		}
		return t
	}
	if from := day("from", v.From); !from.IsZero() {
		f.From, _ = tracking.Day(from, loc)
	}
	if to := day("to", v.To); !to.IsZero() {
		_, f.To = tracking.Day(to, loc) // the whole "to" day is included
	}
	if b := c.Query("before"); b != "" {
		n, err := strconv.ParseInt(b, 10, 64)
		if err != nil || n <= 0 {
			errs.Add("before", "Not a page of this log.")
		}
		f.Before = n
	}
	return f, v, errs.Err()
}
