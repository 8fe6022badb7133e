package web

import (
	"bytes"
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"flag"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
	"github.com/samlkeyd/samlkeyd/metadata"
)

var updateScreenshot = flag.Bool("update-screenshot", false, "write the desktop screenshot to docs/images/status-page.png")

// snapshotState is what the test server serves: one fixture's metadata
// rendering and pages, swapped atomically as the daemon swaps snapshots.
type snapshotState struct {
	published     *metadata.Published
	public, admin *Page
}

type swappable struct{ cur atomic.Pointer[snapshotState] }

func (s *swappable) Published() *metadata.Published { return s.cur.Load().published }

func (s *swappable) set(t *testing.T, f *fixture) {
	t.Helper()
	pub, err := RenderPublic(f.public)
	if err != nil {
		t.Fatal(err)
	}
	adm, err := RenderAdmin(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	s.cur.Store(&snapshotState{published: f.published, public: pub, admin: adm})
}

// browserSession is one headless Chromium tab plus everything its console
// said (console API calls, exceptions, browser log entries, and CSP
// violations reported by a listener injected into every document).
type browserSession struct {
	ctx  context.Context
	mu   sync.Mutex
	msgs []string
}

func (b *browserSession) messages() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.msgs...)
}

func (b *browserSession) reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.msgs = nil
}

const cspListener = `document.addEventListener("securitypolicyviolation", function (e) {
  console.error("CSP violation: " + e.violatedDirective + " blocked " + (e.blockedURI || "inline"));
});`

func newBrowser(t *testing.T) *browserSession {
	t.Helper()
	chromium := tooltest.Path(t, "chromium")
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 800))
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	// The first Run starts the browser; it must not carry a timeout.
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: cspListener}); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	b := &browserSession{ctx: ctx}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			b.mu.Lock()
			b.msgs = append(b.msgs, m.String()+" @ "+m.URL)
			b.mu.Unlock()
		}
	}()
	return b
}

func (b *browserSession) do(t *testing.T, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatal(err)
	}
}

func eval[T any](t *testing.T, b *browserSession, js string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](js))
	if err != nil {
		t.Fatalf("evaluate %s: %v", js, err)
	}
	return v
}

// viewport sets the viewport to w×h device pixels at zoom (2 is 200%
// browser zoom: half as many CSS pixels, each twice as large).
func (b *browserSession) viewport(t *testing.T, w, h int64, zoom float64, mobile bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
		Width: int64(float64(w) / zoom), Height: int64(float64(h) / zoom), DeviceScaleFactor: zoom, Mobile: mobile,
	}); err != nil {
		t.Fatal(err)
	}
}

func (b *browserSession) noOverflow(t *testing.T, what string) {
	t.Helper()
	got := eval[[]int](t, b, `[document.documentElement.scrollWidth, document.documentElement.clientWidth]`)
	if got[0] > got[1] {
		wide := eval[[]string](t, b, `Array.from(document.querySelectorAll("body *")).filter(e => e.getBoundingClientRect().right > document.documentElement.clientWidth).slice(-5).map(e => e.tagName + "." + e.className + ": " + e.textContent.slice(0, 60))`)
		t.Errorf("%s: horizontal overflow: scrollWidth %d > clientWidth %d; widest: %q", what, got[0], got[1], wide)
	}
}

func (b *browserSession) screenshot(t *testing.T, w, h int) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	shot, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if got := img.Bounds().Size(); got.X != w || got.Y != h {
		t.Errorf("screenshot is %v, want %dx%d", got, w, h)
	}
	return shot
}

// TestBrowser drives headless Chromium through both pages, as an IdP admin
// and an operator would use them.
func TestBrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("browser test: skipped in -short mode")
	}
	b := newBrowser(t)
	plain, withNext := newFixture(t, false), newFixture(t, true)
	var state swappable
	state.set(t, plain)
	mux := http.NewServeMux()
	metadata.NewHandler(&state, nil).Register(mux)
	h := NewHandler(Options{
		Public:          func(*http.Request) *Page { return state.cur.Load().public },
		Admin:           func(*http.Request) *Page { return state.cur.Load().admin },
		CheckAdminToken: func(tok string) bool { return tok == adminToken },
	})
	h.Register(mux)
	mux.HandleFunc("GET /csp-canary", func(w http.ResponseWriter, _ *http.Request) {
		securityHeaders(w.Header())
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, `<!DOCTYPE html><title>canary</title><link rel="icon" href="data:,"><p style="color:red">inline style attributes are not allowed</p>`)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	t.Run("csp violations are seen", func(t *testing.T) {
		// The listener must catch a violation, or "no violations" below
		// would prove nothing.
		b.do(t, chromedp.Navigate(srv.URL+"/csp-canary"))
		waitFor(t, func() bool { return anyContains(b.messages(), "CSP violation: style-src") })
		b.reset()
	})

	t.Run("public page without a next key", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("#entity-id")))
		if n := eval[int](t, b, `document.querySelectorAll(".banner").length`); n != 0 {
			t.Errorf("%d banners without a next key, want none", n)
		}
		if got := eval[string](t, b, `document.getElementById("entity-id").textContent`); got != plain.public.EntityID {
			t.Errorf("entity id shown %q, want %q", got, plain.public.EntityID)
		}
		// The inline script ran under the CSP: one copy button each.
		if n := eval[int](t, b, `document.querySelectorAll("button.copy").length`); n != 2 {
			t.Errorf("%d copy buttons, want 2 (entity id, metadata URL)", n)
		}
		checkCards(t, b, srv.URL, len(plain.public.Certs))
	})

	state.set(t, withNext)
	t.Run("banner after a next key is published", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS(".banner")))
		text := eval[string](t, b, `document.querySelector(".banner").textContent.replace(/\s+/g, " ")`)
		if want := "A new signing certificate is published and will be used from about 6 January 2027: import it now."; !strings.Contains(text, want) {
			t.Errorf("banner %q does not say %q", text, want)
		}
		href := eval[string](t, b, `document.querySelector(".banner a").href`)
		next := withNext.public.Certs[1]
		if next.State != "next" || href != srv.URL+next.PEMURL {
			t.Errorf("banner links %q, want the next certificate %s", href, next.PEMURL)
		}
		checkCards(t, b, srv.URL, len(withNext.public.Certs))
		checkDownloads(t, b, srv.URL)
	})

	t.Run("layouts", func(t *testing.T) {
		for _, path := range []string{"/", "/admin"} {
			b.viewport(t, 390, 844, 1, true)
			b.do(t, chromedp.Navigate(srv.URL+path), chromedp.WaitVisible(chromedp.CSS("main")))
			b.noOverflow(t, path+" at 390x844")
			b.screenshot(t, 390, 844)
			b.viewport(t, 1280, 800, 2, false)
			b.do(t, chromedp.Reload())
			b.noOverflow(t, path+" at 1280x800, 200% zoom")
			b.viewport(t, 640, 400, 2, false)
			b.do(t, chromedp.Reload())
			b.noOverflow(t, path+" at 320 CSS pixels wide (1280 at 400% zoom)")
			b.viewport(t, 1280, 800, 1, false)
			b.do(t, chromedp.Reload())
			b.noOverflow(t, path+" at 1280x800")
			shot := b.screenshot(t, 1280, 800)
			if path == "/admin" && *updateScreenshot {
				_ = os.WriteFile(filepath.Join(os.TempDir(), "samlkeyd-login.png"), shot, 0o644)
			}
			if path == "/" && *updateScreenshot {
				if err := os.WriteFile(filepath.Join("..", "docs", "images", "status-page.png"), smallPNG(t, shot), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	})

	t.Run("dark mode", func(t *testing.T) {
		b.do(t, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}})
			return err
		}), chromedp.Navigate(srv.URL+"/"), chromedp.WaitVisible(chromedp.CSS("main")))
		bg := eval[string](t, b, `getComputedStyle(document.body).backgroundColor`)
		if bg != "rgb(15, 20, 25)" {
			t.Errorf("dark mode body background %s, want rgb(15, 20, 25)", bg)
		}
		if *updateScreenshot {
			_ = os.WriteFile(filepath.Join(os.TempDir(), "samlkeyd-dark.png"), b.screenshot(t, 1280, 800), 0o644)
		}
		b.do(t, chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
			_, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
			return err
		}))
	})

	t.Run("admin sign-in and sign-out", func(t *testing.T) {
		b.do(t, chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/login"] #token`)))
		if n := eval[int](t, b, `document.querySelectorAll(".diagnosis").length`); n != 0 {
			t.Fatal("the operator page shows without a session")
		}
		const wrong = "skd_not_the_admin_token_4242"
		b.do(t, chromedp.SendKeys(chromedp.CSS("#token"), wrong), chromedp.Click(chromedp.CSS(`form.login button`)),
			chromedp.WaitVisible(chromedp.CSS("#login-error")))
		if msg := eval[string](t, b, `document.getElementById("login-error").textContent`); !strings.Contains(msg, "not an admin token") {
			t.Errorf("wrong-token error %q", msg)
		}
		if html := eval[string](t, b, `document.documentElement.outerHTML`); strings.Contains(html, wrong) {
			t.Error("the sign-in form echoes the token")
		}
		b.do(t, chromedp.SendKeys(chromedp.CSS("#token"), adminToken), chromedp.Click(chromedp.CSS(`form.login button`)),
			chromedp.WaitVisible(chromedp.CSS(".diagnosis")))
		if got := eval[string](t, b, `document.querySelector(".diagnosis").textContent`); got != diagnosis {
			t.Errorf("diagnosis shown %q, want %q", got, diagnosis)
		}
		checkSessionCookie(t, b, srv.URL)
		b.viewport(t, 390, 844, 1, true)
		b.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".diagnosis")))
		b.noOverflow(t, "/admin signed in at 390x844")
		b.viewport(t, 640, 400, 2, false)
		b.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".diagnosis")))
		b.noOverflow(t, "/admin signed in at 320 CSS pixels wide")
		b.viewport(t, 1280, 800, 2, false)
		b.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".diagnosis")))
		b.noOverflow(t, "/admin signed in at 1280x800, 200% zoom")
		b.viewport(t, 1280, 800, 1, false)
		b.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".diagnosis")))
		b.noOverflow(t, "/admin signed in at 1280x800")
		if *updateScreenshot {
			_ = os.WriteFile(filepath.Join(os.TempDir(), "samlkeyd-admin.png"), b.screenshot(t, 1280, 800), 0o644)
			if full, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100)); err == nil {
				_ = os.WriteFile(filepath.Join(os.TempDir(), "samlkeyd-admin-full.png"), full, 0o644)
			}
			b.viewport(t, 390, 844, 1, true)
			b.do(t, chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS(".diagnosis")))
			_ = os.WriteFile(filepath.Join(os.TempDir(), "samlkeyd-admin-mobile.png"), b.screenshot(t, 390, 844), 0o644)
			b.viewport(t, 1280, 800, 1, false)
		}

		b.do(t, chromedp.Click(chromedp.CSS(`form.logout button`)), chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/login"] #token`)))
		if n := h.Sessions().Len(); n != 0 {
			t.Errorf("%d sessions after sign-out, want 0", n)
		}
		b.do(t, chromedp.Navigate(srv.URL+"/admin"), chromedp.WaitVisible(chromedp.CSS(`form[action="/admin/login"] #token`)))
		if n := eval[int](t, b, `document.querySelectorAll(".diagnosis").length`); n != 0 {
			t.Error("the operator page still shows after sign-out")
		}
	})

	t.Run("no console errors or CSP violations", func(t *testing.T) {
		for _, m := range b.messages() {
			t.Errorf("console: %s", m)
		}
	})
}

// checkCards compares every card's fingerprints with those of the PEM its
// download link serves, and the DER link with the same certificate.
func checkCards(t *testing.T, b *browserSession, base string, want int) {
	t.Helper()
	type shown struct{ SHA1, SHA256, PEM, DER string }
	cards := eval[[]shown](t, b, `Array.from(document.querySelectorAll("article.card")).map(c => ({
		SHA1: c.querySelector('[data-fp="sha1"]').textContent, SHA256: c.querySelector('[data-fp="sha256"]').textContent,
		PEM: c.querySelector('a[data-kind="pem"]').href, DER: c.querySelector('a[data-kind="der"]').href}))`)
	if len(cards) != want {
		t.Fatalf("%d certificate cards, want %d", len(cards), want)
	}
	for i, c := range cards {
		if !strings.HasPrefix(c.PEM, base+"/") || !strings.HasPrefix(c.DER, base+"/") {
			t.Errorf("card %d links off-site: %s %s", i, c.PEM, c.DER)
			continue
		}
		blk, _ := pem.Decode(get(t, c.PEM))
		if blk == nil || blk.Type != "CERTIFICATE" {
			t.Fatalf("card %d: %s is not a PEM certificate", i, c.PEM)
		}
		cert, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			t.Fatalf("card %d: %v", i, err)
		}
		s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
		if want := colons(s1[:]); c.SHA1 != want {
			t.Errorf("card %d SHA-1 shown %s, served PEM has %s", i, c.SHA1, want)
		}
		if want := colons(s256[:]); c.SHA256 != want {
			t.Errorf("card %d SHA-256 shown %s, served PEM has %s", i, c.SHA256, want)
		}
		if der := get(t, c.DER); !bytes.Equal(der, cert.Raw) {
			t.Errorf("card %d: DER download differs from the PEM's certificate", i)
		}
	}
}

// checkDownloads clicks every download link in the browser and compares
// the file Chromium saved with what the server serves.
func checkDownloads(t *testing.T, b *browserSession, base string) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(b.ctx, 60*time.Second)
	defer cancel()
	events := true
	if _, err := chromedp.CallBrowser(ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: &events}); err != nil {
		t.Fatal(err)
	}
	links := eval[[]string](t, b, `Array.from(document.querySelectorAll("a[download]")).map(a => a.href)`)
	if len(links) < 2 {
		t.Fatalf("%d download links", len(links))
	}
	for i, link := range links {
		progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
		eval[bool](t, b, fmt.Sprintf(`document.querySelectorAll("a[download]")[%d].click(), true`, i))
		var guid string
		for ev, err := range progress {
			if err != nil {
				t.Fatalf("download %s: %v", link, err)
			}
			if ev.State == browser.DownloadProgressStateCompleted {
				guid = ev.GUID
				break
			}
			if ev.State == browser.DownloadProgressStateCanceled {
				t.Fatalf("download %s canceled", link)
			}
		}
		got, err := os.ReadFile(filepath.Join(dir, guid))
		if err != nil {
			t.Fatal(err)
		}
		if want := get(t, link); !bytes.Equal(got, want) {
			t.Errorf("the browser saved %d bytes from %s, the server serves %d different bytes", len(got), link, len(want))
		}
	}
}

func checkSessionCookie(t *testing.T, b *browserSession, base string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.Call(ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{base + "/admin"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Cookies {
		if c.Name != CookieSession {
			continue
		}
		if !c.HTTPOnly || c.SameSite != network.CookieSameSiteStrict || c.Path != "/admin" || c.Secure {
			t.Errorf("session cookie HttpOnly=%v SameSite=%v Path=%q Secure=%v, want true Strict /admin false (plain HTTP)", c.HTTPOnly, c.SameSite, c.Path, c.Secure)
		}
		if ttl := time.Until(time.Unix(int64(c.Expires), 0)); ttl < 11*time.Hour || ttl > 13*time.Hour {
			t.Errorf("session cookie lives %v, want 12h", ttl)
		}
		return
	}
	t.Errorf("no %s cookie after sign-in", CookieSession)
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return body
}

// colons formats b as IdP consoles do, independently of the code under test.
func colons(b []byte) string { return strings.ReplaceAll(fmt.Sprintf("% X", b), " ", ":") }

func anyContains(list []string, s string) bool {
	for _, m := range list {
		if strings.Contains(m, s) {
			return true
		}
	}
	return false
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met within 10s")
}
