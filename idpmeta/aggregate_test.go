package idpmeta

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/samlkeyd/samlkeyd/keys/fips"
	"github.com/samlkeyd/samlkeyd/sp"
)

var testNow = time.Date(2027, 6, 1, 12, 0, 0, 0, time.UTC) // inside the validity of testdata's certificates

func TestVerifyAggregateXMLSec(t *testing.T) {
	keys := testKeys(t)
	path := signedAggregate(t, genOptions{Entities: 20, ValidUntil: "2028-01-01T00:00:00Z"}, false)
	if err := xmlsecVerify(t, path, keys[0], "urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor"); err != nil {
		t.Fatal(err)
	}
	a, err := VerifyAggregateFile(path, VerifyOptions{Source: "fed", Signer: keys[0].cert, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 16 || a.Skipped != 4 {
		t.Errorf("indexed %d, skipped %d; want 16 IdPs, 4 SPs skipped", a.Len(), a.Skipped)
	}
	e := a.Lookup("https://idp00001.uni1.example.edu/idp/shibboleth")
	if e == nil {
		t.Fatalf("entity 1 not indexed; have %q", a.EntityIDs())
	}
	if e.RegistrationAuthority != "https://fed1.example.org" || len(e.EntityCategories) != 1 || e.EntityCategories[0] != "https://refeds.org/category/personalized" {
		t.Errorf("entity 1 = %+v", e)
	}
	if len(e.SSO) != 3 || len(e.SLO) != 2 || e.SLO[1].ResponseLocation == "" {
		t.Errorf("entity 1 endpoints = %+v %+v", e.SSO, e.SLO)
	}
	certs, err := e.SigningCerts()
	if err != nil || len(certs) != 2 || !certs[0].Equal(keys[2].cert) || !certs[1].Equal(keys[3].cert) {
		t.Errorf("signing certs = %v, %v", certs, err)
	}
	if !a.ValidUntil.Equal(time.Date(2028, 1, 1, 0, 0, 0, 0, time.UTC)) || a.CacheDuration != 6*time.Hour {
		t.Errorf("validUntil %v cacheDuration %v", a.ValidUntil, a.CacheDuration)
	}
	// the wrong signer, an expired document
	if _, err := VerifyAggregateFile(path, VerifyOptions{Signer: keys[1].cert, Now: testNow}); !errors.Is(err, ErrSignature) {
		t.Errorf("wrong signer: %v", err)
	}
	if _, err := VerifyAggregateFile(path, VerifyOptions{Signer: keys[0].cert, Now: testNow.AddDate(1, 0, 0)}); !errors.Is(err, ErrExpired) {
		t.Errorf("expired: %v", err)
	}
	data, _ := os.ReadFile(path)
	if !bytes.Contains(data, []byte("DigestValue>")) {
		t.Fatal("no DigestValue")
	}
}

func TestVerifyAggregateGoxmldsig(t *testing.T) {
	keys := testKeys(t)
	doc := signGo(t, smallAggregate(t, 10, ""), keys[0], false)
	a, err := VerifyAggregateBytes(doc, VerifyOptions{Signer: keys[0].cert, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != 8 {
		t.Errorf("indexed %d, want 8", a.Len())
	}
	// goxmldsig's own position for the signature, the last child, is not
	// where SAML metadata has it: refused rather than searched for
	last := signGo(t, smallAggregate(t, 2, ""), keys[0], true)
	if _, err := VerifyAggregateBytes(last, VerifyOptions{Signer: keys[0].cert, Now: testNow}); !errors.Is(err, ErrSignature) {
		t.Errorf("signature last: %v", err)
	}
	// unsigned
	if _, err := VerifyAggregateBytes(smallAggregate(t, 2, ""), VerifyOptions{Signer: keys[0].cert, Now: testNow}); !errors.Is(err, ErrSignature) {
		t.Errorf("unsigned: %v", err)
	}
	if _, err := VerifyAggregateBytes(doc, VerifyOptions{Now: testNow}); err == nil {
		t.Error("no signer configured: accepted")
	}
}

// TestVerifyAggregateTamper flips one byte at a time over an
// xmlsec1-signed aggregate, past its XML declaration: every change is
// refused, whether by the parser, the digest or the signature, except a
// change the signature does not cover: exclusive c14n drops a namespace
// declaration nothing uses (the root's xmlns:xsi here), so a changed one
// verifies, with a canonical form identical to the original's.
func TestVerifyAggregateTamper(t *testing.T) {
	keys := testKeys(t)
	path := signedAggregate(t, genOptions{Entities: 1}, false)
	doc, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	o := VerifyOptions{Signer: keys[0].cert, Now: testNow}
	if _, err := VerifyAggregateBytes(doc, o); err != nil {
		t.Fatal(err)
	}
	start := bytes.Index(doc, []byte("<md:EntitiesDescriptor"))
	stride := 5 // with two flips per byte: ~4,500 documents (~1 s, a minute under -race)
	if testing.Short() {
		stride = 17
	}
	tried, uncovered := 0, 0
	canon := ours(t, doc, nil)
	for i := start; i < len(doc); i += stride {
		for _, flip := range []byte{0x01, 0x20} {
			bad := bytes.Clone(doc)
			bad[i] ^= flip
			if _, err := VerifyAggregateBytes(bad, o); err == nil {
				if !bytes.Equal(ours(t, bad, nil), canon) {
					t.Fatalf("byte %d %q→%q accepted: …%s…", i, doc[i], bad[i], bad[max(0, i-40):min(len(bad), i+40)])
				}
				uncovered++
			}
			tried++
		}
	}
	if max := 2 * len(`"http://www.w3.org/2001/XMLSchema-instance"`); uncovered > max {
		t.Errorf("%d changes accepted, want at most %d (in the unused xmlns:xsi)", uncovered, max)
	}
	t.Logf("%d tampered documents: %d refused, %d accepted with the signed canonical form unchanged", tried, tried-uncovered, uncovered)
}

func TestVerifyAggregateRefuses(t *testing.T) {
	keys := testKeys(t)
	sha1 := signedAggregate(t, genOptions{Entities: 2, SigMethod: "http://www.w3.org/2000/09/xmldsig#rsa-sha1", Digest: "http://www.w3.org/2000/09/xmldsig#sha1"}, false)
	data, _ := os.ReadFile(sha1)
	if _, err := VerifyAggregateBytes(data, VerifyOptions{Signer: keys[0].cert, Now: testNow}); !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "SHA-1") {
		t.Errorf("sha1: %v", err)
	}
	_, err := VerifyAggregateBytes(data, VerifyOptions{Signer: keys[0].cert, Now: testNow, AllowSHA1: true})
	if fips.Enabled() {
		if !errors.Is(err, fips.ErrRefused) || !errors.Is(err, ErrSignature) || !strings.Contains(err.Error(), "rsa-sha1 (http://www.w3.org/2000/09/xmldsig#rsa-sha1) is refused in FIPS 140-3 mode") {
			t.Errorf("sha1 allowed, in FIPS 140-3 mode: %v, want the refusal", err)
		}
	} else if err != nil {
		t.Errorf("sha1 allowed: %v", err)
	}
	// a signature over another element than the root
	signedInner := signGo(t, []byte(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="inner" entityID="https://x/"/>`), keys[0], false)
	sigStart := bytes.Index(signedInner, []byte("<ds:Signature"))
	sigEnd := bytes.Index(signedInner, []byte("</ds:Signature>")) + len("</ds:Signature>")
	wrapped := fmt.Appendf(nil, `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" ID="outer">%s<md:EntityDescriptor entityID="https://evil/"/></md:EntitiesDescriptor>`, signedInner[sigStart:sigEnd])
	if _, err := VerifyAggregateBytes(wrapped, VerifyOptions{Signer: keys[0].cert, Now: testNow}); !errors.Is(err, ErrSignature) {
		t.Errorf("signature of another element: %v", err)
	}
	// limits apply in the same pass
	doc := signGo(t, smallAggregate(t, 3, ""), keys[0], false)
	var se *sp.StructureError
	if _, err := VerifyAggregateBytes(doc, VerifyOptions{Signer: keys[0].cert, Now: testNow, Limits: sp.Limits{MaxElements: 100}}); !errors.As(err, &se) || se.Limit != "max_elements" {
		t.Errorf("max_elements 100: %v", err)
	}
}

func TestVerifyAggregateFilter(t *testing.T) {
	keys := testKeys(t)
	doc := signGo(t, smallAggregate(t, 10, ""), keys[0], false)
	for name, tc := range map[string]struct {
		f    Filter
		want int
	}{
		"none":      {Filter{}, 8},
		"entity":    {Filter{EntityIDs: []string{"https://idp00002.uni2.example.edu/idp/shibboleth", "https://idp00004.uni4.example.edu/sp"}}, 1},
		"authority": {Filter{RegistrationAuthority: []string{"https://fed0.example.org"}}, 3},
		"category":  {Filter{EntityCategory: []string{"http://refeds.org/category/research-and-scholarship"}}, 4},
		"both":      {Filter{RegistrationAuthority: []string{"https://fed0.example.org"}, EntityCategory: []string{"https://refeds.org/category/personalized"}}, 1},
	} {
		a, err := VerifyAggregateBytes(doc, VerifyOptions{Signer: keys[0].cert, Now: testNow, Filter: tc.f})
		if err != nil {
			t.Fatal(err)
		}
		if a.Len() != tc.want {
			t.Errorf("%s: %d entities %q, want %d", name, a.Len(), a.EntityIDs(), tc.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	for in, want := range map[string]time.Duration{
		"PT6H": 6 * time.Hour, "P1D": 24 * time.Hour, "P1DT12H30M0.5S": 36*time.Hour + 30*time.Minute + 500*time.Millisecond,
		"PT90S": 90 * time.Second, "P1M": 30 * 24 * time.Hour, "P1Y": 365 * 24 * time.Hour,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "P", "PT", "6H", "-PT6H", "P1H", "PT1D", "P1.5D", "PT1H1H", "P1DT"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
