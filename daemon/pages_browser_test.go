package daemon

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// TestPagesInBrowser loads the daemon's public page and signs in to the
// operator page in headless Chromium: the fingerprints shown are those of
// the served PEM files, and no console error or CSP violation occurs. (The
// web package's own browser test covers layouts, downloads and dark mode.)
func TestPagesInBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	chromium := tooltest.Path(t, "chromium")
	pd, check := newCheckDaemon(t)
	srv := httptest.NewServer(pd.h)
	defer srv.Close()
	if w := postJSON(t, pd.h, "/api/v1/checks/partner/run", adminToken, ""); w.Code != http.StatusOK {
		t.Fatalf("run check: %d", w.Code)
	}
	diagnosis := check()

	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck, chromedp.Flag("disable-background-networking", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	defer cancelAlloc()
	ctx, cancelCtx := chromedp.NewContext(alloc)
	defer cancelCtx()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `document.addEventListener("securitypolicyviolation", e => console.error("CSP violation: " + e.violatedDirective));`,
	}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	var mu sync.Mutex
	var console []string
	go func() {
		for m, err := range chromedp.Console(ctx) {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, m.String())
			mu.Unlock()
		}
	}()
	run := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(c, steps...); err != nil {
			t.Fatal(err)
		}
	}
	eval := func(js string) []string {
		t.Helper()
		c, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		v, err := chromedp.Run(c, chromedp.Evaluate[[]string](js))
		if err != nil {
			t.Fatalf("evaluate %s: %v", js, err)
		}
		return v
	}

	run(chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#entity-id")))
	shown := eval(`Array.from(document.querySelectorAll('[data-fp="sha256"]')).map(e => e.textContent)`)
	slices.Sort(shown)
	if served, _ := servedFingerprints(t, pd.h); len(served) != 2 || !slices.Equal(shown, served) {
		t.Errorf("browser shows SHA-256 %v, the served PEM files have %v", shown, served)
	}

	run(chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), adminToken), chromedp.Click(chromedp.CSS("form.login button")),
		chromedp.WaitVisible(chromedp.CSS("#rotation")))
	if text := eval(`[document.body.textContent.replace(/\s+/g, " ")]`)[0]; !strings.Contains(text, strings.Join(strings.Fields(diagnosis), " ")) {
		t.Errorf("operator page in the browser lacks the check's diagnosis %q", diagnosis)
	}

	time.Sleep(100 * time.Millisecond) // let the console listener drain
	mu.Lock()
	defer mu.Unlock()
	if len(console) > 0 {
		t.Errorf("console messages: %q", console)
	}
}
