package daemon

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/samlkeyd/samlkeyd/metadata"
	"github.com/samlkeyd/samlkeyd/sp"
)

// maxBody caps every API request body: a SAMLResponse of the size sp
// accepts (sp.MaxResponseBase64) with room for the JSON around it, even
// from a client that escapes "/" as "\/" and keeps the base64's CRLF line
// breaks (each escaped in JSON: ~4% more).
const maxBody = sp.MaxResponseBase64 + 256<<10

// Handler returns the daemon's HTTP surface: the public metadata and
// certificate routes, health, metrics, and the authenticated API. Each
// request is served from the one snapshot instrument loads for it.
func (d *Daemon) Handler() http.Handler {
	mux := http.NewServeMux()
	route := mux.Handle
	// The patterns metadata.Handler.Register lists, served by the request
	// snapshot's own handler.
	files := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { d.requestSnapshot(r).serveFiles(w, r) })
	for _, p := range []string{metadata.PathMetadata, metadata.PathCerts, metadata.PathCerts + "/{file}"} {
		route("GET "+p, files)
	}
	route("GET /healthz", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	}))
	route("GET /readyz", http.HandlerFunc(d.readyz))
	if d.opts.MetricsListener == nil { // else only the metrics listener serves it
		route("GET /metrics", d.metricsHandler())
	}
	for _, a := range append(d.apiRoutes(), d.logoutRoutes()...) {
		route(a.pattern, d.requireScope(a.scope, a.h))
	}
	d.webHandler().Register(mux) // GET /, /admin; POST /admin/login, /admin/logout
	route("/api/", http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "no such API route")
	}))
	return d.instrument(mux)
}

// readiness is the body of /readyz.
type readiness struct {
	Ready      bool              `json:"ready"`
	Components []ComponentStatus `json:"components"`
}

// readyz answers 200 once a core serves (503 before), with every
// component's state: a failed IdP or check does not make the daemon
// unready, it is listed with its reason.
func (d *Daemon) readyz(w http.ResponseWriter, r *http.Request) {
	body := readiness{Ready: d.requestSnapshot(r) != nil, Components: d.components.list()}
	code := http.StatusOK
	if !body.Ready {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, body)
}

// snapshotKey is the request-context key of the request's snapshot.
type snapshotKey struct{}

// requestSnapshot returns the snapshot instrument loaded for r (nil before
// the first snapshot); a handler called without instrument loads its own.
func (d *Daemon) requestSnapshot(r *http.Request) *Snapshot {
	if s, ok := r.Context().Value(snapshotKey{}).(*Snapshot); ok {
		return s
	}
	return d.snap.Load()
}

// instrument loads the one snapshot a request is served from and puts it in
// the request's context, then counts the request by the mux pattern that
// served it (the mux sets r.Pattern while routing) and status code.
func (d *Daemon) instrument(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		snap := d.snap.Load()
		if d.loaded != nil {
			d.loaded(snap)
		}
		r = r.WithContext(context.WithValue(r.Context(), snapshotKey{}, snap))
		w.Header().Set("X-Content-Type-Options", "nosniff")
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		mux.ServeHTTP(sw, r)
		route := r.Pattern
		if route == "GET "+metadata.PathMetadata {
			d.noteFetch(r, snap, sw.code)
		}
		if route == "" {
			route = "unmatched"
		}
		d.metrics.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
	})
}

type statusWriter struct {
	http.ResponseWriter
	code        int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// apiError is the JSON body of every API error.
type apiError struct {
	Error  string `json:"error"`
	Detail string `json:"detail,omitempty"`
}

func writeError(w http.ResponseWriter, code int, kind, detail string) {
	writeJSON(w, code, apiError{Error: kind, Detail: detail})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the status is sent; a failed write means the client went away
}

// decodeJSON reads one JSON object into v: the body capped at maxBody, no
// unknown fields, nothing after the object.
func decodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		code := http.StatusBadRequest
		if _, ok := err.(*http.MaxBytesError); ok {
			code = http.StatusRequestEntityTooLarge
		}
		writeError(w, code, "bad_request", "request body: "+err.Error())
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "bad_request", "request body: more than one JSON value")
		return false
	}
	return true
}
