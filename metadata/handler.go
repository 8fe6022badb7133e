package metadata

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Source hands the handlers the current rendering. Published returns nil
// before the first snapshot is built; the handlers then answer 503.
// Implementations MUST be safe for concurrent use (an atomic.Pointer load).
type Source interface {
	Published() *Published
}

// asset is one precomputed response: the body and every header value,
// already in the []string form http.Header holds, so serving it allocates
// nothing for headers. The slices are shared by every response that
// serves the asset: middleware may replace a header (Set, Del, Add all
// allocate anew) but must never write into a value slice in place.
type asset struct {
	body []byte
	etag string

	contentType  []string
	etagHdr      []string
	cacheControl []string
	length       []string
	disposition  []string
}

func newAsset(body []byte, contentType, filename string, maxAge time.Duration) *asset {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	return &asset{
		body:         body,
		etag:         etag,
		contentType:  []string{contentType},
		etagHdr:      []string{etag},
		cacheControl: []string{"public, max-age=" + strconv.FormatInt(int64(maxAge/time.Second), 10)},
		length:       []string{strconv.Itoa(len(body))},
		disposition:  []string{`attachment; filename="` + filename + `"`},
	}
}

// Handler serves the metadata, the certificate index and the certificate
// files from one Source. It never renders: each request loads one
// *Published and writes its precomputed bytes, so metadata, PEM and ETag
// always come from the same snapshot.
type Handler struct {
	src Source
	log *slog.Logger
	mux *http.ServeMux
}

// NewHandler returns a Handler reading src. A nil log discards.
func NewHandler(src Source, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &Handler{src: src, log: log, mux: http.NewServeMux()}
	h.Register(h.mux)
	return h
}

// Register adds the handler's routes to mux:
//
//	GET /saml/metadata                 the metadata (?download=1: as an attachment)
//	GET /saml/certs                    the JSON certificate index
//	GET /saml/certs/signing.pem        every published signing certificate, current first
//	GET /saml/certs/encryption.pem     every published encryption certificate, current first
//	GET /saml/certs/signing.crt        DER of the current signing certificate
//	GET /saml/certs/encryption.crt     DER of the current encryption certificate
//	GET /saml/certs/<sha256>.pem|.crt  one certificate by its lower-case hex SHA-256
//
// GET routes also answer HEAD.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET "+PathMetadata, h.serveMetadata)
	mux.HandleFunc("GET "+PathCerts, h.serveIndex)
	mux.HandleFunc("GET "+PathCerts+"/{file}", h.serveFile)
}

// ServeHTTP serves the routes Register lists; anything else is 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) { h.mux.ServeHTTP(w, r) }

func (h *Handler) serveMetadata(w http.ResponseWriter, r *http.Request) {
	p := h.src.Published()
	if p == nil {
		h.unavailable(w, r)
		return
	}
	h.serve(w, r, &p.metadata)
}

func (h *Handler) serveIndex(w http.ResponseWriter, r *http.Request) {
	p := h.src.Published()
	if p == nil {
		h.unavailable(w, r)
		return
	}
	h.serve(w, r, &p.index)
}

func (h *Handler) serveFile(w http.ResponseWriter, r *http.Request) {
	p := h.src.Published()
	if p == nil {
		h.unavailable(w, r)
		return
	}
	a := p.files[r.PathValue("file")]
	if a == nil {
		hdr := w.Header()
		hdr["Content-Type"] = []string{"text/plain; charset=utf-8"}
		hdr["Cache-Control"] = []string{"no-store"}
		w.WriteHeader(http.StatusNotFound)
		h.write(w, r, []byte("no such certificate: see "+PathCerts+"\n"))
		return
	}
	h.serve(w, r, a)
}

func (h *Handler) unavailable(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	hdr["Content-Type"] = []string{"text/plain; charset=utf-8"}
	hdr["Cache-Control"] = []string{"no-store"}
	hdr["Retry-After"] = []string{"5"}
	w.WriteHeader(http.StatusServiceUnavailable)
	h.write(w, r, []byte("metadata is not loaded yet\n"))
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, a *asset) {
	hdr := w.Header()
	hdr["Etag"] = a.etagHdr
	hdr["Cache-Control"] = a.cacheControl
	if inm := r.Header["If-None-Match"]; len(inm) > 0 && ETagMatch(inm, a.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	hdr["Content-Type"] = a.contentType
	hdr["Content-Length"] = a.length
	if r.URL.RawQuery != "" && wantsDownload(r.URL.RawQuery) {
		hdr["Content-Disposition"] = a.disposition
	}
	if r.Method == http.MethodHead {
		return
	}
	h.write(w, r, a.body)
}

func (h *Handler) write(w http.ResponseWriter, r *http.Request, b []byte) {
	if _, err := w.Write(b); err != nil {
		// The client went away mid-body; nothing to tell it.
		h.log.Debug("write response", "path", r.URL.Path, "err", err)
	}
}

func wantsDownload(rawQuery string) bool {
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return false
	}
	v := q.Get("download")
	return v == "1" || v == "true"
}

// ETagMatch reports whether an If-None-Match header (RFC 9110 §13.1.2,
// weak comparison) matches etag: "*", or any listed tag with or without W/.
func ETagMatch(headers []string, etag string) bool {
	for _, h := range headers {
		for h != "" {
			h = strings.TrimLeft(h, " \t,")
			if h == "" {
				break
			}
			if h[0] == '*' {
				return true
			}
			h = strings.TrimPrefix(h, "W/")
			if h == "" || h[0] != '"' {
				// Not an entity tag: skip to the next list element.
				i := strings.IndexByte(h, ',')
				if i < 0 {
					break
				}
				h = h[i+1:]
				continue
			}
			end := strings.IndexByte(h[1:], '"')
			if end < 0 {
				break
			}
			if h[:end+2] == etag {
				return true
			}
			h = h[end+2:]
		}
	}
	return false
}
