package sp

import (
	"encoding/xml"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/crewjam/saml"
	dsig "github.com/russellhaering/goxmldsig"
)

// crewjamIdPMetadata is the metadata crewjam/saml's IdentityProvider
// publishes for the test IdP key, valid for 48 hours from when it is made.
func crewjamIdPMetadata(t testing.TB) []byte {
	t.Helper()
	key, cert := respKey(t, "idp")
	idp := &saml.IdentityProvider{Signer: key, Certificate: cert,
		MetadataURL: respURL(t, respIdPEntity), SSOURL: respURL(t, "https://idp.example.com/sso")}
	b, err := xml.Marshal(idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signMetadata signs the metadata root with testdata key name
// (exclusive c14n, reference to its ID).
func signMetadata(t testing.TB, md []byte, name string) []byte {
	t.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(md); err != nil {
		t.Fatal(err)
	}
	doc.Root().CreateAttr("ID", "_md1")
	key, cert := respKey(t, name)
	ctx, err := dsig.NewSigningContext(key, [][]byte{cert.Raw})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	out := etree.NewDocument()
	out.SetRoot(signed)
	b, err := out.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestIdPSigningCerts(t *testing.T) {
	_, idpCert := respKey(t, "idp")
	_, mdSigner := respKey(t, "other-idp")
	md := crewjamIdPMetadata(t)
	now := time.Now() // crewjam stamps validUntil from the real clock
	signed := signMetadata(t, md, "other-idp")
	for _, tt := range []struct {
		name   string
		data   []byte
		entity string
		signer bool
		now    time.Time
		want   string // error substring; "" = the IdP certificate
	}{
		{name: "crewjam metadata", data: md, entity: respIdPEntity, now: now},
		{name: "signed metadata, signer configured", data: signed, entity: respIdPEntity, signer: true, now: now},
		{name: "unsigned metadata, signer configured", data: md, entity: respIdPEntity, signer: true, now: now, want: "signature"},
		{name: "tampered signed metadata", data: []byte(strings.Replace(string(signed), "https://idp.example.com/sso", "https://evil.example.com/sso", 1)),
			entity: respIdPEntity, signer: true, now: now, want: "signature"},
		{name: "other entity id", data: md, entity: "https://other.example.com", now: now, want: "no EntityDescriptor"},
		{name: "expired", data: md, entity: respIdPEntity, now: now.Add(72 * time.Hour), want: "expired"},
		{name: "entities descriptor", data: []byte(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` +
			string(md) + `</md:EntitiesDescriptor>`),
			entity: respIdPEntity, now: now},
		{name: "doctype", data: []byte(`<!DOCTYPE x [<!ENTITY a "b">]><x/>`), entity: respIdPEntity, now: now, want: "DOCTYPE"},
		{name: "not metadata", data: []byte(`<x/>`), entity: respIdPEntity, now: now, want: "want md:EntityDescriptor"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var signer = mdSigner
			if !tt.signer {
				signer = nil
			}
			certs, err := IdPSigningCerts(tt.data, tt.entity, signer, tt.now)
			if tt.want != "" {
				if !errors.Is(err, ErrResponseIdPMetadata) || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("error %v, want %q", err, tt.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(certs) != 1 || !certs[0].Equal(idpCert) {
				t.Fatalf("%d certificates, want the IdP's", len(certs))
			}
		})
	}
}

func FuzzResponseIdPMetadata(f *testing.F) {
	md := crewjamIdPMetadata(f)
	f.Add(md)
	f.Add(signMetadata(f, md, "other-idp"))
	_, signer := respKey(f, "other-idp")
	now := time.Now()
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = IdPSigningCerts(data, respIdPEntity, nil, now)
		_, _ = IdPSigningCerts(data, respIdPEntity, signer, now)
	})
}

// TestIdPMetadataLimits: IdP metadata gets the larger budget of
// DefaultMetadataLimits (an aggregate of many entities passes where a
// response of that size would not), and the namespace bomb is refused.
func TestIdPMetadataLimits(t *testing.T) {
	now := time.Now()
	md := string(crewjamIdPMetadata(t))
	// 30,000 other entities around the IdP: more elements than a response may hold.
	agg := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` +
		strings.Repeat(`<md:EntityDescriptor entityID="urn:other"/>`, 30_000) + md + `</md:EntitiesDescriptor>`
	if err := CheckStructure([]byte(agg), Limits{}); !errors.Is(err, ErrStructure) {
		t.Fatalf("response limits on the aggregate: %v, want a structure error", err)
	}
	if certs, err := IdPSigningCerts([]byte(agg), respIdPEntity, nil, now); err != nil || len(certs) != 1 {
		t.Fatalf("aggregate: %d certificates, %v", len(certs), err)
	}
	bomb := nsBomb(990, 15_000)
	if _, err := IdPSigningCerts(bomb, respIdPEntity, nil, now); !errors.Is(err, ErrStructure) || !errors.Is(err, ErrResponseIdPMetadata) {
		t.Fatalf("namespace bomb: %v", err)
	}
}

// TestParseIdPMetadataOnce: one parsed aggregate answers for each of its
// entities, and its validity is checked at each lookup's own time.
func TestParseIdPMetadataOnce(t *testing.T) {
	_, idpCert := respKey(t, "idp")
	md := string(crewjamIdPMetadata(t))
	other := strings.Replace(md, respIdPEntity, "https://other.example.com/metadata", 1)
	agg := `<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` + md + other + `</md:EntitiesDescriptor>`
	now := time.Now()
	parsed, err := ParseIdPMetadata([]byte(agg), nil, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, entity := range []string{respIdPEntity, "https://other.example.com/metadata"} {
		certs, until, err := parsed.SigningCerts(entity, now)
		if err != nil || len(certs) != 1 || !certs[0].Equal(idpCert) {
			t.Fatalf("%s: %d certificates, %v", entity, len(certs), err)
		}
		if until.IsZero() || !until.After(now) {
			t.Fatalf("%s: trust bound %v, want crewjam's validUntil", entity, until)
		}
		if _, _, err := parsed.SigningCerts(entity, until); !errors.Is(err, ErrResponseIdPMetadata) || !strings.Contains(err.Error(), "expired") {
			t.Fatalf("%s at its validUntil: %v, want expired", entity, err)
		}
	}
	if _, _, err := parsed.SigningCerts("urn:missing", now); err == nil || !strings.Contains(err.Error(), "no EntityDescriptor") {
		t.Fatalf("missing entity: %v", err)
	}
}
