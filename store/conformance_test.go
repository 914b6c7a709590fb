package store

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"calipso/tracking"
)

// runConformance runs every behaviour of the Store against one dialect. open returns a new,
// migrated, empty store that is closed and removed when the test ends.
func runConformance(t *testing.T, open func(t *testing.T) *Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s *Store)
	}{
		{"PingAndDialectWork", testPingAndDialect},
		{"MigrateTwiceIsFine", testMigrateTwice},

		{"CreateDepartureStartsPendingAtVersionOne", testCreateDeparture},
		{"DepartureReturnsWhatCreateReturned", testDepartureReadBack},
		{"DepartureUnknownIsNotFound", testDepartureUnknown},
		{"TimesRoundTripInUTC", testTimesRoundTrip},

		{"DeparturesWithoutFilterListAllByScheduledThenID", testDeparturesOrder},
		{"DeparturesFilterByScheduledRange", testDeparturesRange},
		{"DeparturesFilterByStatuses", testDeparturesStatuses},
		{"DeparturesFilterByDocks", testDeparturesDocks},
		{"DeparturesFilterByDestinations", testDeparturesDestinations},
		{"DeparturesFilterByCarriers", testDeparturesCarriers},
		{"DeparturesQueryMatchesPONumberIgnoringCase", testQueryPONumber},
		{"DeparturesQueryMatchesDestinationIgnoringCase", testQueryDestination},
		{"DeparturesQueryMatchesPublicID", testQueryPublicID},
		{"DeparturesQueryMatchesPlainDigitsAsID", testQueryDigits},
		{"DeparturesQueryTreatsWildcardsLiterally", testQueryWildcards},
		{"DeparturesLimitCapsTheRows", testDeparturesLimit},

		{"UpdateDepartureWithCurrentVersionBumpsIt", testUpdateDeparture},
		{"UpdateDepartureWithStaleVersionWritesNothing", testUpdateStale},
		{"UpdateDepartureUnknownIsNotFound", testUpdateUnknown},

		{"ChangeStatusAllowedBumpsVersionAndRecordsHistory", testChangeStatus},
		{"ChangeStatusForbiddenIsInvalidAndWritesNothing", testChangeStatusForbidden},
		{"ChangeStatusWithStaleVersionIsConflict", testChangeStatusStale},
		{"ChangeStatusUnknownIsNotFound", testChangeStatusUnknown},
		{"ChangeStatusToInTransitSetsActualDepartureOnce", testActualDeparture},
		{"ConcurrentChangeStatusWithSameVersionHasOneWinner", testConcurrentChangeStatus},

		{"HistoryListsChangesOldestFirst", testHistory},
		{"HistoryUnknownIsNotFound", testHistoryUnknown},

		{"EveryChangeWritesOneOutboxRowWithItsEvent", testOutbox},
		{"CommittedIsSignalledAfterAChange", testCommitted},
		{"CommittedIsNotSignalledByAFailedChange", testCommittedNotOnFailure},

		// The event pipeline (pipeline_conformance_test.go).
		{"ClaimOutboxLeasesPendingRowsInOrder", testClaimOutbox},
		{"ClaimOutboxTakesAgainAfterTheLease", testClaimAfterLease},
		{"MarkPublishedTakesRowsOutOfTheBacklog", testMarkPublished},
		{"ReleaseOutboxHoldsRowsBackUntilRetryAt", testReleaseOutbox},
		{"ClaimOutboxLeavesALaterRowWhileAnEarlierOneIsElsewhere", testClaimKeepsDepartureOrder},
		{"ConcurrentClaimsAreDisjointAndKeepDepartureOrder", testConcurrentClaims},
		{"PruneOutboxDeletesOnlyOldPublishedRows", testPruneOutbox},
		{"HandledVersionKeepsTheHighestPerConsumer", testHandledVersion},

		{"CreateUserThenFindByUsernameAndID", testCreateUser},
		{"CreateUserWithTakenUsernameIsConflict", testDuplicateUser},
		{"UnknownUserIsNotFound", testUnknownUser},
		{"UsersAreSortedByUsernameIgnoringCaseAndCounted", testUsers},
		{"SetPasswordReplacesTheHash", testSetPassword},
		{"SetDisabledDisablesAndEnables", testSetDisabled},

		{"SessionSetThenGetReturnsTheData", testSessionSetGet},
		{"SessionGetMissingIsNil", testSessionMissing},
		{"SessionSetOverwrites", testSessionOverwrite},
		{"SessionExpires", testSessionExpiry},
		{"SessionDeleteRemovesOneKey", testSessionDelete},
		{"SessionResetRemovesAll", testSessionReset},
		{"SessionSetPurgesExpiredRows", testSessionPurge},

		// Audit trail (audit_conformance_test.go).
		{"AuditRecordsEveryDepartureChangeWithActorAndDetail", testAuditDepartureChanges},
		{"AuditWithoutActorNamesByOrTheSystem", testAuditWithoutActorNamesBy},
		{"AuditIsNotWrittenByFailedChanges", testAuditNotWrittenByFailedChanges},
		{"AuditRecordsUserChanges", testAuditUserChanges},
		{"SetPasswordAndDisableCutOffSessions", testSessionsNotBefore},
		{"AuditLogFiltersByUserActionSubjectTimeAndPage", testAuditLogFilters},
		{"AuditTextIsStoredAsValidBoundedUTF8", testAuditTextIsStoredSafely},
		{"AuditRecordsScreenChanges", testAuditScreenChanges},

		// Screens and the board filter (screens_test.go).
		{"CreateScreenThenFindByIDAndTokenHash", testCreateScreen},
		{"CreateScreenWithTakenNameIsConflict", testDuplicateScreenName},
		{"UnknownScreenIsNotFound", testUnknownScreen},
		{"UpdateScreenWithCurrentVersionBumpsItAndStaleIsConflict", testUpdateScreen},
		{"RevokeScreenThenNewLinkReplacesTheToken", testRevokeAndRelinkScreen},
		{"ScreensAreSortedByName", testScreensSorted},
		{"FilterMatchAgreesWithTheQuery", testFilterMatchAgreesWithQuery},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// t0 is a fixed scheduled time; tests add hours to it.
var t0 = time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)

func fields(po string, at time.Time) tracking.DepartureFields {
	return tracking.DepartureFields{
		PONumber: po, Destination: "Rotterdam", Carrier: "Maersk", Vehicle: "TR-12", Dock: "D1",
		ScheduledAt: at, Notes: "fragile",
	}
}

func create(t *testing.T, s *Store, f tracking.DepartureFields) tracking.Departure {
	t.Helper()
	d, err := s.CreateDeparture(t.Context(), f, "alice")
	if err != nil {
		t.Fatalf("CreateDeparture: %v", err)
	}
	return d
}

func changeStatus(t *testing.T, s *Store, d tracking.Departure, to tracking.Status, reason string) tracking.Departure {
	t.Helper()
	d, err := s.ChangeStatus(t.Context(), d.ID, d.Version, to, reason, "bob")
	if err != nil {
		t.Fatalf("ChangeStatus to %s: %v", to, err)
	}
	return d
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := tracking.ErrorCode(err); got != code {
		t.Fatalf("error code = %q, want %q (err: %v)", got, code, err)
	}
}

// outbox returns the pending outbox rows.
func outbox(t *testing.T, s *Store) []OutboxMessage {
	t.Helper()
	tx, err := s.beginRead(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	msgs, err := pendingOutbox(t.Context(), tx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

// show prints a departure with every time in full, including its zone, so that two
// departures compare as strings.
func show(d tracking.Departure) string {
	tm := func(t time.Time) string { return t.Format(time.RFC3339Nano) + "@" + t.Location().String() }
	ptr := func(t *time.Time) string {
		if t == nil {
			return "nil"
		}
		return tm(*t)
	}
	return fmt.Sprintf("%d %q %q %q %q %q sched=%s est=%s actual=%s %q %q v%d created=%s updated=%s by=%q",
		d.ID, d.PONumber, d.Destination, d.Carrier, d.Vehicle, d.Dock,
		tm(d.ScheduledAt), ptr(d.EstimatedAt), ptr(d.ActualDepartureAt), d.Status, d.Notes, d.Version,
		tm(d.CreatedAt), tm(d.UpdatedAt), d.UpdatedBy)
}

func ids(ds []tracking.Departure) []int64 {
	out := make([]int64, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func list(t *testing.T, s *Store, f tracking.DepartureFilter) []int64 {
	t.Helper()
	ds, err := s.Departures(t.Context(), f)
	if err != nil {
		t.Fatalf("Departures(%+v): %v", f, err)
	}
	return ids(ds)
}

func wantIDs(t *testing.T, got []int64, want ...int64) {
	t.Helper()
	if !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
		t.Fatalf("ids = %v, want %v", got, want)
	}
}

func testPingAndDialect(t *testing.T, s *Store) {
	if err := s.Ping(t.Context()); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	if d := s.Dialect(); d != "sqlite" && d != "postgres" {
		t.Fatalf("Dialect = %q", d)
	}
}

func testMigrateTwice(t *testing.T, s *Store) {
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	create(t, s, fields("PO-1", t0))
}

func testCreateDeparture(t *testing.T, s *Store) {
	before := now()
	est := t0.Add(30 * time.Minute)
	f := fields("PO-1", t0)
	f.EstimatedAt = &est
	d := create(t, s, f)
	if d.ID <= 0 || d.Status != tracking.StatusPending || d.Version != 1 || d.UpdatedBy != "alice" {
		t.Fatalf("created %s", show(d))
	}
	if d.DepartureFields.PONumber != "PO-1" || d.Notes != "fragile" || !d.EstimatedAt.Equal(est) || d.ActualDepartureAt != nil {
		t.Fatalf("fields not kept: %s", show(d))
	}
	if !d.CreatedAt.Equal(d.UpdatedAt) || d.CreatedAt.Before(before) || d.CreatedAt.After(now()) {
		t.Fatalf("created_at %v / updated_at %v, want equal and now", d.CreatedAt, d.UpdatedAt)
	}
	h, err := s.History(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := tracking.StatusChange{DepartureID: d.ID, From: "", To: tracking.StatusPending, By: "alice", At: d.CreatedAt, Version: 1}
	if len(h) != 1 || h[0] != want {
		t.Fatalf("history = %+v, want [%+v]", h, want)
	}
}

func testDepartureReadBack(t *testing.T, s *Store) {
	est := t0.Add(time.Hour)
	f := fields("PO-1", t0)
	f.EstimatedAt = &est
	d := create(t, s, f)
	got, err := s.Departure(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if show(got) != show(d) {
		t.Fatalf("read back\n %s\nwant\n %s", show(got), show(d))
	}
}

func testDepartureUnknown(t *testing.T, s *Store) {
	_, err := s.Departure(t.Context(), 424242)
	wantCode(t, err, tracking.ENOTFOUND)
}

func testTimesRoundTrip(t *testing.T, s *Store) {
	cet := time.FixedZone("CET", 3600)
	sched := time.Date(2026, 7, 14, 9, 30, 15, 123456789, cet)
	est := time.Date(2026, 7, 14, 10, 5, 0, 987654321, cet)
	f := fields("PO-1", sched)
	f.EstimatedAt = &est
	d := create(t, s, f)
	d = changeStatus(t, s, d, tracking.StatusLoading, "")
	d = changeStatus(t, s, d, tracking.StatusInTransit, "")

	got, err := s.Departure(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	for name, tm := range map[string]time.Time{
		"scheduled_at": got.ScheduledAt, "estimated_at": *got.EstimatedAt,
		"actual_departure_at": *got.ActualDepartureAt, "created_at": got.CreatedAt, "updated_at": got.UpdatedAt,
	} {
		if tm.Location() != time.UTC {
			t.Errorf("%s is in %v, want UTC", name, tm.Location())
		}
	}
	if diff := sched.Sub(got.ScheduledAt); diff < 0 || diff >= time.Millisecond {
		t.Errorf("scheduled_at = %v, want %v to the millisecond", got.ScheduledAt, sched)
	}
	if !got.ScheduledAt.Equal(sched.Truncate(time.Microsecond)) || !got.EstimatedAt.Equal(est.Truncate(time.Microsecond)) {
		t.Errorf("times = %v, %v; want %v, %v to the microsecond", got.ScheduledAt, *got.EstimatedAt, sched, est)
	}
	if show(got) != show(d) {
		t.Errorf("read back\n %s\nwant what ChangeStatus returned\n %s", show(got), show(d))
	}
	h, err := s.History(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if last := h[len(h)-1]; last.At.Location() != time.UTC || !last.At.Equal(d.UpdatedAt) {
		t.Errorf("history time = %v, want %v in UTC", last.At, d.UpdatedAt)
	}
	if m := outbox(t, s); m[0].CreatedAt.Location() != time.UTC {
		t.Errorf("outbox created_at in %v", m[0].CreatedAt.Location())
	}
}

func testDeparturesOrder(t *testing.T, s *Store) {
	late := create(t, s, fields("PO-1", t0.Add(2*time.Hour)))
	early := create(t, s, fields("PO-2", t0))
	sameA := create(t, s, fields("PO-3", t0.Add(time.Hour)))
	sameB := create(t, s, fields("PO-4", t0.Add(time.Hour)))
	wantIDs(t, list(t, s, tracking.DepartureFilter{}), early.ID, sameA.ID, sameB.ID, late.ID)
}

func testDeparturesRange(t *testing.T, s *Store) {
	a := create(t, s, fields("PO-1", t0))
	b := create(t, s, fields("PO-2", t0.Add(time.Hour)))
	c := create(t, s, fields("PO-3", t0.Add(2*time.Hour)))
	// From is inclusive, To exclusive; a zero bound is open.
	wantIDs(t, list(t, s, tracking.DepartureFilter{From: t0.Add(time.Hour), To: t0.Add(2 * time.Hour)}), b.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{From: t0.Add(time.Hour)}), b.ID, c.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{To: t0.Add(time.Hour)}), a.ID)
	// Bounds in another zone mean the same instants.
	ny, _ := time.LoadLocation("America/New_York")
	wantIDs(t, list(t, s, tracking.DepartureFilter{From: t0.Add(time.Minute).In(ny)}), b.ID, c.ID)
}

func testDeparturesStatuses(t *testing.T, s *Store) {
	a := create(t, s, fields("PO-1", t0))
	b := create(t, s, fields("PO-2", t0.Add(time.Hour)))
	create(t, s, fields("PO-3", t0.Add(2*time.Hour)))
	changeStatus(t, s, a, tracking.StatusLoading, "")
	changeStatus(t, s, b, tracking.StatusDelayed, "")
	wantIDs(t, list(t, s, tracking.DepartureFilter{Statuses: []tracking.Status{tracking.StatusLoading}}), a.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{
		Statuses: []tracking.Status{tracking.StatusLoading, tracking.StatusDelayed}}), a.ID, b.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Statuses: []tracking.Status{tracking.StatusArrived}}))
}

// three creates departures that differ in dock, destination and carrier.
func three(t *testing.T, s *Store) (a, b, c tracking.Departure) {
	fa, fb, fc := fields("PO-1", t0), fields("PO-2", t0.Add(time.Hour)), fields("PO-3", t0.Add(2*time.Hour))
	fa.Dock, fb.Dock, fc.Dock = "D1", "D2", "D3"
	fa.Destination, fb.Destination, fc.Destination = "Hamburg", "Antwerp", "Lyon"
	fa.Carrier, fb.Carrier, fc.Carrier = "DHL", "DSV", "Kuehne"
	return create(t, s, fa), create(t, s, fb), create(t, s, fc)
}

func testDeparturesDocks(t *testing.T, s *Store) {
	a, _, c := three(t, s)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Docks: []string{"D3", "D1"}}), a.ID, c.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Docks: []string{"d1"}})) // exact match
}

func testDeparturesDestinations(t *testing.T, s *Store) {
	_, b, _ := three(t, s)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Destinations: []string{"Antwerp"}}), b.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Destinations: []string{"Antw"}})) // exact match
}

func testDeparturesCarriers(t *testing.T, s *Store) {
	a, b, _ := three(t, s)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Carriers: []string{"DHL", "DSV"}}), a.ID, b.ID)
	// Filters combine with AND.
	wantIDs(t, list(t, s, tracking.DepartureFilter{Carriers: []string{"DHL", "DSV"}, Docks: []string{"D2"}}), b.ID)
}

// named creates departures whose text has no digits, so that a digit query can only match
// an id.
func named(t *testing.T, s *Store) (a, b, c tracking.Departure) {
	fa, fb, fc := fields("ALPHA-X", t0), fields("BRAVO-Y", t0.Add(time.Hour)), fields("CHARLIE-Z", t0.Add(2*time.Hour))
	fa.Destination, fb.Destination, fc.Destination = "Rotterdam", "Zürich", "Rotterdam Europoort"
	return create(t, s, fa), create(t, s, fb), create(t, s, fc)
}

func testQueryPONumber(t *testing.T, s *Store) {
	_, b, _ := named(t, s)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "avo-y"}), b.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "  bRaVo "}), b.ID)
}

func testQueryDestination(t *testing.T, s *Store) {
	a, b, c := named(t, s)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "rotterdam"}), a.ID, c.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "zÜRICH"}), b.ID) // case folds beyond ASCII on both dialects
	// The query narrows the other filters.
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "rotterdam", To: t0.Add(time.Hour)}), a.ID)
}

func testQueryPublicID(t *testing.T, s *Store) {
	_, b, _ := named(t, s)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: b.PublicID()}), b.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "dep-" + b.PublicID()[4:]}), b.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "DEP-999999"}))
}

func testQueryDigits(t *testing.T, s *Store) {
	_, _, c := named(t, s)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: fmt.Sprint(c.ID)}), c.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: fmt.Sprintf("000%d", c.ID)}), c.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "999999"}))
}

func testQueryWildcards(t *testing.T, s *Store) {
	f := fields("PO_100%", t0)
	d := create(t, s, f)
	create(t, s, fields("PO-1000", t0.Add(time.Hour)))
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "%"}), d.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "po_"}), d.ID)
	wantIDs(t, list(t, s, tracking.DepartureFilter{Query: "!"}))
}

func testDeparturesLimit(t *testing.T, s *Store) {
	a := create(t, s, fields("PO-1", t0))
	b := create(t, s, fields("PO-2", t0.Add(time.Hour)))
	create(t, s, fields("PO-3", t0.Add(2*time.Hour)))
	wantIDs(t, list(t, s, tracking.DepartureFilter{Limit: 2}), a.ID, b.ID)
}

func testUpdateDeparture(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	f := fields("PO-1B", t0.Add(time.Hour))
	est := t0.Add(90 * time.Minute)
	f.EstimatedAt, f.Dock, f.Notes = &est, "D9", "two pallets"
	u, err := s.UpdateDeparture(t.Context(), d.ID, d.Version, f, "carol")
	if err != nil {
		t.Fatal(err)
	}
	if u.Version != 2 || u.PONumber != "PO-1B" || u.Dock != "D9" || u.Notes != "two pallets" ||
		!u.ScheduledAt.Equal(f.ScheduledAt) || !u.EstimatedAt.Equal(est) || u.UpdatedBy != "carol" ||
		u.Status != tracking.StatusPending || !u.CreatedAt.Equal(d.CreatedAt) || u.UpdatedAt.Before(d.UpdatedAt) {
		t.Fatalf("updated %s", show(u))
	}
	got, err := s.Departure(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	if show(got) != show(u) {
		t.Fatalf("read back\n %s\nwant\n %s", show(got), show(u))
	}
	// Clearing the estimate stores NULL.
	f.EstimatedAt = nil
	u, err = s.UpdateDeparture(t.Context(), d.ID, u.Version, f, "carol")
	if err != nil || u.EstimatedAt != nil || u.Version != 3 {
		t.Fatalf("clear estimate: %v, %s", err, show(u))
	}
	// An edit is not a status change.
	if h, _ := s.History(t.Context(), d.ID); len(h) != 1 {
		t.Fatalf("history has %d rows after edits, want 1", len(h))
	}
}

func testUpdateStale(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	first, err := s.UpdateDeparture(t.Context(), d.ID, 1, fields("PO-FIRST", t0), "alice")
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.UpdateDeparture(t.Context(), d.ID, 1, fields("PO-SECOND", t0), "bob")
	wantCode(t, err, tracking.ECONFLICT)
	got, _ := s.Departure(t.Context(), d.ID)
	if show(got) != show(first) {
		t.Fatalf("stale update changed the row:\n %s\nwant\n %s", show(got), show(first))
	}
	if n := len(outbox(t, s)); n != 2 {
		t.Fatalf("outbox has %d rows, want 2 (create and first update)", n)
	}
}

func testUpdateUnknown(t *testing.T, s *Store) {
	_, err := s.UpdateDeparture(t.Context(), 424242, 1, fields("PO-1", t0), "alice")
	wantCode(t, err, tracking.ENOTFOUND)
	if n := len(outbox(t, s)); n != 0 {
		t.Fatalf("outbox has %d rows, want 0", n)
	}
}

func testChangeStatus(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	c := changeStatus(t, s, d, tracking.StatusLoading, "dock ready")
	if c.Status != tracking.StatusLoading || c.Version != 2 || c.UpdatedBy != "bob" || c.UpdatedAt.Before(d.UpdatedAt) {
		t.Fatalf("changed %s", show(c))
	}
	if c.PONumber != d.PONumber || !c.ScheduledAt.Equal(d.ScheduledAt) || c.ActualDepartureAt != nil {
		t.Fatalf("status change touched other fields: %s", show(c))
	}
	got, _ := s.Departure(t.Context(), d.ID)
	if show(got) != show(c) {
		t.Fatalf("read back\n %s\nwant\n %s", show(got), show(c))
	}
	h, _ := s.History(t.Context(), d.ID)
	want := tracking.StatusChange{DepartureID: d.ID, From: tracking.StatusPending, To: tracking.StatusLoading,
		Reason: "dock ready", By: "bob", At: c.UpdatedAt, Version: 2}
	if len(h) != 2 || h[1] != want {
		t.Fatalf("history = %+v, want second row %+v", h, want)
	}
}

func testChangeStatusForbidden(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	_, err := s.ChangeStatus(t.Context(), d.ID, d.Version, tracking.StatusArrived, "", "bob")
	wantCode(t, err, tracking.EINVALID)
	if want := tracking.CheckTransition(tracking.StatusPending, tracking.StatusArrived); tracking.ErrorMessage(err) != tracking.ErrorMessage(want) {
		t.Fatalf("message = %q, want CheckTransition's %q", tracking.ErrorMessage(err), tracking.ErrorMessage(want))
	}
	_, err = s.ChangeStatus(t.Context(), d.ID, d.Version, "Teleported", "", "bob")
	wantCode(t, err, tracking.EINVALID)

	got, _ := s.Departure(t.Context(), d.ID)
	h, _ := s.History(t.Context(), d.ID)
	if show(got) != show(d) || len(h) != 1 || len(outbox(t, s)) != 1 {
		t.Fatalf("a refused change wrote something: %s, %d history rows, %d outbox rows", show(got), len(h), len(outbox(t, s)))
	}
}

func testChangeStatusStale(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	changeStatus(t, s, d, tracking.StatusLoading, "")
	_, err := s.ChangeStatus(t.Context(), d.ID, d.Version, tracking.StatusDelayed, "", "bob")
	wantCode(t, err, tracking.ECONFLICT)
	got, _ := s.Departure(t.Context(), d.ID)
	if got.Status != tracking.StatusLoading || got.Version != 2 || len(outbox(t, s)) != 2 {
		t.Fatalf("stale change wrote something: %s, %d outbox rows", show(got), len(outbox(t, s)))
	}
}

func testChangeStatusUnknown(t *testing.T, s *Store) {
	_, err := s.ChangeStatus(t.Context(), 424242, 1, tracking.StatusLoading, "", "bob")
	wantCode(t, err, tracking.ENOTFOUND)
}

func testActualDeparture(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	d = changeStatus(t, s, d, tracking.StatusLoading, "")
	if d.ActualDepartureAt != nil {
		t.Fatalf("actual departure set while Loading: %v", d.ActualDepartureAt)
	}
	d = changeStatus(t, s, d, tracking.StatusInTransit, "")
	if d.ActualDepartureAt == nil || !d.ActualDepartureAt.Equal(d.UpdatedAt) {
		t.Fatalf("actual departure = %v, want the change's time %v", d.ActualDepartureAt, d.UpdatedAt)
	}
	first := *d.ActualDepartureAt
	d = changeStatus(t, s, d, tracking.StatusDelayed, "flat tyre")
	d = changeStatus(t, s, d, tracking.StatusInTransit, "")
	d = changeStatus(t, s, d, tracking.StatusArrived, "")
	if d.ActualDepartureAt == nil || !d.ActualDepartureAt.Equal(first) {
		t.Fatalf("actual departure = %v, want the first In Transit %v", d.ActualDepartureAt, first)
	}
}

func testConcurrentChangeStatus(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, errs[i] = s.ChangeStatus(t.Context(), d.ID, d.Version, tracking.StatusLoading, fmt.Sprint(i), "bob")
		})
	}
	wg.Wait()
	wins := 0
	for _, err := range errs {
		switch tracking.ErrorCode(err) {
		case "":
			wins++
		case tracking.ECONFLICT:
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if wins != 1 {
		t.Fatalf("%d changes won, want exactly 1 (errors: %v)", wins, errs)
	}
	got, _ := s.Departure(t.Context(), d.ID)
	h, _ := s.History(t.Context(), d.ID)
	if got.Version != 2 || len(h) != 2 || len(outbox(t, s)) != 2 {
		t.Fatalf("after the race: version %d, %d history rows, %d outbox rows; want 2, 2, 2",
			got.Version, len(h), len(outbox(t, s)))
	}
}

func testHistory(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	l := changeStatus(t, s, d, tracking.StatusLoading, "dock ready")
	x := changeStatus(t, s, l, tracking.StatusDelayed, "traffic")
	h, err := s.History(t.Context(), d.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := []tracking.StatusChange{
		{DepartureID: d.ID, From: "", To: tracking.StatusPending, By: "alice", At: d.UpdatedAt, Version: 1},
		{DepartureID: d.ID, From: tracking.StatusPending, To: tracking.StatusLoading, Reason: "dock ready", By: "bob", At: l.UpdatedAt, Version: 2},
		{DepartureID: d.ID, From: tracking.StatusLoading, To: tracking.StatusDelayed, Reason: "traffic", By: "bob", At: x.UpdatedAt, Version: 3},
	}
	if len(h) != len(want) {
		t.Fatalf("history = %+v, want %+v", h, want)
	}
	for i := range want {
		if h[i] != want[i] {
			t.Errorf("history[%d] = %+v, want %+v", i, h[i], want[i])
		}
	}
	// Another departure's history is its own.
	other := create(t, s, fields("PO-2", t0))
	if h, _ := s.History(t.Context(), other.ID); len(h) != 1 {
		t.Fatalf("new departure has %d history rows, want 1", len(h))
	}
}

func testHistoryUnknown(t *testing.T, s *Store) {
	_, err := s.History(t.Context(), 424242)
	wantCode(t, err, tracking.ENOTFOUND)
}

func testOutbox(t *testing.T, s *Store) {
	created := create(t, s, fields("PO-1", t0))
	edited, err := s.UpdateDeparture(t.Context(), created.ID, 1, fields("PO-1B", t0), "carol")
	if err != nil {
		t.Fatal(err)
	}
	moved := changeStatus(t, s, edited, tracking.StatusLoading, "dock ready")

	msgs := outbox(t, s)
	if len(msgs) != 3 {
		t.Fatalf("outbox has %d rows, want 3", len(msgs))
	}
	// The body is exactly the event of the departure as each method returned it.
	want := []struct {
		typ   string
		dep   tracking.Departure
		event any
	}{
		{tracking.MessageDepartureUpdate, created, tracking.NewDepartureUpdated(created, true)},
		{tracking.MessageDepartureUpdate, edited, tracking.NewDepartureUpdated(edited, false)},
		{tracking.MessageStatusUpdated, moved, tracking.NewStatusUpdated(moved, tracking.StatusPending, "dock ready")},
	}
	seen := map[string]bool{}
	for i, m := range msgs {
		w := want[i]
		body, _ := json.Marshal(w.event)
		if m.MessageType != w.typ || m.DepartureID != w.dep.PublicID() || m.Version != w.dep.Version ||
			string(m.Body) != string(body) || m.Attempts != 0 {
			t.Errorf("outbox[%d] = %s %s v%d attempts=%d %s\nwant %s %s v%d %s",
				i, m.MessageType, m.DepartureID, m.Version, m.Attempts, m.Body, w.typ, w.dep.PublicID(), w.dep.Version, body)
		}
		if i > 0 && m.ID <= msgs[i-1].ID {
			t.Errorf("outbox ids not increasing: %d after %d", m.ID, msgs[i-1].ID)
		}
		if _, err := uuid.Parse(m.MessageID); err != nil || seen[m.MessageID] {
			t.Errorf("message id %q is not a fresh GUID (%v)", m.MessageID, err)
		}
		seen[m.MessageID] = true
	}
	var ev tracking.DepartureStatusUpdated
	if err := json.Unmarshal(msgs[2].Body, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.DepartureID != created.PublicID() || ev.NewStatus != tracking.StatusLoading ||
		ev.PreviousStatus != tracking.StatusPending || ev.Version != 3 || ev.Reason != "dock ready" {
		t.Fatalf("status event = %+v", ev)
	}
}

func testCommitted(t *testing.T, s *Store) {
	select {
	case <-s.Committed():
		t.Fatal("signalled before any change")
	default:
	}
	create(t, s, fields("PO-1", t0))
	// A second change while a signal is pending must not block.
	create(t, s, fields("PO-2", t0))
	select {
	case <-s.Committed():
	case <-time.After(5 * time.Second):
		t.Fatal("not signalled after a change")
	}
	select {
	case <-s.Committed():
		t.Fatal("two signals pending; want one (capacity 1)")
	default:
	}
}

func testCommittedNotOnFailure(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	<-s.Committed()
	_, err := s.ChangeStatus(t.Context(), d.ID, 99, tracking.StatusLoading, "", "bob")
	wantCode(t, err, tracking.ECONFLICT)
	select {
	case <-s.Committed():
		t.Fatal("signalled after a failed change")
	default:
	}
}

func testCreateUser(t *testing.T, s *Store) {
	hash := []byte("$2a$10$abcdefghijklmnopqrstuv")
	u, err := s.CreateUser(t.Context(), "dispatch.one", tracking.RoleDispatcher, hash)
	if err != nil {
		t.Fatal(err)
	}
	if u.ID <= 0 || u.Username != "dispatch.one" || u.Role != tracking.RoleDispatcher || string(u.PasswordHash) != string(hash) ||
		u.Disabled || u.CreatedAt.Location() != time.UTC || u.CreatedAt.IsZero() {
		t.Fatalf("created %+v", u)
	}
	byName, err := s.UserByUsername(t.Context(), "dispatch.one")
	if err != nil {
		t.Fatal(err)
	}
	byID, err := s.UserByID(t.Context(), u.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range []tracking.User{byName, byID} {
		if got.ID != u.ID || got.Username != u.Username || got.Role != u.Role ||
			string(got.PasswordHash) != string(hash) || got.Disabled || !got.CreatedAt.Equal(u.CreatedAt) {
			t.Fatalf("read %+v, want %+v", got, u)
		}
	}
}

func testDuplicateUser(t *testing.T, s *Store) {
	if _, err := s.CreateUser(t.Context(), "admin", tracking.RoleAdmin, []byte("h1")); err != nil {
		t.Fatal(err)
	}
	_, err := s.CreateUser(t.Context(), "admin", tracking.RoleDispatcher, []byte("h2"))
	wantCode(t, err, tracking.ECONFLICT)
	if n, _ := s.CountUsers(t.Context()); n != 1 {
		t.Fatalf("%d users, want 1", n)
	}
}

func testUnknownUser(t *testing.T, s *Store) {
	_, err := s.UserByUsername(t.Context(), "nobody")
	wantCode(t, err, tracking.ENOTFOUND)
	_, err = s.UserByID(t.Context(), 424242)
	wantCode(t, err, tracking.ENOTFOUND)
	wantCode(t, s.SetPassword(t.Context(), 424242, []byte("h")), tracking.ENOTFOUND)
	wantCode(t, s.SetDisabled(t.Context(), 424242, true), tracking.ENOTFOUND)
}

func testUsers(t *testing.T, s *Store) {
	if n, err := s.CountUsers(t.Context()); err != nil || n != 0 {
		t.Fatalf("CountUsers = %d, %v; want 0", n, err)
	}
	if us, err := s.Users(t.Context()); err != nil || len(us) != 0 {
		t.Fatalf("Users = %v, %v; want none", us, err)
	}
	for _, name := range []string{"carol", "alice", "Bob", "bob", "a.b"} {
		if _, err := s.CreateUser(t.Context(), name, tracking.RoleDispatcher, []byte("h")); err != nil {
			t.Fatal(err)
		}
	}
	us, err := s.Users(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, u := range us {
		names = append(names, u.Username)
	}
	// Case-insensitive, then bytewise: the same order on both dialects, whatever the locale.
	if want := []string{"a.b", "alice", "Bob", "bob", "carol"}; !slices.Equal(names, want) {
		t.Fatalf("Users = %v, want %v", names, want)
	}
	if n, _ := s.CountUsers(t.Context()); n != 5 {
		t.Fatalf("CountUsers = %d, want 5", n)
	}
}

func testSetPassword(t *testing.T, s *Store) {
	u, err := s.CreateUser(t.Context(), "alice", tracking.RoleAdmin, []byte("old"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetPassword(t.Context(), u.ID, []byte("new")); err != nil {
		t.Fatal(err)
	}
	got, _ := s.UserByID(t.Context(), u.ID)
	if string(got.PasswordHash) != "new" {
		t.Fatalf("hash = %q, want new", got.PasswordHash)
	}
}

func testSetDisabled(t *testing.T, s *Store) {
	u, err := s.CreateUser(t.Context(), "alice", tracking.RoleDispatcher, []byte("h"))
	if err != nil {
		t.Fatal(err)
	}
	for _, disabled := range []bool{true, true, false} {
		if err := s.SetDisabled(t.Context(), u.ID, disabled); err != nil {
			t.Fatalf("SetDisabled(%v): %v", disabled, err)
		}
		got, _ := s.UserByUsername(t.Context(), "alice")
		if got.Disabled != disabled {
			t.Fatalf("Disabled = %v, want %v", got.Disabled, disabled)
		}
	}
}

func getSession(t *testing.T, ss *SessionStorage, key string) []byte {
	t.Helper()
	v, err := ss.Get(key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	return v
}

func setSession(t *testing.T, ss *SessionStorage, key, val string, exp time.Duration) {
	t.Helper()
	if err := ss.Set(key, []byte(val), exp); err != nil {
		t.Fatalf("Set(%q): %v", key, err)
	}
}

func testSessionSetGet(t *testing.T, s *Store) {
	ss := s.Sessions()
	blob := string([]byte{0, 1, 2, 0xff, 'x'})
	setSession(t, ss, "k1", blob, time.Hour)
	setSession(t, ss, "k2", "forever", 0)
	if got := getSession(t, ss, "k1"); string(got) != blob {
		t.Fatalf("Get = %q, want %q", got, blob)
	}
	if got := getSession(t, ss, "k2"); string(got) != "forever" {
		t.Fatalf("Get = %q, want forever", got)
	}
	if err := ss.Close(); err != nil {
		t.Fatal(err)
	}
	if got := getSession(t, ss, "k2"); string(got) != "forever" {
		t.Fatal("SessionStorage.Close closed the store")
	}
}

func testSessionMissing(t *testing.T, s *Store) {
	if got := getSession(t, s.Sessions(), "missing"); got != nil {
		t.Fatalf("Get = %q, want nil", got)
	}
	if got := getSession(t, s.Sessions(), ""); got != nil {
		t.Fatalf("Get(\"\") = %q, want nil", got)
	}
}

func testSessionOverwrite(t *testing.T, s *Store) {
	ss := s.Sessions()
	setSession(t, ss, "k", "first", -time.Second) // already expired
	setSession(t, ss, "k", "second", 0)           // replaces the value and the expiry
	if got := getSession(t, ss, "k"); string(got) != "second" {
		t.Fatalf("Get = %q, want second", got)
	}
}

func testSessionExpiry(t *testing.T, s *Store) {
	ss := s.Sessions()
	setSession(t, ss, "k", "soon gone", 100*time.Millisecond)
	setSession(t, ss, "keep", "v", time.Hour)
	deadline := time.Now().Add(5 * time.Second)
	for getSession(t, ss, "k") != nil {
		if time.Now().After(deadline) {
			t.Fatal("session did not expire")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if getSession(t, ss, "keep") == nil {
		t.Fatal("unexpired session gone")
	}
}

func testSessionDelete(t *testing.T, s *Store) {
	ss := s.Sessions()
	setSession(t, ss, "a", "1", 0)
	setSession(t, ss, "b", "2", 0)
	if err := ss.Delete("a"); err != nil {
		t.Fatal(err)
	}
	if err := ss.Delete("never-there"); err != nil {
		t.Fatalf("Delete of a missing key: %v", err)
	}
	if getSession(t, ss, "a") != nil || getSession(t, ss, "b") == nil {
		t.Fatal("Delete removed the wrong session")
	}
}

func testSessionReset(t *testing.T, s *Store) {
	ss := s.Sessions()
	setSession(t, ss, "a", "1", 0)
	setSession(t, ss, "b", "2", time.Hour)
	if err := ss.Reset(); err != nil {
		t.Fatal(err)
	}
	if getSession(t, ss, "a") != nil || getSession(t, ss, "b") != nil {
		t.Fatal("Reset left sessions")
	}
}

func testSessionPurge(t *testing.T, s *Store) {
	ss := s.Sessions()
	count := func() int {
		t.Helper()
		tx, err := s.beginRead(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback()
		var n int
		if err := tx.queryRow(t.Context(), `SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ss.nextPurge.Store(math.MaxInt64) // no purge yet
	setSession(t, ss, "expired", "x", -time.Second)
	setSession(t, ss, "live", "y", time.Hour)
	if n := count(); n != 2 {
		t.Fatalf("%d session rows before the purge, want 2", n)
	}
	ss.nextPurge.Store(0) // the next Set purges
	setSession(t, ss, "trigger", "z", 0)
	if n := count(); n != 2 {
		t.Fatalf("%d session rows after the purge, want 2 (live and trigger)", n)
	}
	if getSession(t, ss, "live") == nil || getSession(t, ss, "trigger") == nil {
		t.Fatal("purge removed a live session")
	}
}
