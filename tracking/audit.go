package tracking

import (
	"context"
	"time"
)

// Actor is who makes a change and from where: the logged-in user and the client's IP address,
// or a named process (the command line, the demo) with no address.
type Actor struct {
	Username string
	IP       string
}

// Actors that are not people logged in through the web. Their names contain characters a
// username cannot (CheckUsername), so they are never mistaken for a user.
var (
	ActorCommandLine = Actor{Username: "(command line)"}
	ActorSystem      = Actor{Username: "(system)"}
)

type actorKey struct{}

// WithActor returns ctx carrying a. The web layer sets it for every request of a logged-in
// user; the store reads it to write the audit row of a change in the change's transaction.
func WithActor(ctx context.Context, a Actor) context.Context {
	return context.WithValue(ctx, actorKey{}, a)
}

// ActorFrom returns the actor ctx carries, if any.
func ActorFrom(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// Audit actions: what kind of change an audit entry records. An action is "area.verb"; a
// filter on the area ("departure") matches every verb of it.
const (
	AuditDepartureCreate = "departure.create"
	AuditDepartureUpdate = "departure.update"
	AuditDepartureStatus = "departure.status"
	AuditUserCreate      = "user.create"
	AuditUserPassword    = "user.password"
	AuditUserDisable     = "user.disable"
	AuditUserEnable      = "user.enable"
	AuditScreenCreate    = "screen.create"
	AuditScreenUpdate    = "screen.update"
	AuditScreenRevoke    = "screen.revoke"
	AuditScreenLink      = "screen.link" // a new link, replacing the old one
	// Dead letters (issue 5) name theirs in the same form, for example "deadletter.replay"
	// and "deadletter.discard".
)

// AuditEntry is one recorded change: who (Username), from where (IP), when (At), what
// (Action, on Subject: a departure's public id, a username, a screen's name, a message id),
// and its details in words (Detail: the fields that changed, from and to).
type AuditEntry struct {
	ID       int64
	At       time.Time
	Username string
	IP       string
	Action   string
	Subject  string
	Detail   string
}

// Limits of an audit entry's text, so that a change with huge values cannot blow up the log.
const (
	MaxAuditSubject = 200
	MaxAuditDetail  = 4000
)

// AuditFilter selects audit entries, newest first. Zero values mean "any".
type AuditFilter struct {
	Username string
	// Action matches exactly, or by area: "departure" matches "departure.create".
	Action  string
	Subject string
	// From and To bound the time: From <= At < To.
	From, To time.Time
	// Before returns only entries older than this id (the next page).
	Before int64
	// Limit caps the number of entries; 0 means the store's default.
	Limit int
}
