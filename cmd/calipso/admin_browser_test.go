package main

import (
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"calipso/internal/browsertest"
	"calipso/tracking"
)

// TestAdminPageShowsAStatusChangeWithoutAReload opens /admin in chromium; a status change
// made meanwhile shows in the latency panel by itself (the page refreshes its panels while
// it is visible), and the page is never reloaded.
func TestAdminPageShowsAStatusChangeWithoutAReload(t *testing.T) {
	t.Parallel()
	_, _, env := services(t)
	srv := startServer(t, env)
	ctx := browsertest.New(t)
	login(t, ctx, srv.URL, "admin", adminPassword)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS(`#admin-panels`))); err != nil {
		t.Fatal(err)
	}
	const samples = `Number(document.querySelector('[data-samples="commit → broker confirm"]').textContent)`
	before := js[int](t, ctx, samples)
	mark(t, ctx)

	st := srv.store(t)
	d := createDeparture(t, st, "Samara", "D5", time.Hour)
	if _, err := st.ChangeStatus(t.Context(), d.ID, d.Version, tracking.StatusLoading, "", "olga"); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 30*time.Second, "the latency panel counts the new events", samples+` >= `+strconv.Itoa(before+2))
	stillMarked(t, ctx, "the admin page")
}
