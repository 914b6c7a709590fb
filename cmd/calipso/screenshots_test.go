//go:build screenshots

package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"calipso/internal/browsertest"
	"calipso/tracking"
)

// TestScreenshots regenerates the pictures of the README from demo data: docs/board.png (a
// wall screen at 1920×1080, one row just changed) and docs/departures.png (the dispatcher's
// list). Run it with `make screenshots`; it is not part of `make test`.
func TestScreenshots(t *testing.T) {
	srv := startServer(t, map[string]string{"CALIPSO_TIMEZONE": "Europe/Moscow"}, "--demo")
	st := srv.store(t)
	p := tracking.DefaultScreenProfile()
	p.Name, p.PageSize, p.RemoveAfterMinutes = "Hall A · Departures", 12, 0
	_, token := registerScreen(t, st, p)
	docs := filepath.Join("..", "..", "docs")
	if err := os.MkdirAll(docs, 0o755); err != nil {
		t.Fatal(err)
	}

	ctx := browsertest.New(t)
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(1920, 1080)); err != nil {
		t.Fatal(err)
	}
	openBoard(t, ctx, srv.URL+"/board?screen="+token)
	// Delay a departure by 25 minutes, so that the picture shows a delay, highlighted.
	id := js[string](t, ctx, `(document.querySelector('#board-rows > tr.board-row-pending') || {id: ''}).id.slice(4)`)
	n, err := tracking.ParseID(id)
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.Departure(context.Background(), n)
	if err != nil {
		t.Fatal(err)
	}
	late := d.ScheduledAt.Add(25 * time.Minute)
	f := d.DepartureFields
	f.EstimatedAt = &late
	if d, err = st.UpdateDeparture(context.Background(), d.ID, d.Version, f, "demo"); err != nil {
		t.Fatal(err)
	}
	if _, err := st.ChangeStatus(context.Background(), d.ID, d.Version, tracking.StatusDelayed, "Driver late", "demo"); err != nil {
		t.Fatal(err)
	}
	waitJS(t, ctx, 15*time.Second, "the delay arrives", `document.querySelector('#board-rows > tr.board-row-delayed.board-row-updated')`)
	waitJS(t, ctx, 15*time.Second, "the change arrives", `document.querySelector('#board-rows > tr.board-row-updated')`)
	time.Sleep(600 * time.Millisecond) // into the highlight, past htmx's settle
	shoot(t, ctx, filepath.Join(docs, "board.png"), chromedp.CaptureScreenshot())

	desk := browsertest.NewIncognito(t, ctx)
	if err := chromedp.Do(desk, chromedp.EmulateViewport(1600, 1000)); err != nil {
		t.Fatal(err)
	}
	login(t, desk, srv.URL, "admin", adminPassword)
	active := "/departures?status=pending&status=loading&status=delayed&status=in_transit"
	if err := chromedp.Do(desk, chromedp.Navigate(srv.URL+active), chromedp.WaitVisible(chromedp.CSS(`#departure-list`))); err != nil {
		t.Fatal(err)
	}
	waitJS(t, desk, 15*time.Second, "the list connects", `document.querySelector('[data-live-list]').dataset.snapshots >= 1`)
	shoot(t, desk, filepath.Join(docs, "departures.png"), chromedp.CaptureScreenshot())
}

func shoot(t *testing.T, ctx context.Context, path string, action chromedp.Action[[]byte]) {
	t.Helper()
	png, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s (%d bytes)", path, len(png))
}
