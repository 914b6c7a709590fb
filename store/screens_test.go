package store

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"calipso/tracking"
)

// Screens and the board filter, run by runConformance on both dialects.

func profile(name string) tracking.ScreenProfile {
	p := tracking.DefaultScreenProfile()
	p.Name = name
	p.Docks = []string{"D1", "D2"}
	p.Carriers = []string{"DHL Freight"}
	p.Statuses = []tracking.Status{tracking.StatusLoading, tracking.StatusInTransit}
	p.Language, p.Theme, p.PageSize = tracking.LanguageRussian, tracking.ThemeLight, 9
	return p
}

func createScreen(t *testing.T, s *Store, name string) (tracking.Screen, string) {
	t.Helper()
	token, hash := tracking.NewScreenToken()
	sc, err := s.CreateScreen(t.Context(), profile(name), hash, "admin")
	if err != nil {
		t.Fatalf("CreateScreen: %v", err)
	}
	return sc, token
}

func showScreen(sc tracking.Screen) string {
	return fmt.Sprintf("%d %+v v%d created=%s updated=%s by=%q revoked=%v", sc.ID, sc.ScreenProfile, sc.Version,
		sc.CreatedAt.Format(time.RFC3339Nano), sc.UpdatedAt.Format(time.RFC3339Nano), sc.UpdatedBy, sc.RevokedAt)
}

func testCreateScreen(t *testing.T, s *Store) {
	sc, token := createScreen(t, s, "Hall A")
	if sc.ID <= 0 || sc.Version != 1 || sc.Revoked() || sc.UpdatedBy != "admin" || sc.CreatedAt.Location() != time.UTC {
		t.Fatalf("created %s", showScreen(sc))
	}
	want := profile("Hall A")
	if !slices.Equal(sc.Docks, want.Docks) || !slices.Equal(sc.Carriers, want.Carriers) || sc.Destinations != nil ||
		!slices.Equal(sc.Statuses, want.Statuses) || sc.PageSize != 9 || sc.Language != tracking.LanguageRussian ||
		sc.Theme != tracking.ThemeLight || sc.RotateSeconds != want.RotateSeconds || sc.RemoveAfterMinutes != want.RemoveAfterMinutes {
		t.Fatalf("profile not kept: %s", showScreen(sc))
	}
	byID, err := s.Screen(t.Context(), sc.ID)
	if err != nil || showScreen(byID) != showScreen(sc) {
		t.Fatalf("Screen(id) = %s, %v", showScreen(byID), err)
	}
	byToken, err := s.ScreenByTokenHash(t.Context(), tracking.HashScreenToken(token))
	if err != nil || byToken.ID != sc.ID || byToken.TokenHash != tracking.HashScreenToken(token) {
		t.Fatalf("ScreenByTokenHash = %s, %v", showScreen(byToken), err)
	}
	// The token itself is not what is stored.
	_, err = s.ScreenByTokenHash(t.Context(), token)
	wantCode(t, err, tracking.ENOTFOUND)
}

func testDuplicateScreenName(t *testing.T, s *Store) {
	createScreen(t, s, "Hall A")
	_, hash := tracking.NewScreenToken()
	_, err := s.CreateScreen(t.Context(), profile("Hall A"), hash, "admin")
	wantCode(t, err, tracking.ECONFLICT)
}

func testUnknownScreen(t *testing.T, s *Store) {
	_, err := s.Screen(t.Context(), 424242)
	wantCode(t, err, tracking.ENOTFOUND)
	_, err = s.RevokeScreen(t.Context(), 424242, "admin")
	wantCode(t, err, tracking.ENOTFOUND)
	_, err = s.UpdateScreen(t.Context(), 424242, 1, profile("x"), "admin")
	wantCode(t, err, tracking.ENOTFOUND)
}

func testUpdateScreen(t *testing.T, s *Store) {
	sc, _ := createScreen(t, s, "Hall A")
	p := profile("Hall B")
	p.Docks, p.Statuses, p.Theme = nil, nil, tracking.ThemeDark
	u, err := s.UpdateScreen(t.Context(), sc.ID, sc.Version, p, "olga")
	if err != nil {
		t.Fatal(err)
	}
	if u.Version != 2 || u.Name != "Hall B" || u.Docks != nil || u.Statuses != nil || u.Theme != tracking.ThemeDark ||
		u.UpdatedBy != "olga" || !u.CreatedAt.Equal(sc.CreatedAt) {
		t.Fatalf("updated %s", showScreen(u))
	}
	_, err = s.UpdateScreen(t.Context(), sc.ID, sc.Version, profile("Hall C"), "ivan")
	wantCode(t, err, tracking.ECONFLICT)
	got, _ := s.Screen(t.Context(), sc.ID)
	if showScreen(got) != showScreen(u) {
		t.Fatalf("a stale update changed the screen: %s", showScreen(got))
	}
	other, _ := createScreen(t, s, "Hall C")
	_, err = s.UpdateScreen(t.Context(), other.ID, other.Version, profile("Hall B"), "ivan")
	wantCode(t, err, tracking.ECONFLICT)
}

func testRevokeAndRelinkScreen(t *testing.T, s *Store) {
	sc, oldToken := createScreen(t, s, "Hall A")
	r, err := s.RevokeScreen(t.Context(), sc.ID, "admin")
	if err != nil || !r.Revoked() || r.Version != sc.Version+1 {
		t.Fatalf("revoke: %s, %v", showScreen(r), err)
	}
	again, err := s.RevokeScreen(t.Context(), sc.ID, "admin")
	if err != nil || !again.RevokedAt.Equal(*r.RevokedAt) {
		t.Fatalf("second revoke moved the time: %s, %v", showScreen(again), err)
	}
	if found, err := s.ScreenByTokenHash(t.Context(), tracking.HashScreenToken(oldToken)); err != nil || !found.Revoked() {
		t.Fatalf("a revoked screen is found by its token and shows revoked: %s, %v", showScreen(found), err)
	}
	newToken, hash := tracking.NewScreenToken()
	n, err := s.SetScreenToken(t.Context(), sc.ID, hash, "admin")
	if err != nil || n.Revoked() || n.Version <= again.Version {
		t.Fatalf("new link: %s, %v", showScreen(n), err)
	}
	_, err = s.ScreenByTokenHash(t.Context(), tracking.HashScreenToken(oldToken))
	wantCode(t, err, tracking.ENOTFOUND)
	if found, err := s.ScreenByTokenHash(t.Context(), tracking.HashScreenToken(newToken)); err != nil || found.ID != sc.ID || found.TokenHash != hash {
		t.Fatalf("new token: %v", err)
	}
}

func testScreensSorted(t *testing.T, s *Store) {
	createScreen(t, s, "Yard")
	createScreen(t, s, "Hall B")
	createScreen(t, s, "Hall A")
	all, err := s.Screens(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, sc := range all {
		names = append(names, sc.Name)
	}
	if !slices.Equal(names, []string{"Hall A", "Hall B", "Yard"}) {
		t.Fatalf("names %q", names)
	}
}

// testFilterMatchAgreesWithQuery checks tracking.DepartureFilter.Match, which live boards use
// to place an event's departure, against the store's own query for the same filter.
func testFilterMatchAgreesWithQuery(t *testing.T, s *Store) {
	var all []tracking.Departure
	for i, dest := range []string{"Rotterdam", "Zürich", "Kazan", "Rotterdam Europoort"} {
		f := fields(fmt.Sprintf("PO-%c%d", 'A'+i, i), t0.Add(time.Duration(i)*time.Hour))
		f.Destination, f.Dock, f.Carrier = dest, fmt.Sprintf("D%d", i%2), []string{"DHL", "DSV"}[i%2]
		all = append(all, create(t, s, f))
	}
	all[1] = changeStatus(t, s, all[1], tracking.StatusLoading, "")
	all[2] = changeStatus(t, s, all[2], tracking.StatusCancelled, "")
	filters := []tracking.DepartureFilter{
		{},
		{From: t0.Add(time.Hour), To: t0.Add(3 * time.Hour)},
		{Statuses: []tracking.Status{tracking.StatusLoading, tracking.StatusCancelled}},
		{Docks: []string{"D1"}},
		{Destinations: []string{"Rotterdam"}},
		{Carriers: []string{"DSV"}, Docks: []string{"D1"}},
		{Query: "rotterdam"},
		{Query: "zÜRICH"},
		{Query: all[2].PublicID()},
		{Query: fmt.Sprint(all[3].ID)},
		{Query: "po-b"},
	}
	for _, f := range filters {
		var want []int64
		for _, d := range all {
			if f.Match(d) {
				want = append(want, d.ID)
			}
		}
		wantIDs(t, list(t, s, f), want...)
	}
}
