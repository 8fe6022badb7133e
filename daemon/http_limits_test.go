package daemon

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/sp"
)

// TestBodyCapFitsResponseCap: the API's body cap lets through a
// SAMLResponse as large as sp accepts — it is refused by sp, as malformed,
// not by the body cap — even at sp's cap with CRLF line breaks and "/"
// escaped in the JSON, and refuses a body past the cap with 413.
func TestBodyCapFitsResponseCap(t *testing.T) {
	st := openStore(t)
	newTestIdP(t, st)
	cfg := testConfig()
	cfg.IdPs[0].SigningCerts = []string{"Corp IdP signing"}
	h := newDaemon(t, cfg, st).Handler()
	body := func(resp string) string {
		b, _ := json.Marshal(map[string]string{"idp": "corp", "saml_response": resp, "request_id": "_req1"})
		return string(b)
	}
	// base64 of random bytes, CRLF every 76 characters (as IdPs post it),
	// exactly sp's cap long.
	raw := make([]byte, sp.MaxResponseBase64)
	_, _ = rand.Read(raw)
	var lines strings.Builder
	for b64 := base64.StdEncoding.EncodeToString(raw); lines.Len() < sp.MaxResponseBase64; b64 = b64[76:] {
		lines.WriteString(b64[:76] + "\r\n")
	}
	atCap := lines.String()[:sp.MaxResponseBase64]
	for _, tc := range []struct {
		name, body string
		code       int
		kind       string
	}{
		{"1.9 MiB of base64", body(strings.Repeat("QUFB", 19<<20/40)), http.StatusUnprocessableEntity, sp.CheckMalformed},
		{"sp's cap, CRLF and \\/ escaped", strings.ReplaceAll(body(atCap), "/", `\/`), http.StatusUnprocessableEntity, sp.CheckMalformed},
		{"past the body cap", body(strings.Repeat("A", maxBody)), http.StatusRequestEntityTooLarge, "bad_request"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := postJSON(t, h, "/api/v1/responses", testToken, tc.body)
			var e apiError
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != tc.code || e.Error != tc.kind {
				t.Fatalf("%d bytes: %d %q, want %d %q (%s)", len(tc.body), w.Code, e.Error, tc.code, tc.kind, e.Detail)
			}
		})
	}
}

// TestNosniff: JSON errors, API answers and public files all carry
// X-Content-Type-Options: nosniff, and so does writeError called outside
// the middleware.
func TestNosniff(t *testing.T) {
	d := newDaemon(t, testConfig(), openStore(t))
	h := d.Handler()
	for _, tc := range []struct {
		what string
		w    *httptest.ResponseRecorder
		code int
	}{
		{"no token", postJSON(t, h, "/api/v1/responses", "", "{}"), http.StatusUnauthorized},
		{"no such API route", get(t, h, "/api/v1/nope"), http.StatusNotFound},
		{"body too large", postJSON(t, h, "/api/v1/responses", testToken, strings.Repeat(" ", maxBody+1)+"{}"), http.StatusRequestEntityTooLarge},
		{"bad JSON", postJSON(t, h, "/api/v1/responses", testToken, "{"), http.StatusBadRequest},
		{"metadata", get(t, h, "/saml/metadata"), http.StatusOK},
		{"healthz", get(t, h, "/healthz"), http.StatusOK},
	} {
		if tc.w.Code != tc.code {
			t.Errorf("%s: %d, want %d", tc.what, tc.w.Code, tc.code)
		}
		if got := tc.w.Header().Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options %q, want nosniff", tc.what, got)
		}
	}
	w := httptest.NewRecorder()
	writeError(w, http.StatusBadRequest, "bad_request", "x")
	if w.Header().Get("X-Content-Type-Options") != "nosniff" || w.Header().Get("Content-Type") != "application/json" {
		t.Errorf("writeError alone: headers %v", w.Header())
	}
}
