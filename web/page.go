package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/hex"
	"html/template"
	"net/http"
	"strconv"
	"time"

	"github.com/samlkeyd/samlkeyd/metadata"
)

//go:embed templates/*.html static/style.css static/copy.js
var assets embed.FS

// style and script are the page's one inline <style> and one inline
// <script>; csp allows exactly those two by their SHA-256 hashes and
// nothing else (no other origin, no inline attributes, no framing).
var (
	style  = mustAsset("static/style.css")
	script = mustAsset("static/copy.js")
	csp    = "default-src 'none'; style-src " + hashSource(style) +
		"; script-src " + hashSource(script) +
		"; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)

func mustAsset(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic("web: embedded asset " + name + ": " + err.Error())
	}
	return string(b)
}

func hashSource(s string) string {
	sum := sha256.Sum256([]byte(s))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}

// CSP returns the Content-Security-Policy every page is served with.
func CSP() string { return csp }

// Header values every web response carries, shared read-only by all of
// them (middleware may replace a header but must not write into these
// slices).
var (
	hdrCSP         = []string{csp}
	hdrHTML        = []string{"text/html; charset=utf-8"}
	hdrNosniff     = []string{"nosniff"}
	hdrNoReferrer  = []string{"no-referrer"}
	hdrNoStore     = []string{"no-store"}
	hdrVaryCookie  = []string{"Cookie"}
	hdrSameOrigin  = []string{"same-origin"}
	hdrPublicCache = []string{"no-cache"}
	hdrAdminCache  = []string{"private, no-cache"}
)

// Page is one rendered page: its bytes, its strong ETag and every header,
// computed once. Render it once per snapshot (Cache does) and serve it to
// every request; ServeHTTP answers If-None-Match with 304.
type Page struct {
	// head and tail are the body around the hole a per-session value
	// (the sign-out form's CSRF token) goes in; tail is nil without one.
	head, tail []byte
	etag       string

	etagHdr      []string
	length       []string
	cacheControl []string
	vary         []string

	// StaleAt is when the page's relative text ("expires in N days",
	// threshold colours) changes: render it again from then on.
	StaleAt time.Time
}

// ETag returns the page's strong entity tag, quoted.
func (p *Page) ETag() string { return p.etag }

// Body returns a copy of the page's bytes (with an empty hole).
func (p *Page) Body() []byte { return append(append([]byte(nil), p.head...), p.tail...) }

func newPage(body []byte, hole string, cacheControl []string, staleAt time.Time) *Page {
	p := &Page{head: body, cacheControl: cacheControl, StaleAt: staleAt}
	if hole != "" {
		i := bytes.Index(body, []byte(hole))
		p.head, p.tail = body[:i], body[i+len(hole):]
		p.vary = hdrVaryCookie
	}
	sum := sha256.New()
	sum.Write(p.head)
	sum.Write(p.tail)
	p.etag = `"` + hex.EncodeToString(sum.Sum(nil)[:16]) + `"`
	p.etagHdr = []string{p.etag}
	p.length = []string{strconv.Itoa(len(p.head) + len(p.tail))}
	return p
}

// ServeHTTP writes the page (GET, HEAD) or 304 when If-None-Match holds
// its ETag. A page with a hole is written with the hole empty: the
// Handler fills it per session instead.
func (p *Page) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.serve(w, r, "", "")
}

// serve writes the page with fill in its hole; tag (a short hash of fill)
// is appended to the ETag so each session's body has its own tag.
func (p *Page) serve(w http.ResponseWriter, r *http.Request, fill, tag string) {
	hdr := w.Header()
	securityHeaders(hdr)
	hdr["Cache-Control"] = p.cacheControl
	if p.vary != nil {
		hdr["Vary"] = p.vary
	}
	etag, etagHdr, length := p.etag, p.etagHdr, p.length
	if p.tail != nil && fill != "" {
		etag = p.etag[:len(p.etag)-1] + "-" + tag + `"`
		etagHdr = []string{etag}
		length = []string{strconv.Itoa(len(p.head) + len(fill) + len(p.tail))}
	}
	hdr["Etag"] = etagHdr
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && metadata.ETagMatch(inm, etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr["Content-Type"] = hdrHTML
	hdr["Content-Length"] = length
	if r.Method == http.MethodHead {
		return
	}
	// A write error means the client went away; there is no one to tell.
	_, _ = w.Write(p.head)
	if p.tail != nil {
		_, _ = w.Write([]byte(fill))
		_, _ = w.Write(p.tail)
	}
}

// securityHeaders sets the headers every web response carries.
func securityHeaders(hdr http.Header) {
	hdr["Content-Security-Policy"] = hdrCSP
	hdr["X-Content-Type-Options"] = hdrNosniff
	hdr["Referrer-Policy"] = hdrNoReferrer
	hdr["Cross-Origin-Opener-Policy"] = hdrSameOrigin
}

// parse parses the layout with one page template.
func parse(page string) *template.Template {
	return template.Must(template.New("layout.html").Funcs(funcs).ParseFS(assets, "templates/layout.html", "templates/"+page))
}
