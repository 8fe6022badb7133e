package idpmeta

import (
	"bytes"
	"errors"
	"os"
	"testing"
	"time"
)

var testNow = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

func TestVerifyAggregateXMLSec(t *testing.T) {
	keys := testKeys(t)
	path := signedAggregate(t, genOptions{Entities: 20, ValidUntil: "2027-01-01T00:00:00Z"}, false)
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
	if !a.ValidUntil.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) || a.CacheDuration != 6*time.Hour {
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
