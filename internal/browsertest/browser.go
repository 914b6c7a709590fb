// Package browsertest starts Debian's chromium, headless, for the browser tests. A missing
// browser fails the test instead of skipping it: a skipped browser test proves nothing, and
// .ci/run installs chromium.
package browsertest

import (
	"context"
	"os/exec"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Deadline bounds a whole browser test, so a hung page fails instead of hanging CI.
const Deadline = 3 * time.Minute

// New starts a browser for the test and returns the context of its first tab. The browser
// is closed when the test ends.
func New(t testing.TB) context.Context {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		t.Fatal("chromium not found on PATH: run .ci/run, or apt-get install chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		// The machine's network is closed: background fetches would only fail noisily.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1400, 1000),
		chromedp.UserDataDir(t.TempDir()),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	ctx, cancelDeadline := context.WithTimeout(ctx, Deadline)
	t.Cleanup(func() {
		cancelDeadline()
		cancelTab()
		cancelAlloc()
	})
	// Start the browser now, so that NewContext below can make tabs in it.
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	return ctx
}

// NewIncognito opens a tab in a fresh browser context of the same browser: its own cookies,
// as a second person at a second computer.
func NewIncognito(t testing.TB, browser context.Context) context.Context {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	return ctx
}
