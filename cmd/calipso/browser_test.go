package main

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"calipso/internal/browsertest"
)

// login fills the login form in the browser and waits for the departures page.
func login(t *testing.T, ctx context.Context, baseURL, user, password string) {
	t.Helper()
	if err := chromedp.Do(ctx,
		chromedp.Navigate(baseURL+"/login"),
		chromedp.SendKeys(chromedp.CSS(`input[name=username]`), user),
		chromedp.SendKeys(chromedp.CSS(`input[name=password]`), password),
		chromedp.Submit(chromedp.CSS(`input[name=password]`)),
		chromedp.WaitVisible(chromedp.CSS(`#departure-list`)),
	); err != nil {
		t.Fatalf("login as %s: %v", user, err)
	}
}

// TestDispatcherCreatesChangesStatusAndReadsHistoryInTheBrowser walks the dispatcher's main
// path in a real browser, with htmx and the Content-Security-Policy in force.
func TestDispatcherCreatesChangesStatusAndReadsHistoryInTheBrowser(t *testing.T) {
	srv := startServer(t, nil)
	ctx := browsertest.New(t)

	login(t, ctx, srv.URL, "admin", adminPassword)

	// Create a departure through the form.
	if err := chromedp.Do(ctx,
		chromedp.Click(chromedp.CSS(`a[href="/departures/new"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#departure-form`)),
		chromedp.SendKeys(chromedp.CSS(`input[name=po_number]`), "PO-BROWSER-1"),
		chromedp.SendKeys(chromedp.CSS(`input[name=destination]`), "Nizhny Novgorod"),
		chromedp.SendKeys(chromedp.CSS(`input[name=carrier]`), "Major Express"),
		chromedp.SendKeys(chromedp.CSS(`input[name=dock]`), "D9"),
		chromedp.SetValue(chromedp.CSS(`input[name=scheduled_at]`), "2026-12-03T21:15"),
		chromedp.Click(chromedp.CSS(`#departure-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#departure-detail`)),
	); err != nil {
		t.Fatalf("create: %v", err)
	}
	heading, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#departure-detail h1`)))
	if err != nil || !strings.HasPrefix(heading, "DEP-") {
		t.Fatalf("after saving, the page shows %q (%v), want the new departure", heading, err)
	}
	location, _ := chromedp.Run(ctx, chromedp.Location())
	if !strings.HasSuffix(location, "/departures/"+heading) {
		t.Fatalf("URL %s is not the departure's", location)
	}

	// Change its status with one click, giving a reason.
	if err := chromedp.Do(ctx,
		chromedp.SendKeys(chromedp.CSS(`#departure-detail input[name=reason]`), "dock 9 ready early"),
		chromedp.Click(chromedp.CSS(`#departure-detail button[value="Loading"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#departure-detail button[value="In Transit"]`)),
	); err != nil {
		t.Fatalf("status change: %v", err)
	}

	// Read the history on a fresh load of the detail page.
	if err := chromedp.Do(ctx,
		chromedp.Navigate(location),
		chromedp.WaitVisible(chromedp.CSS(`#history`)),
	); err != nil {
		t.Fatal(err)
	}
	history, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(`#history tbody`)))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"created", "Pending", "Loading", "dock 9 ready early", "admin"} {
		if !strings.Contains(history, want) {
			t.Errorf("history %q does not show %q", history, want)
		}
	}
	if rows, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("#history tbody tr").length`)); rows != 2 {
		t.Errorf("history has %d rows, want 2 (created, Loading)", rows)
	}
}
