package store

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"calipso/tracking"
)

func claim(t *testing.T, s *Store, who string, limit int, lease time.Duration) []OutboxMessage {
	t.Helper()
	msgs, err := s.ClaimOutbox(t.Context(), who, limit, lease)
	if err != nil {
		t.Fatalf("ClaimOutbox(%s): %v", who, err)
	}
	return msgs
}

func msgIDs(msgs []OutboxMessage) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.ID
	}
	return out
}

func stats(t *testing.T, s *Store) OutboxStats {
	t.Helper()
	st, err := s.OutboxStats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func testClaimOutbox(t *testing.T, s *Store) {
	d := create(t, s, fields("PO-1", t0))
	changeStatus(t, s, d, tracking.StatusLoading, "")
	create(t, s, fields("PO-2", t0))
	pending := outbox(t, s)

	got := claim(t, s, "relay-a", 10, time.Minute)
	if !slices.Equal(msgIDs(got), msgIDs(pending)) {
		t.Fatalf("claimed %v, want every pending row in order %v", msgIDs(got), msgIDs(pending))
	}
	for i, m := range got {
		if m.Attempts != 1 || m.MessageID != pending[i].MessageID || string(m.Body) != string(pending[i].Body) {
			t.Errorf("claimed %+v, want %+v with one attempt", m, pending[i])
		}
	}
	if again := claim(t, s, "relay-b", 10, time.Minute); len(again) != 0 {
		t.Fatalf("a second claimant got %v while the lease runs", msgIDs(again))
	}
	if st := stats(t, s); st.Pending != 3 || st.Failing != 0 || !st.Oldest.Equal(pending[0].CreatedAt) {
		t.Fatalf("stats = %+v, want 3 pending since %v", st, pending[0].CreatedAt)
	}
}

func testClaimAfterLease(t *testing.T, s *Store) {
	create(t, s, fields("PO-1", t0))
	first := claim(t, s, "relay-a", 10, 100*time.Millisecond)
	if len(first) != 1 {
		t.Fatalf("claimed %d rows, want 1", len(first))
	}
	// relay-a died without confirming: once its lease has passed, relay-b takes the row.
	deadline := time.Now().Add(5 * time.Second)
	for {
		got := claim(t, s, "relay-b", 10, time.Minute)
		if len(got) == 1 {
			if got[0].ID != first[0].ID || got[0].Attempts != 2 {
				t.Fatalf("reclaimed %+v, want row %d at attempt 2", got[0], first[0].ID)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("row not claimable after its lease")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func testMarkPublished(t *testing.T, s *Store) {
	create(t, s, fields("PO-1", t0))
	create(t, s, fields("PO-2", t0))
	got := claim(t, s, "relay-a", 10, time.Minute)
	if err := s.MarkPublished(t.Context(), []int64{got[0].ID}); err != nil {
		t.Fatal(err)
	}
	if rest := outbox(t, s); len(rest) != 1 || rest[0].ID != got[1].ID {
		t.Fatalf("pending = %v, want only %d", msgIDs(rest), got[1].ID)
	}
	if err := s.MarkPublished(t.Context(), []int64{got[0].ID}); err != nil {
		t.Fatalf("marking twice: %v", err)
	}
	if err := s.MarkPublished(t.Context(), nil); err != nil {
		t.Fatalf("marking nothing: %v", err)
	}
	if st := stats(t, s); st.Pending != 1 {
		t.Fatalf("stats = %+v, want 1 pending", st)
	}
	// A published row is never claimed again, even after the lease.
	if err := s.ReleaseOutbox(t.Context(), []int64{got[0].ID}, time.Time{}, "late nack"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseOutbox(t.Context(), []int64{got[1].ID}, time.Time{}, ""); err != nil {
		t.Fatal(err)
	}
	if again := claim(t, s, "relay-b", 10, time.Minute); !slices.Equal(msgIDs(again), []int64{got[1].ID}) {
		t.Fatalf("claimed %v, want only the unpublished %d", msgIDs(again), got[1].ID)
	}
}

func testReleaseOutbox(t *testing.T, s *Store) {
	a := create(t, s, fields("PO-A", t0))
	create(t, s, fields("PO-B", t0))
	changeStatus(t, s, a, tracking.StatusLoading, "")
	all := claim(t, s, "relay-a", 10, time.Minute) // A v1, B v1, A v2
	if len(all) != 3 {
		t.Fatalf("claimed %d, want 3", len(all))
	}
	// A's first message was nacked and is held back; B's and A's second are released at once.
	if err := s.ReleaseOutbox(t.Context(), []int64{all[0].ID}, time.Now().Add(time.Hour), "nacked"); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleaseOutbox(t.Context(), []int64{all[1].ID, all[2].ID}, time.Time{}, "connection lost"); err != nil {
		t.Fatal(err)
	}
	if st := stats(t, s); st.Pending != 3 || st.Failing != 3 {
		t.Fatalf("stats = %+v, want 3 pending, 3 failing", st)
	}
	// Only B's: A's second must not overtake A's first.
	got := claim(t, s, "relay-b", 10, time.Minute)
	if !slices.Equal(msgIDs(got), []int64{all[1].ID}) {
		t.Fatalf("claimed %v, want only B's %d", msgIDs(got), all[1].ID)
	}
	if got[0].Attempts != 2 {
		t.Fatalf("attempts = %d, want 2", got[0].Attempts)
	}
	// Released with a retry time in the past: claimable, and then A's second comes with it.
	if err := s.ReleaseOutbox(t.Context(), []int64{all[0].ID}, time.Now().Add(-time.Second), "nacked"); err != nil {
		t.Fatal(err)
	}
	got = claim(t, s, "relay-b", 10, time.Minute)
	if !slices.Equal(msgIDs(got), []int64{all[0].ID, all[2].ID}) {
		t.Fatalf("claimed %v, want A's two in order", msgIDs(got))
	}
}

func testClaimKeepsDepartureOrder(t *testing.T, s *Store) {
	a := create(t, s, fields("PO-A", t0)) // row 1: A
	create(t, s, fields("PO-B", t0))      // row 2: B
	changeStatus(t, s, a, tracking.StatusLoading, "")
	rows := outbox(t, s) // A v1, B v1, A v2

	x := claim(t, s, "relay-x", 1, time.Minute)
	if !slices.Equal(msgIDs(x), []int64{rows[0].ID}) {
		t.Fatalf("relay-x claimed %v, want %d", msgIDs(x), rows[0].ID)
	}
	y := claim(t, s, "relay-y", 10, time.Minute)
	if !slices.Equal(msgIDs(y), []int64{rows[1].ID}) {
		t.Fatalf("relay-y claimed %v, want only B's %d while relay-x holds A's first", msgIDs(y), rows[1].ID)
	}
	if err := s.MarkPublished(t.Context(), msgIDs(x)); err != nil {
		t.Fatal(err)
	}
	y = claim(t, s, "relay-y", 10, time.Minute)
	if !slices.Equal(msgIDs(y), []int64{rows[2].ID}) {
		t.Fatalf("relay-y claimed %v, want A's second %d once the first is published", msgIDs(y), rows[2].ID)
	}
}

func testConcurrentClaims(t *testing.T, s *Store) {
	const departures, changes, relays = 6, 4, 4
	for i := range departures {
		d := create(t, s, fields(fmt.Sprintf("PO-%d", i), t0))
		for _, to := range []tracking.Status{tracking.StatusLoading, tracking.StatusDelayed, tracking.StatusLoading}[:changes-1] {
			d = changeStatus(t, s, d, to, "")
		}
	}
	var (
		mu        sync.Mutex
		published = map[string]int64{} // departure → highest version handed to the broker
		claimed   = map[int64]string{} // row → claimant
		failures  []string
		wg        sync.WaitGroup
	)
	for r := range relays {
		who := fmt.Sprintf("relay-%d", r)
		wg.Go(func() {
			for idle := 0; idle < 20; {
				msgs, err := s.ClaimOutbox(t.Context(), who, 3, time.Minute)
				if err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
				if len(msgs) == 0 {
					idle++
					time.Sleep(5 * time.Millisecond)
					continue
				}
				idle = 0
				mu.Lock()
				for _, m := range msgs {
					if other, ok := claimed[m.ID]; ok {
						failures = append(failures, fmt.Sprintf("row %d claimed by %s and %s", m.ID, other, who))
					}
					claimed[m.ID] = who
					// Published before MarkPublished commits: no other claimant can see the
					// row as published before this map does.
					if m.Version != published[m.DepartureID]+1 {
						failures = append(failures, fmt.Sprintf("%s: %s v%d published after v%d",
							who, m.DepartureID, m.Version, published[m.DepartureID]))
					}
					published[m.DepartureID] = m.Version
				}
				mu.Unlock()
				if err := s.MarkPublished(t.Context(), msgIDs(msgs)); err != nil {
					mu.Lock()
					failures = append(failures, err.Error())
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	for _, f := range failures {
		t.Error(f)
	}
	if len(claimed) != departures*changes {
		t.Errorf("%d rows claimed, want %d", len(claimed), departures*changes)
	}
	if st := stats(t, s); st.Pending != 0 {
		t.Errorf("stats = %+v, want nothing pending", st)
	}
}

func testPruneOutbox(t *testing.T, s *Store) {
	create(t, s, fields("PO-1", t0))
	create(t, s, fields("PO-2", t0))
	got := claim(t, s, "relay-a", 10, time.Minute)
	if err := s.MarkPublished(t.Context(), []int64{got[0].ID}); err != nil {
		t.Fatal(err)
	}
	n, err := s.PruneOutbox(t.Context(), time.Now().Add(-time.Hour))
	if err != nil || n != 0 {
		t.Fatalf("PruneOutbox(an hour ago) = %d, %v; want 0", n, err)
	}
	n, err = s.PruneOutbox(t.Context(), time.Now().Add(time.Second))
	if err != nil || n != 1 {
		t.Fatalf("PruneOutbox(now) = %d, %v; want 1 (the published row only)", n, err)
	}
	if st := stats(t, s); st.Pending != 1 {
		t.Fatalf("stats = %+v, want the pending row kept", st)
	}
}

func testHandledVersion(t *testing.T, s *Store) {
	ctx := t.Context()
	version := func(consumer, dep string) int64 {
		t.Helper()
		v, err := s.HandledVersion(ctx, consumer, dep)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	record := func(consumer, dep string, v int64) {
		t.Helper()
		if err := s.RecordHandled(ctx, consumer, dep, v, fmt.Sprintf("msg-%s-%d", dep, v)); err != nil {
			t.Fatal(err)
		}
	}
	if v := version("screens", "DEP-000001"); v != 0 {
		t.Fatalf("version before any = %d, want 0", v)
	}
	record("screens", "DEP-000001", 3)
	record("screens", "DEP-000001", 2) // late and older: ignored
	record("screens", "DEP-000001", 3) // duplicate
	if v := version("screens", "DEP-000001"); v != 3 {
		t.Fatalf("version = %d, want 3", v)
	}
	record("screens", "DEP-000001", 5)
	record("audit", "DEP-000001", 1)
	record("screens", "DEP-000002", 7)
	for _, c := range []struct {
		consumer, dep string
		want          int64
	}{{"screens", "DEP-000001", 5}, {"audit", "DEP-000001", 1}, {"screens", "DEP-000002", 7}, {"audit", "DEP-000002", 0}} {
		if v := version(c.consumer, c.dep); v != c.want {
			t.Errorf("HandledVersion(%s, %s) = %d, want %d", c.consumer, c.dep, v, c.want)
		}
	}
}
