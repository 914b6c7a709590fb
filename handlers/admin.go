package handlers

import (
	"context"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	"calipso/messaging"
	"calipso/monitor"
	"calipso/tracking"
	"calipso/views"
	"calipso/web/live"
)

// Console is what the admin page reads and acts on.
type Console struct {
	Pipeline interface {
		Report(ctx context.Context) monitor.Report
	}
	// DeadLetters acts on the _error queue of the consumer's endpoint, named Endpoint.
	DeadLetters interface {
		DeadLetters(ctx context.Context, endpoint string, limit int) (int, []messaging.DeadLetter, error)
		Replay(ctx context.Context, endpoint, messageID string) error
		ReplayAll(ctx context.Context, endpoint string) (int, error)
		Delete(ctx context.Context, endpoint, messageID string) error
	}
	Endpoint string
	// Screens are this instance's open board sockets (reload and identify are the screens
	// admin's routes).
	Screens interface {
		Connections() []live.Connection
	}
	Audit Audit
	// Replayed counts replayed dead letters (metrics.Metrics.Replayed).
	Replayed interface{ Add(float64) }
}

// Audit actions of the admin page.
const (
	AuditDeadLetterReplay    = "deadletter.replay"
	AuditDeadLetterReplayAll = "deadletter.replay_all"
	AuditDeadLetterDelete    = "deadletter.delete"
)

// AdminPage shows the pipeline's health. The page refreshes itself by asking for itself again
// (htmx selects #admin-panels from the answer).
func AdminPage(site Site, con Console) fiber.Handler {
	return func(c *fiber.Ctx) error {
		return renderAdmin(c, site, con, fiber.StatusOK, "")
	}
}

func renderAdmin(c *fiber.Ctx, site Site, con Console, status int, note string) error {
	props := adminProps(c, site, con)
	if note != "" {
		props.Problems = append(props.Problems, note)
	}
	return Render(c, status, views.AdminPage(props))
}

func adminProps(c *fiber.Ctx, site Site, con Console) views.Admin {
	ctx := c.UserContext()
	r := con.Pipeline.Report(ctx)
	p := views.Admin{Page: page(c, site, "Admin", "admin"), Now: r.At}
	for _, q := range r.Queues {
		row := views.QueueRow{Name: q.Name, Role: q.Role, Ready: q.Ready, Unacked: q.Unacked, Consumers: q.Consumers,
			OldestAge: q.OldestAge, Depth: q.Depth, Alarm: q.Alarm}
		if q.Detail != nil {
			row.Rates = &views.QueueRates{Publish: q.Detail.Publish, Deliver: q.Detail.Deliver, Ack: q.Detail.Ack}
		}
		if q.Error != "" {
			p.Problems = append(p.Problems, "Queue "+q.Name+": "+q.Error)
		}
		p.Queues = append(p.Queues, row)
	}
	p.DeadLetters = views.DeadLetterPanel{Queue: r.DeadLetters.Queue, Total: r.DeadLetters.Total, Error: r.DeadLetters.Error}
	for _, m := range r.DeadLetters.Messages {
		p.DeadLetters.Messages = append(p.DeadLetters.Messages, deadLetterRow(m))
	}
	o := r.Outbox
	p.Outbox = views.OutboxPanel{Pending: o.Pending, OldestAge: o.OldestAge, LastPublish: o.LastPublish, RelayLag: o.RelayLag,
		Threshold: o.Threshold, Alarm: o.Alarm, Backlog: o.Backlog, Error: o.Error}
	for _, l := range r.Latencies {
		p.Latencies = append(p.Latencies, views.LatencyRow{Stage: l.Stage, P50: l.P50, P95: l.P95, Samples: l.Samples, Trend: l.Trend})
	}
	p.Rates = []views.RateRow{
		{Name: "published", Trend: r.Rates.Published},
		{Name: "consumed", Trend: r.Rates.Consumed},
		{Name: "dead-lettered", Trend: r.Rates.DeadLettered},
	}
	for _, d := range r.Deps {
		p.Deps = append(p.Deps, views.DependencyRow{Name: d.Name, OK: d.OK, Detail: d.Detail})
	}
	for _, s := range con.Screens.Connections() {
		p.Screens = append(p.Screens, views.ScreenRow{
			ID: strconv.FormatUint(s.ID, 10), Name: s.Name, Profile: s.Kind + " · " + s.Board, IP: s.RemoteIP,
			Since: s.ConnectedAt, LastMessage: s.LastSentAt, Build: s.Build, Stale: s.Build != site.Build,
		})
	}
	p.Audit = recentAdminActions(ctx, con.Audit)
	return p
}

// recentAdminActions are the last actions taken on this page, newest first.
func recentAdminActions(ctx context.Context, audit Audit) []views.AuditRow {
	var rows []views.AuditRow
	var entries []tracking.AuditEntry
	for _, area := range []string{"deadletter", "screen"} {
		es, err := audit.AuditLog(ctx, tracking.AuditFilter{Action: area, Limit: 10})
		if err == nil {
			entries = append(entries, es...)
		}
	}
	slices.SortFunc(entries, func(a, b tracking.AuditEntry) int { return b.At.Compare(a.At) })
	for _, e := range entries[:min(len(entries), 10)] {
		rows = append(rows, views.AuditRow{At: e.At, Actor: e.Username, IP: e.IP, Action: e.Action, Detail: strings.TrimSpace(e.Subject + " " + e.Detail)})
	}
	return rows
}

// maxBodyExcerpt keeps a dead letter's body on the page short.
const maxBodyExcerpt = 2000

func deadLetterRow(m messaging.DeadLetter) views.DeadLetterRow {
	body := string(m.Body)
	if !utf8.ValidString(body) {
		body = strings.ToValidUTF8(body, "�")
	}
	if len(body) > maxBodyExcerpt {
		body = strings.ToValidUTF8(body[:maxBodyExcerpt], "") + "…" // never cut a character in two
	}
	event := m.MessageType
	if event == "" {
		event = "(undecodable)"
	}
	return views.DeadLetterRow{
		MessageID: m.MessageID, DepartureID: m.DepartureID, Event: event, SentAt: m.SentAt,
		FaultType: m.FaultType, FaultReason: m.FaultMessage, RetryCount: m.RetryCount, FaultedAt: m.FaultedAt, Body: body, Replayed: m.Replayed,
	}
}

// afterAction answers an admin action: the refreshed panels for htmx, a 303 back otherwise.
func afterAction(c *fiber.Ctx, site Site, con Console, note string) error {
	if IsHTMX(c) {
		return renderAdmin(c, site, con, fiber.StatusOK, note)
	}
	return c.Redirect("/admin", fiber.StatusSeeOther)
}

// messageIDParam reads a dead letter's id from the path (ids come from the broker, so they are
// path-escaped in the page's URLs).
func messageIDParam(c *fiber.Ctx) (string, error) {
	id, err := url.PathUnescape(c.Params("id"))
	if err != nil || id == "" || len(id) > 200 {
		return "", tracking.Errorf(tracking.ENOTFOUND, "No such dead letter.")
	}
	return id, nil
}

// ReplayDeadLetter sends one dead letter back to its exchange.
func ReplayDeadLetter(site Site, con Console) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := messageIDParam(c)
		if err != nil {
			return err
		}
		if err := con.DeadLetters.Replay(c.UserContext(), con.Endpoint, id); err != nil {
			return err
		}
		con.Replayed.Add(1)
		if err := con.Audit.Audit(c.UserContext(), AuditDeadLetterReplay, id, "from "+messaging.ErrorQueue(con.Endpoint)); err != nil {
			return err
		}
		return afterAction(c, site, con, "")
	}
}

// ReplayAllDeadLetters sends every dead letter back.
func ReplayAllDeadLetters(site Site, con Console) fiber.Handler {
	return func(c *fiber.Ctx) error {
		n, err := con.DeadLetters.ReplayAll(c.UserContext(), con.Endpoint)
		con.Replayed.Add(float64(n))
		if n > 0 || err == nil {
			detail := fmt.Sprintf("%d messages", n)
			if aerr := con.Audit.Audit(c.UserContext(), AuditDeadLetterReplayAll, messaging.ErrorQueue(con.Endpoint), detail); aerr != nil {
				return aerr
			}
		}
		if err != nil {
			// Some may have been replayed before the failure: say how many.
			return tracking.Errorf(tracking.EUNAVAILABLE, "Replayed %d, then stopped: %s", n, tracking.ErrorMessage(err))
		}
		return afterAction(c, site, con, "")
	}
}

// DeleteDeadLetterPage asks for confirmation when JavaScript is off (htmx asks with a dialog).
func DeleteDeadLetterPage(site Site) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := messageIDParam(c)
		if err != nil {
			return err
		}
		return Render(c, fiber.StatusOK, views.DeadLetterDeletePage(page(c, site, "Delete a dead letter", "admin"), id))
	}
}

// DeleteDeadLetter removes one dead letter for good, once confirmed.
func DeleteDeadLetter(site Site, con Console) fiber.Handler {
	return func(c *fiber.Ctx) error {
		id, err := messageIDParam(c)
		if err != nil {
			return err
		}
		if c.FormValue("confirm") != "yes" {
			return &tracking.Error{Code: tracking.EINVALID, Message: "Deleting a dead letter needs a confirmation.",
				Fields: map[string]string{"confirm": "Confirm the deletion."}}
		}
		if err := con.DeadLetters.Delete(c.UserContext(), con.Endpoint, id); err != nil {
			return err
		}
		if err := con.Audit.Audit(c.UserContext(), AuditDeadLetterDelete, id, "from "+messaging.ErrorQueue(con.Endpoint)); err != nil {
			return err
		}
		return afterAction(c, site, con, "")
	}
}
