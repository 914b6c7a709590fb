package store

import (
	"context"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"calipso/tracking"
)

// The audit trail's part of the conformance suite (see runConformance).

var alice = tracking.Actor{Username: "alice", IP: "192.0.2.7"}

func asAlice(t *testing.T) context.Context { return tracking.WithActor(t.Context(), alice) }

func auditLog(t *testing.T, s *Store, f tracking.AuditFilter) []tracking.AuditEntry {
	t.Helper()
	entries, err := s.AuditLog(t.Context(), f)
	if err != nil {
		t.Fatalf("AuditLog: %v", err)
	}
	return entries
}

// actions returns "action subject" of each entry, as the log lists them (newest first).
func actions(entries []tracking.AuditEntry) []string {
	out := make([]string, len(entries))
	for i, e := range entries {
		out[i] = e.Action + " " + e.Subject
	}
	return out
}

func wantActions(t *testing.T, entries []tracking.AuditEntry, want ...string) {
	t.Helper()
	if got := actions(entries); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("audit entries = %q, want %q", got, want)
	}
}

func testAuditDepartureChanges(t *testing.T, s *Store) {
	ctx := asAlice(t)
	before := now()
	d, err := s.CreateDeparture(ctx, fields("PO-1", t0), "alice")
	if err != nil {
		t.Fatal(err)
	}
	f := fields("PO-1B", t0.Add(time.Hour))
	f.Notes = `say "hi"`
	d, err = s.UpdateDeparture(ctx, d.ID, d.Version, f, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeStatus(ctx, d.ID, d.Version, tracking.StatusLoading, "dock ready", "alice"); err != nil {
		t.Fatal(err)
	}

	entries := auditLog(t, s, tracking.AuditFilter{})
	id := d.PublicID()
	wantActions(t, entries, "departure.status "+id, "departure.update "+id, "departure.create "+id)
	for _, e := range entries {
		if e.Username != "alice" || e.IP != "192.0.2.7" || e.At.Before(before) || e.At.Location() != time.UTC {
			t.Errorf("entry %+v: want alice from 192.0.2.7 at a UTC time after %v", e, before)
		}
	}
	wantDetail := func(e tracking.AuditEntry, parts ...string) {
		t.Helper()
		for _, p := range parts {
			if !strings.Contains(e.Detail, p) {
				t.Errorf("%s detail %q lacks %q", e.Action, e.Detail, p)
			}
		}
	}
	wantDetail(entries[0], `Pending → Loading`, `reason: "dock ready"`)
	wantDetail(entries[1], `po_number: "PO-1" → "PO-1B"`, `scheduled_at: 2026-03-01T08:00:00Z → 2026-03-01T09:00:00Z`,
		`notes: "fragile" → "say \"hi\""`)
	if strings.Contains(entries[1].Detail, "destination") {
		t.Errorf("update detail names a field that did not change: %q", entries[1].Detail)
	}
	wantDetail(entries[2], `po_number: "PO-1"`, `destination: "Rotterdam"`, `scheduled_at: 2026-03-01T08:00:00Z`)
}

func testAuditWithoutActorNamesBy(t *testing.T, s *Store) {
	create(t, s, fields("PO-1", t0)) // by "alice", no actor in the context
	e := auditLog(t, s, tracking.AuditFilter{})
	if len(e) != 1 || e[0].Username != "alice" || e[0].IP != "" {
		t.Fatalf("entries %+v: want one by alice with no address", e)
	}
	if err := s.Audit(t.Context(), "test.thing", "x", ""); err != nil {
		t.Fatal(err)
	}
	if e := auditLog(t, s, tracking.AuditFilter{Action: "test"}); len(e) != 1 || e[0].Username != tracking.ActorSystem.Username {
		t.Fatalf("entries %+v: want one by %s", e, tracking.ActorSystem.Username)
	}
}

func testAuditNotWrittenByFailedChanges(t *testing.T, s *Store) {
	ctx := asAlice(t)
	d, err := s.CreateDeparture(ctx, fields("PO-1", t0), "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.ChangeStatus(ctx, d.ID, d.Version+1, tracking.StatusLoading, "", "alice")
	wantCode(t, err, tracking.ECONFLICT)
	_, err = s.ChangeStatus(ctx, d.ID, d.Version, tracking.StatusArrived, "", "alice")
	wantCode(t, err, tracking.EINVALID)
	_, err = s.UpdateDeparture(ctx, d.ID, d.Version+1, fields("PO-2", t0), "alice")
	wantCode(t, err, tracking.ECONFLICT)
	_, err = s.UpdateDeparture(ctx, d.ID+100, 1, fields("PO-2", t0), "alice")
	wantCode(t, err, tracking.ENOTFOUND)
	err = s.SetPassword(ctx, 999999, []byte("h"))
	wantCode(t, err, tracking.ENOTFOUND)
	wantActions(t, auditLog(t, s, tracking.AuditFilter{}), "departure.create "+d.PublicID())
}

func testAuditUserChanges(t *testing.T, s *Store) {
	ctx := asAlice(t)
	u, err := s.CreateUser(ctx, "bob", tracking.RoleDispatcher, []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(ctx, u.ID, []byte("h2")); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, u.ID, true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDisabled(ctx, u.ID, false); err != nil {
		t.Fatal(err)
	}
	entries := auditLog(t, s, tracking.AuditFilter{})
	wantActions(t, entries, "user.enable bob", "user.disable bob", "user.password bob", "user.create bob")
	if entries[3].Detail != "role dispatcher" || entries[0].Username != "alice" {
		t.Fatalf("entries %+v", entries)
	}
}

func testSessionsNotBefore(t *testing.T, s *Store) {
	u, err := s.CreateUser(t.Context(), "bob", tracking.RoleDispatcher, []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	if !u.SessionsNotBefore.IsZero() {
		t.Fatalf("a new user's sessions are cut off at %v", u.SessionsNotBefore)
	}
	cutoff := func() time.Time {
		got, err := s.UserByID(t.Context(), u.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got.SessionsNotBefore
	}
	before := now()
	if err := s.SetPassword(t.Context(), u.ID, []byte("h2")); err != nil {
		t.Fatal(err)
	}
	afterPassword := cutoff()
	if afterPassword.Before(before) || afterPassword.Location() != time.UTC {
		t.Fatalf("after SetPassword the cut-off is %v, want at or after %v (UTC)", afterPassword, before)
	}
	if err := s.SetDisabled(t.Context(), u.ID, true); err != nil {
		t.Fatal(err)
	}
	afterDisable := cutoff()
	if afterDisable.Before(afterPassword) {
		t.Fatalf("disabling did not move the cut-off: %v", afterDisable)
	}
	if err := s.SetDisabled(t.Context(), u.ID, false); err != nil {
		t.Fatal(err)
	}
	if got := cutoff(); !got.Equal(afterDisable) {
		t.Fatalf("enabling moved the cut-off to %v", got)
	}
}

func testAuditLogFilters(t *testing.T, s *Store) {
	ctx := asAlice(t)
	bob := tracking.WithActor(t.Context(), tracking.Actor{Username: "bob", IP: "198.51.100.1"})
	a, err := s.CreateDeparture(ctx, fields("PO-1", t0), "alice")
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.CreateDeparture(bob, fields("PO-2", t0), "bob")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ChangeStatus(bob, a.ID, a.Version, tracking.StatusLoading, "", "bob"); err != nil {
		t.Fatal(err)
	}
	if err := s.Audit(ctx, "deadletter.replay", "msg-1", "replayed"); err != nil {
		t.Fatal(err)
	}
	A, B := a.PublicID(), b.PublicID()
	all := auditLog(t, s, tracking.AuditFilter{})
	wantActions(t, all, "deadletter.replay msg-1", "departure.status "+A, "departure.create "+B, "departure.create "+A)

	wantActions(t, auditLog(t, s, tracking.AuditFilter{Username: "bob"}), "departure.status "+A, "departure.create "+B)
	wantActions(t, auditLog(t, s, tracking.AuditFilter{Subject: A}), "departure.status "+A, "departure.create "+A)
	wantActions(t, auditLog(t, s, tracking.AuditFilter{Action: "departure"}),
		"departure.status "+A, "departure.create "+B, "departure.create "+A)
	wantActions(t, auditLog(t, s, tracking.AuditFilter{Action: "departure.create", Username: "alice"}), "departure.create "+A)
	wantActions(t, auditLog(t, s, tracking.AuditFilter{Action: "depart"}))
	wantActions(t, auditLog(t, s, tracking.AuditFilter{Action: "departure%"}))
	wantActions(t, auditLog(t, s, tracking.AuditFilter{Limit: 2}), "deadletter.replay msg-1", "departure.status "+A)
	wantActions(t, auditLog(t, s, tracking.AuditFilter{Before: all[1].ID, Limit: 1}), "departure.create "+B)

	at := all[1].At
	wantActions(t, auditLog(t, s, tracking.AuditFilter{From: at.Add(time.Hour)}))
	wantActions(t, auditLog(t, s, tracking.AuditFilter{To: all[3].At}))
	if got := auditLog(t, s, tracking.AuditFilter{From: all[3].At, To: all[0].At.Add(time.Microsecond)}); len(got) != 4 {
		t.Fatalf("From..To covering every entry returned %d", len(got))
	}
}

func testAuditTextIsStoredSafely(t *testing.T, s *Store) {
	nasty := "bad \xff byte, NUL \x00 and <script>alert(1)</script> " + strings.Repeat("é", 2*tracking.MaxAuditDetail)
	if err := s.Audit(asAlice(t), "deadletter.discard", "m\x00\xfe"+strings.Repeat("x", 500), nasty); err != nil {
		t.Fatal(err)
	}
	e := auditLog(t, s, tracking.AuditFilter{})
	if len(e) != 1 {
		t.Fatalf("%d entries", len(e))
	}
	for name, v := range map[string]string{"subject": e[0].Subject, "detail": e[0].Detail} {
		if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
			t.Errorf("%s is not clean UTF-8: %q", name, v[:40])
		}
	}
	if n := utf8.RuneCountInString(e[0].Detail); n != tracking.MaxAuditDetail {
		t.Errorf("detail has %d characters, want it cut to %d", n, tracking.MaxAuditDetail)
	}
	if n := utf8.RuneCountInString(e[0].Subject); n != tracking.MaxAuditSubject {
		t.Errorf("subject has %d characters, want it cut to %d", n, tracking.MaxAuditSubject)
	}
	if !strings.Contains(e[0].Detail, "<script>alert(1)</script>") {
		t.Error("the store must keep text as it is; escaping is the page's job")
	}
}

func testAuditScreenChanges(t *testing.T, s *Store) {
	ctx := asAlice(t)
	_, hash := tracking.NewScreenToken()
	sc, err := s.CreateScreen(ctx, profile("Hall A"), hash, "alice")
	if err != nil {
		t.Fatal(err)
	}
	p := profile("Hall A")
	p.PageSize = 12
	if sc, err = s.UpdateScreen(ctx, sc.ID, sc.Version, p, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, err = s.RevokeScreen(ctx, sc.ID, "alice"); err != nil {
		t.Fatal(err)
	}
	_, hash = tracking.NewScreenToken()
	if _, err = s.SetScreenToken(ctx, sc.ID, hash, "alice"); err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateScreen(ctx, sc.ID, sc.Version, p, "alice") // stale: nothing changes
	wantCode(t, err, tracking.ECONFLICT)
	entries := auditLog(t, s, tracking.AuditFilter{Action: "screen"})
	wantActions(t, entries, "screen.link Hall A", "screen.revoke Hall A", "screen.update Hall A", "screen.create Hall A")
	for _, e := range entries {
		if e.Username != "alice" || e.IP != alice.IP {
			t.Errorf("%s by %s from %q, want alice from %s", e.Action, e.Username, e.IP, alice.IP)
		}
	}
}
