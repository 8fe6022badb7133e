package metadata

import (
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/crewjam/saml"

	"github.com/samlkeyd/samlkeyd/keys"
)

// benchHandlers returns the three handlers the metadata benchmark compares,
// each behind its own ServeMux on the same route so routing costs the same:
//
//   - precomputed: this package's Handler serving a Published;
//   - bare: a handler writing the same byte slice with only a Content-Type;
//   - bare-headers: the same, also setting the ETag, Cache-Control and
//     Content-Length values the precomputed handler sends (so the
//     difference to it is the handler's own work, not the header count);
//   - crewjam: what crewjam/saml's samlsp.Middleware.ServeMetadata does on
//     every request (sp.Metadata() + xml.MarshalIndent), with the same key,
//     certificate, entity id and endpoints.
func benchHandlers(b testing.TB) map[string]http.Handler {
	cred := loadCred(b, "rsa-signing", keys.UseSigning, keys.RoleCurrent)
	enc := *cred
	enc.Use = keys.UseEncryption
	in := testInput(b)
	in.SP.Organization, in.SP.Contacts = nil, nil
	in.Keys = &keys.KeySet{Signing: []*keys.Credential{cred}, Encryption: []*keys.Credential{&enc}}
	p := mustBuild(b, in)
	body := p.Metadata()

	sp := &saml.ServiceProvider{
		EntityID:              in.SP.EntityID,
		Key:                   cred.Signer,
		Certificate:           cred.Leaf(),
		MetadataURL:           mustURL(b, in.SP.EntityID),
		AcsURL:                mustURL(b, in.SP.ACS[0].Location),
		SloURL:                mustURL(b, in.SP.SLO[0].Location),
		AuthnNameIDFormat:     saml.EmailAddressNameIDFormat,
		MetadataValidDuration: 48 * time.Hour,
	}
	crewjam := func(w http.ResponseWriter, _ *http.Request) {
		buf, _ := xml.MarshalIndent(sp.Metadata(), "", "  ")
		w.Header().Set("Content-Type", "application/samlmetadata+xml")
		if _, err := w.Write(buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	}
	bare := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", ContentType)
		_, _ = w.Write(body)
	}
	cacheControl := "public, max-age=" + strconv.Itoa(int(p.CacheMaxAge().Seconds()))
	length := strconv.Itoa(len(body))
	bareHeaders := func(w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("Content-Type", ContentType)
		h.Set("ETag", p.ETag())
		h.Set("Cache-Control", cacheControl)
		h.Set("Content-Length", length)
		_, _ = w.Write(body)
	}
	out := map[string]http.Handler{}
	for name, f := range map[string]http.HandlerFunc{"bare": bare, "bare-headers": bareHeaders, "crewjam": crewjam} {
		mux := http.NewServeMux()
		mux.Handle("GET "+PathMetadata, f)
		out[name] = mux
	}
	mux := http.NewServeMux()
	NewHandler(fixedSource{p}, nil).Register(mux)
	out["precomputed"] = mux
	return out
}

func mustURL(b testing.TB, s string) url.URL {
	u, err := url.Parse(s)
	if err != nil {
		b.Fatal(err)
	}
	return *u
}

// discardWriter is a minimal ResponseWriter: it keeps the headers and the
// status and drops the body, so the benchmark measures the handler.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }

// BenchmarkMetadata compares the precomputed handler with the bare and the
// per-request (crewjam) ones, with httptest.NewRecorder and with a minimal
// writer. Targets: precomputed ≥ 20× crewjam, ≥ 0.9× bare (ns/op ratios).
func BenchmarkMetadata(b *testing.B) {
	handlers := benchHandlers(b)
	req := httptest.NewRequest(http.MethodGet, PathMetadata, nil)
	for _, name := range []string{"precomputed", "bare", "bare-headers", "crewjam"} {
		h := handlers[name]
		b.Run("recorder/"+name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("code %d", rec.Code)
				}
			}
		})
		b.Run("discard/"+name, func(b *testing.B) {
			b.ReportAllocs()
			w := &discardWriter{h: http.Header{}}
			for b.Loop() {
				clear(w.h)
				w.code, w.n = 0, 0
				h.ServeHTTP(w, req)
				if w.n == 0 {
					b.Fatal("no body")
				}
			}
		})
	}
}

// BenchmarkBuild is what one snapshot rendering costs.
func BenchmarkBuild(b *testing.B) {
	for _, signed := range []bool{false, true} {
		in := testInput(b)
		in.SP.Metadata.Signed = signed
		b.Run(map[bool]string{false: "unsigned", true: "signed-rsa"}[signed], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Build(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
