package metadata

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"

	"github.com/samlkeyd/samlkeyd/keys"
)

// fixedSource always returns one rendering (nil: none yet).
type fixedSource struct{ p *Published }

func (s fixedSource) Published() *Published { return s.p }

// atomicSource is the daemon's shape: an atomic.Pointer swapped by a writer.
type atomicSource struct{ atomic.Pointer[Published] }

func (s *atomicSource) Published() *Published { return s.Load() }

var (
	_ Source = fixedSource{}
	_ Source = (*atomicSource)(nil)
)

func get(t testing.TB, h http.Handler, target string, hdr http.Header) *httptest.ResponseRecorder {
	t.Helper()
	return do(h, http.MethodGet, target, hdr)
}

func do(h http.Handler, method, target string, hdr http.Header) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, target, nil)
	for k, v := range hdr {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

func descriptorsRoot(t *testing.T, md []byte) *etree.Element {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(md); err != nil {
		t.Fatal(err)
	}
	return doc.Root()
}

func TestHandlerNoSnapshot(t *testing.T) {
	h := NewHandler(fixedSource{nil}, nil)
	for _, path := range []string{"/saml/metadata", "/saml/certs", "/saml/certs/signing.pem", "/saml/certs/encryption.crt"} {
		t.Run(path, func(t *testing.T) {
			rec := get(t, h, path, nil)
			if rec.Code != http.StatusServiceUnavailable {
				t.Errorf("code = %d, want 503", rec.Code)
			}
			if rec.Header().Get("Cache-Control") != "no-store" || rec.Header().Get("Retry-After") == "" {
				t.Errorf("503 headers = %v", rec.Header())
			}
		})
	}
}

func TestHandler(t *testing.T) {
	p := mustBuild(t, testInput(t))
	h := NewHandler(fixedSource{p}, nil)
	etag := p.ETag()
	for _, tc := range []struct {
		name, method, target string
		hdr                  http.Header
		wantCode             int
		wantType             string
		wantBody             []byte
		wantDisposition      string
	}{
		{"metadata", "GET", "/saml/metadata", nil, 200, ContentType, p.Metadata(), ""},
		{"metadata download", "GET", "/saml/metadata?download=1", nil, 200, ContentType, p.Metadata(), `attachment; filename="sp.example.com-metadata.xml"`},
		{"download=0 is inline", "GET", "/saml/metadata?download=0", nil, 200, ContentType, p.Metadata(), ""},
		{"metadata HEAD", "HEAD", "/saml/metadata", nil, 200, ContentType, nil, ""},
		{"if-none-match", "GET", "/saml/metadata", http.Header{"If-None-Match": {etag}}, 304, "", nil, ""},
		{"if-none-match list and weak", "GET", "/saml/metadata", http.Header{"If-None-Match": {`"x", W/` + etag}}, 304, "", nil, ""},
		{"if-none-match star", "GET", "/saml/metadata", http.Header{"If-None-Match": {"*"}}, 304, "", nil, ""},
		{"if-none-match stale", "GET", "/saml/metadata", http.Header{"If-None-Match": {`"0000"`}}, 200, ContentType, p.Metadata(), ""},
		{"index", "GET", "/saml/certs", nil, 200, "application/json", p.CertsJSON(), ""},
		{"signing.pem", "GET", "/saml/certs/signing.pem", nil, 200, "application/x-pem-file", p.PEM(keys.UseSigning), ""},
		{"encryption.pem download", "GET", "/saml/certs/encryption.pem?download=true", nil, 200, "application/x-pem-file", p.PEM(keys.UseEncryption), `attachment; filename="encryption.pem"`},
		{"signing.crt", "GET", "/saml/certs/signing.crt", nil, 200, "application/pkix-cert", p.DER(keys.UseSigning), ""},
		{"encryption.crt", "GET", "/saml/certs/encryption.crt", nil, 200, "application/pkix-cert", p.DER(keys.UseEncryption), ""},
		{"unknown file", "GET", "/saml/certs/private.key", nil, 404, "text/plain; charset=utf-8", nil, ""},
		{"post not allowed", "POST", "/saml/metadata", nil, 405, "", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := do(h, tc.method, tc.target, tc.hdr)
			if rec.Code != tc.wantCode {
				t.Fatalf("code = %d, want %d", rec.Code, tc.wantCode)
			}
			hdr := rec.Header()
			if tc.wantType != "" && hdr.Get("Content-Type") != tc.wantType {
				t.Errorf("Content-Type = %q, want %q", hdr.Get("Content-Type"), tc.wantType)
			}
			if got := hdr.Get("Content-Disposition"); got != tc.wantDisposition {
				t.Errorf("Content-Disposition = %q, want %q", got, tc.wantDisposition)
			}
			if tc.wantBody != nil && !bytes.Equal(rec.Body.Bytes(), tc.wantBody) {
				t.Errorf("body differs from the rendering")
			}
			if tc.method == "HEAD" && rec.Body.Len() != 0 {
				t.Errorf("HEAD sent a body")
			}
			if tc.wantCode == 200 || tc.wantCode == 304 {
				if want := "public, max-age=" + strconv.Itoa(int(p.CacheMaxAge().Seconds())); hdr.Get("Cache-Control") != want {
					t.Errorf("Cache-Control = %q, want %q", hdr.Get("Cache-Control"), want)
				}
				if e := hdr.Get("Etag"); len(e) < 3 || e[0] != '"' || e[len(e)-1] != '"' {
					t.Errorf("ETag %q is not a strong entity tag", e)
				}
			}
			if tc.wantCode == 200 && tc.method == "GET" {
				if cl := hdr.Get("Content-Length"); cl != strconv.Itoa(rec.Body.Len()) {
					t.Errorf("Content-Length = %s, body is %d bytes", cl, rec.Body.Len())
				}
				if tc.target == "/saml/metadata" && hdr.Get("Etag") != etag {
					t.Errorf("ETag = %s, want the rendering's %s", hdr.Get("Etag"), etag)
				}
			}
			if tc.wantCode == 304 && rec.Body.Len() != 0 {
				t.Errorf("304 with a body")
			}
		})
	}
}

func TestETagChangesWithContent(t *testing.T) {
	a := mustBuild(t, testInput(t))
	in := testInput(t)
	in.Keys.Encryption = []*keys.Credential{loadCred(t, "rsa-signing-next", keys.UseEncryption, keys.RoleCurrent)}
	b := mustBuild(t, in)
	if a.ETag() == b.ETag() {
		t.Error("different metadata has the same ETag")
	}
	if a.ETag() != mustBuild(t, testInput(t)).ETag() {
		t.Error("the same input gives a different ETag")
	}
	rec := get(t, NewHandler(fixedSource{b}, nil), "/saml/metadata", http.Header{"If-None-Match": {a.ETag()}})
	if rec.Code != http.StatusOK {
		t.Errorf("stale ETag answered %d, want 200", rec.Code)
	}
}

// TestConcurrentSwap swaps renderings under concurrent readers (run it
// with -race): every response is complete, parses, and its metadata,
// ETag and PEM come from one rendering.
func TestConcurrentSwap(t *testing.T) {
	inA := testInput(t)
	inB := testInput(t)
	inB.Keys = &keys.KeySet{
		Signing:    []*keys.Credential{loadCred(t, "rsa-signing-next", keys.UseSigning, keys.RoleCurrent)},
		Encryption: []*keys.Credential{loadCred(t, "rsa-signing", keys.UseEncryption, keys.RoleCurrent)},
	}
	inB.SP.Metadata.Signed = true
	renderings := []*Published{mustBuild(t, inA), mustBuild(t, inB)}
	byETag := map[string]*Published{}
	for _, p := range renderings {
		byETag[p.ETag()] = p
	}
	var src atomicSource
	src.Store(renderings[0])
	srv := httptest.NewServer(NewHandler(&src, nil))
	defer srv.Close()

	stop := make(chan struct{})
	var swaps sync.WaitGroup
	swaps.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
				src.Store(renderings[i%2])
				runtime.Gosched()
			}
		}
	})
	var readers sync.WaitGroup
	var requests atomic.Int64
	for range 4 {
		readers.Go(func() {
			for range 50 {
				resp, err := srv.Client().Get(srv.URL + "/saml/metadata")
				if err != nil {
					t.Error(err)
					return
				}
				var body bytes.Buffer
				_, err = body.ReadFrom(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("GET: %d %v", resp.StatusCode, err)
					return
				}
				requests.Add(1)
				p := byETag[resp.Header.Get("Etag")]
				if p == nil || !bytes.Equal(body.Bytes(), p.metadata.body) {
					t.Errorf("response body does not belong to its ETag %s", resp.Header.Get("Etag"))
					return
				}
				var ed saml.EntityDescriptor
				if err := xml.Unmarshal(body.Bytes(), &ed); err != nil {
					t.Errorf("response does not parse: %v", err)
					return
				}
				if got := ed.SPSSODescriptors[0].KeyDescriptors[0].KeyInfo.X509Data.X509Certificates[0].Data; got != pemBase64(t, p.PEM(keys.UseSigning))[0] {
					t.Error("metadata signing certificate differs from its rendering's signing.pem")
				}
			}
		})
	}
	readers.Wait()
	close(stop)
	swaps.Wait()
	if requests.Load() != 200 {
		t.Errorf("%d of 200 requests succeeded", requests.Load())
	}
}

func TestETagMatch(t *testing.T) {
	const tag = `"abc"`
	for _, tc := range []struct {
		name   string
		header []string
		want   bool
	}{
		{"exact", []string{`"abc"`}, true},
		{"weak", []string{`W/"abc"`}, true},
		{"star", []string{`*`}, true},
		{"list", []string{`"x", "y" ,"abc"`}, true},
		{"second header", []string{`"x"`, `"abc"`}, true},
		{"other", []string{`"abcd"`}, false},
		{"unquoted", []string{`abc`}, false},
		{"unterminated", []string{`"abc`}, false},
		{"garbage then tag", []string{`junk, "abc"`}, true},
		{"empty", []string{``}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := ETagMatch(tc.header, tag); got != tc.want {
				t.Errorf("ETagMatch(%q) = %v, want %v", tc.header, got, tc.want)
			}
		})
	}
}
