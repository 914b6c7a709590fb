package store

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"calipso/internal/servicetest"
	"calipso/tracking"
)

func TestSQLite(t *testing.T) {
	runConformance(t, func(t *testing.T) *Store {
		return openMigrated(t, "sqlite:"+filepath.Join(t.TempDir(), "calipso.db"))
	})
}

func TestPostgres(t *testing.T) {
	runConformance(t, func(t *testing.T) *Store {
		return openMigrated(t, servicetest.Postgres(t))
	})
}

// openMigrated opens url, migrates, and closes the store when the test ends.
func openMigrated(t *testing.T, url string) *Store {
	t.Helper()
	s, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.Migrate(t.Context()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return s
}

func TestPostgresConcurrentMigrationsAllSucceed(t *testing.T) {
	url := servicetest.Postgres(t)
	const instances = 5
	stores := make([]*Store, instances)
	for i := range stores {
		s, err := Open(t.Context(), url)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		stores[i] = s
	}
	errs := make([]error, instances)
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Go(func() { errs[i] = s.Migrate(t.Context()) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("instance %d: %v", i, err)
		}
	}
	if _, err := stores[0].CreateDeparture(t.Context(), fields("PO-1", t0), "alice"); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRejectsUnknownSchemes(t *testing.T) {
	for _, u := range []string{"", "mysql://root:secret@localhost/db", "data/calipso.db", "sqlite:", "sqlite::memory:"} {
		s, err := Open(t.Context(), u)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("Open(%q) error shows the password: %v", u, err)
		}
	}
}

func TestOpenSQLiteCreatesTheDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nested", "dir", "calipso.db")
	s := openMigrated(t, "sqlite:"+path)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database file: %v", err)
	}
	var mode string
	if err := s.db.QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal_mode = %q, %v; want wal", mode, err)
	}
}

func TestSQLiteSecondStoreOnTheSameFileSeesChanges(t *testing.T) {
	url := "sqlite:" + filepath.Join(t.TempDir(), "calipso.db")
	a := openMigrated(t, url)
	b := openMigrated(t, url) // a second process, such as `calipso user add`
	if _, err := b.CreateUser(t.Context(), "alice", tracking.RoleAdmin, []byte("h")); err != nil {
		t.Fatal(err)
	}
	if n, err := a.CountUsers(t.Context()); err != nil || n != 1 {
		t.Fatalf("CountUsers = %d, %v; want 1", n, err)
	}
}

func TestRebindNumbersPlaceholdersForPostgres(t *testing.T) {
	q := "SELECT a FROM t WHERE b = ? AND c IN (?, ?)"
	if got := dialectPostgres.rebind(q); got != "SELECT a FROM t WHERE b = $1 AND c IN ($2, $3)" {
		t.Fatalf("rebind = %q", got)
	}
	if got := dialectSQLite.rebind(q); got != q {
		t.Fatalf("sqlite rebind = %q", got)
	}
}

func TestDepartureLimitDefaultsAndCaps(t *testing.T) {
	for in, want := range map[int]int{0: 500, -1: 500, 20: 20, 5000: 5000, 5001: 5000} {
		if got := departureLimit(in); got != want {
			t.Errorf("departureLimit(%d) = %d, want %d", in, got, want)
		}
	}
}
