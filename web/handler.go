package web

import (
	"bytes"
	"crypto/subtle"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// URL paths the Handler serves.
const (
	PathPublic = "/"
	PathAdmin  = "/admin"
	PathLogin  = "/admin/login"
	PathLogout = "/admin/logout"
)

// Cookie names. Both are scoped to Path=/admin, HttpOnly, SameSite=Strict.
const (
	CookieSession = "samlkeyd_admin"
	cookieCSRF    = "samlkeyd_csrf" // the sign-in form's double-submit token
)

const maxFormBytes = 16 << 10

// Options configure a Handler.
type Options struct {
	// Public and Admin return the page of the snapshot the request is
	// served from (see Cache); nil means none is loaded yet and the route
	// answers 503.
	Public func(r *http.Request) *Page
	Admin  func(r *http.Request) *Page
	// CheckAdminToken reports whether token is a live API token with the
	// admin scope. It is called once per sign-in.
	CheckAdminToken func(token string) bool
	// Now and Rand drive session expiry and ids; nil means time.Now and
	// crypto/rand.Reader.
	Now  func() time.Time
	Rand io.Reader
	// SecureCookies marks cookies Secure even on plain-HTTP requests: set
	// it when sp.base_url is https (TLS ends at a proxy). Requests that
	// arrive over TLS always get Secure cookies.
	SecureCookies bool
	// SecureCookiesFunc, when set, is asked instead of SecureCookies each
	// time a cookie is set (the daemon's sp.base_url can change on reload).
	SecureCookiesFunc func() bool
	// Log gets sign-ins, sign-in failures and write errors; nil discards.
	Log *slog.Logger
}

// Handler serves the public page, the operator page and its sign-in.
type Handler struct {
	o        Options
	sessions *Sessions
	log      *slog.Logger
}

// NewHandler returns a Handler with a fresh session table.
func NewHandler(o Options) *Handler {
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Handler{o: o, sessions: NewSessions(o.Now, o.Rand), log: log}
}

// Sessions returns the handler's sessions (to Clear them when tokens change).
func (h *Handler) Sessions() *Sessions { return h.sessions }

// Register adds the routes to mux:
//
//	GET  /               the public page
//	GET  /admin          the operator page, or the sign-in form without a session
//	POST /admin/login    sign in with an admin token (form: csrf, token)
//	POST /admin/logout   sign out (form: csrf)
//
// GET routes also answer HEAD.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", h.servePublic)
	mux.HandleFunc("GET "+PathAdmin, h.serveAdmin)
	mux.HandleFunc("POST "+PathLogin, h.login)
	mux.HandleFunc("POST "+PathLogout, h.logout)
}

func (h *Handler) servePublic(w http.ResponseWriter, r *http.Request) {
	p := h.o.Public(r)
	if p == nil {
		unavailable(w)
		return
	}
	p.ServeHTTP(w, r)
}

func (h *Handler) serveAdmin(w http.ResponseWriter, r *http.Request) {
	s, ok := h.session(r)
	if !ok {
		h.loginForm(w, r, http.StatusOK, "")
		return
	}
	p := h.o.Admin(r)
	if p == nil {
		unavailable(w)
		return
	}
	p.serve(w, r, s.csrf, s.tag)
}

func (h *Handler) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		h.loginForm(w, r, http.StatusBadRequest, "The form could not be read. Try again.")
		return
	}
	c, err := r.Cookie(cookieCSRF)
	if err != nil || !sameToken(c.Value, r.PostForm.Get("csrf")) {
		h.log.Info("admin sign-in refused: csrf token missing or wrong", "remote", r.RemoteAddr)
		h.loginForm(w, r, http.StatusForbidden, "The sign-in form expired or your browser did not send its cookie. Allow cookies for this site and try again.")
		return
	}
	token := strings.TrimSpace(r.PostForm.Get("token"))
	if token == "" {
		h.loginForm(w, r, http.StatusBadRequest, "Enter an admin token.")
		return
	}
	if !h.o.CheckAdminToken(token) {
		h.log.Info("admin sign-in refused: not an admin token", "remote", r.RemoteAddr)
		h.loginForm(w, r, http.StatusOK, "That is not an admin token: it is unknown, expired or lacks the admin scope.")
		return
	}
	id, err := h.sessions.Create()
	if err != nil {
		h.log.Error("admin sign-in", "err", err)
		http.Error(w, "could not start a session; see the daemon log", http.StatusInternalServerError)
		return
	}
	h.log.Info("admin signed in", "remote", r.RemoteAddr)
	h.setCookie(w, r, CookieSession, id, SessionLifetime)
	h.setCookie(w, r, cookieCSRF, "", -1)
	seeOther(w)
}

func (h *Handler) logout(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "the form could not be read", http.StatusBadRequest)
		return
	}
	if s, ok := h.session(r); ok {
		if !sameToken(s.csrf, r.PostForm.Get("csrf")) {
			securityHeaders(w.Header())
			http.Error(w, "the sign-out form is stale: reload /admin and sign out again", http.StatusForbidden)
			return
		}
		c, _ := r.Cookie(CookieSession)
		h.sessions.Delete(c.Value)
		h.log.Info("admin signed out", "remote", r.RemoteAddr)
	}
	h.setCookie(w, r, CookieSession, "", -1)
	seeOther(w)
}

func (h *Handler) session(r *http.Request) (session, bool) {
	c, err := r.Cookie(CookieSession)
	if err != nil {
		return session{}, false
	}
	return h.sessions.lookup(c.Value)
}

// loginForm renders the sign-in form with a fresh double-submit token.
// msg never contains what the user typed.
func (h *Handler) loginForm(w http.ResponseWriter, r *http.Request, status int, msg string) {
	csrf, err := h.sessions.token(32)
	if err != nil {
		h.log.Error("admin sign-in form", "err", err)
		http.Error(w, "could not make the sign-in form; see the daemon log", http.StatusInternalServerError)
		return
	}
	var buf bytes.Buffer
	v := struct {
		layout
		CSRF, Error string
	}{newLayout("Sign in · samlkeyd"), csrf, msg}
	if err := loginTmpl.Execute(&buf, v); err != nil {
		h.log.Error("render sign-in form", "err", err)
		http.Error(w, "could not render the sign-in form; see the daemon log", http.StatusInternalServerError)
		return
	}
	h.setCookie(w, r, cookieCSRF, csrf, time.Hour)
	hdr := w.Header()
	securityHeaders(hdr)
	hdr["Cache-Control"] = hdrNoStore
	hdr["Content-Type"] = hdrHTML
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}

func (h *Handler) setCookie(w http.ResponseWriter, r *http.Request, name, value string, maxAge time.Duration) {
	c := &http.Cookie{
		Name: name, Value: value, Path: PathAdmin,
		HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: r.TLS != nil || h.secureCookies(),
	}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge / time.Second)
	}
	http.SetCookie(w, c)
}

func (h *Handler) secureCookies() bool {
	if h.o.SecureCookiesFunc != nil {
		return h.o.SecureCookiesFunc()
	}
	return h.o.SecureCookies
}

func sameToken(a, b string) bool {
	return a != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

func seeOther(w http.ResponseWriter) {
	hdr := w.Header()
	hdr["Location"] = []string{PathAdmin}
	hdr["Cache-Control"] = hdrNoStore
	w.WriteHeader(http.StatusSeeOther)
}

func unavailable(w http.ResponseWriter) {
	hdr := w.Header()
	hdr["Content-Type"] = []string{"text/plain; charset=utf-8"}
	hdr["Cache-Control"] = hdrNoStore
	hdr["Retry-After"] = []string{"5"}
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = w.Write([]byte("the status is not loaded yet\n"))
}
