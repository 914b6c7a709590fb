package demo

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"calipso/store"
	"calipso/tracking"
)

func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(t.TempDir(), "demo.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

// versions maps each departure to its version.
func versions(t *testing.T, st *store.Store) map[int64]int64 {
	t.Helper()
	all, err := st.Departures(context.Background(), tracking.DepartureFilter{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[int64]int64{}
	for _, d := range all {
		out[d.ID] = d.Version
	}
	return out
}

func TestEachStepMovesOneDepartureAlongTheTransitionTable(t *testing.T) {
	st := openStore(t)
	loc := time.UTC
	now := time.Date(2026, 12, 3, 13, 0, 0, 0, loc)
	if _, err := Seed(context.Background(), st, loc, now); err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 40 {
		before := versions(t, st)
		if err := Step(context.Background(), st, loc, now, rng); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		after := versions(t, st)
		changed := 0
		for id, v := range after {
			if v != before[id] {
				changed++
			}
		}
		// One departure changes (a delay is an edit and a status change); or one is created.
		if changed != 1 {
			t.Fatalf("step %d changed %d departures, want 1", i, changed)
		}
	}
	// Every status change the simulator made was one the table allows (the store refuses
	// others), and the history shows them.
	all, _ := st.Departures(context.Background(), tracking.DepartureFilter{})
	moved := 0
	for _, d := range all {
		h, err := st.History(context.Background(), d.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range h {
			if c.By == By && c.From != "" && !c.From.CanBecome(c.To) {
				t.Fatalf("%s went %s → %s", d.PublicID(), c.From, c.To)
			}
		}
		moved += len(h)
	}
	if moved == 0 {
		t.Fatal("nothing moved")
	}
}

func TestStepCreatesADepartureWhenNothingCanMove(t *testing.T) {
	st := openStore(t)
	now := time.Date(2026, 12, 3, 13, 0, 0, 0, time.UTC)
	if err := Step(context.Background(), st, time.UTC, now, rand.New(rand.NewPCG(1, 2))); err != nil {
		t.Fatal(err)
	}
	all, _ := st.Departures(context.Background(), tracking.DepartureFilter{})
	if len(all) != 1 || !all[0].ScheduledAt.After(now) || all[0].Status != tracking.StatusPending {
		t.Fatalf("after a step on an empty depot: %+v", all)
	}
}
