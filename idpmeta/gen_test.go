package idpmeta

import (
	"bufio"
	"bytes"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"

	"github.com/samlkeyd/samlkeyd/internal/tooltest"
)

// testKey is an RSA key with a self-signed certificate.
type testKey struct {
	key  *rsa.PrivateKey
	cert *x509.Certificate
	der  []byte
}

var (
	keysOnce sync.Once
	keysAll  []*testKey
)

// testKeys returns the five keys of testdata (gen.sh): [0] signs
// aggregates, the others are IdP signing keys.
func testKeys(t testing.TB) []*testKey {
	keysOnce.Do(func() {
		for i := range 5 {
			kb, err := os.ReadFile(fmt.Sprintf("testdata/key%d.pem", i))
			if err != nil {
				panic(err)
			}
			cb, err := os.ReadFile(fmt.Sprintf("testdata/cert%d.pem", i))
			if err != nil {
				panic(err)
			}
			kp, _ := pem.Decode(kb)
			cp, _ := pem.Decode(cb)
			k, err := x509.ParsePKCS8PrivateKey(kp.Bytes)
			if err != nil {
				panic(err)
			}
			c, err := x509.ParseCertificate(cp.Bytes)
			if err != nil {
				panic(err)
			}
			keysAll = append(keysAll, &testKey{key: k.(*rsa.PrivateKey), cert: c, der: cp.Bytes})
		}
	})
	return keysAll
}

// genOptions shape a generated aggregate.
type genOptions struct {
	Entities   int
	ValidUntil string // root validUntil; "" = none
	SigMethod  string // default rsa-sha256
	Digest     string // default sha256
	NoTemplate bool   // no ds:Signature template (for signGo)
}

// writeAggregate writes an aggregate of o.Entities realistic entities
// (every fifth an SP, the rest IdPs), with an unsigned ds:Signature
// template as the root's first child, for xmlsec1 --sign.
func writeAggregate(w io.Writer, o genOptions, keys []*testKey) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	sm, dm := o.SigMethod, o.Digest
	if sm == "" {
		sm = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
	}
	if dm == "" {
		dm = "http://www.w3.org/2001/04/xmlenc#sha256"
	}
	vu := ""
	if o.ValidUntil != "" {
		vu = ` validUntil="` + o.ValidUntil + `"`
	}
	fmt.Fprintf(bw, `<?xml version="1.0" encoding="UTF-8"?>
<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" xmlns:mdrpi="urn:oasis:names:tc:SAML:metadata:rpi" xmlns:mdui="urn:oasis:names:tc:SAML:metadata:ui" xmlns:mdattr="urn:oasis:names:tc:SAML:metadata:attribute" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" xmlns:shibmd="urn:mace:shibboleth:metadata:1.0" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ID="fed-aggregate" Name="urn:example:fed"%s cacheDuration="PT6H">
%s<md:Extensions><mdrpi:PublicationInfo publisher="urn:example:fed" creationInstant="2026-01-01T00:00:00Z"/></md:Extensions>
`, vu, sigTemplate(o, "fed-aggregate", sm, dm))
	for i := range o.Entities {
		k := keys[1+i%(len(keys)-1)]
		writeEntity(bw, i, k.der, keys[1+(i+1)%(len(keys)-1)].der)
	}
	fmt.Fprintf(bw, "</md:EntitiesDescriptor>\n")
	return bw.Flush()
}

func b64Lines(der []byte) string {
	s := base64.StdEncoding.EncodeToString(der)
	var b strings.Builder
	for len(s) > 64 {
		b.WriteString(s[:64])
		b.WriteString("\n")
		s = s[64:]
	}
	b.WriteString(s)
	return b.String()
}

// writeEntity writes entity i: an IdP, or every fifth an SP.
func writeEntity(w io.Writer, i int, sign, enc []byte) {
	host := fmt.Sprintf("idp%05d.uni%d.example.edu", i, i%97)
	ra := fmt.Sprintf("https://fed%d.example.org", i%3)
	if i%5 == 4 {
		fmt.Fprintf(w, `<md:EntityDescriptor entityID="https://%s/sp"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor><md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://%[1]s/slo"/><md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://%[1]s/acs" index="0"/></md:SPSSODescriptor></md:EntityDescriptor>
`, host, b64Lines(sign))
		return
	}
	cat := "http://refeds.org/category/research-and-scholarship"
	if i%2 == 1 {
		cat = "https://refeds.org/category/personalized"
	}
	fmt.Fprintf(w, `<md:EntityDescriptor entityID="https://%[1]s/idp/shibboleth">
  <md:Extensions>
    <mdrpi:RegistrationInfo registrationAuthority="%[2]s" registrationInstant="2019-05-01T10:00:00Z"><mdrpi:RegistrationPolicy xml:lang="en">%[2]s/policy</mdrpi:RegistrationPolicy></mdrpi:RegistrationInfo>
    <mdattr:EntityAttributes><saml:Attribute Name="http://macedir.org/entity-category" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue>%[3]s</saml:AttributeValue></saml:Attribute><saml:Attribute Name="urn:oasis:names:tc:SAML:attribute:assurance-certification" NameFormat="urn:oasis:names:tc:SAML:2.0:attrname-format:uri"><saml:AttributeValue>https://refeds.org/sirtfi</saml:AttributeValue></saml:Attribute></mdattr:EntityAttributes>
  </md:Extensions>
  <md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol urn:oasis:names:tc:SAML:1.1:protocol">
    <md:Extensions>
      <shibmd:Scope regexp="false">uni%[4]d.example.edu</shibmd:Scope>
      <mdui:UIInfo><mdui:DisplayName xml:lang="en">University %[4]d &amp; Partners (IdP %[5]d)</mdui:DisplayName><mdui:DisplayName xml:lang="de">Universität %[4]d</mdui:DisplayName><mdui:DisplayName xml:lang="fr">Université %[4]d</mdui:DisplayName><mdui:DisplayName xml:lang="es">Universidad %[4]d</mdui:DisplayName><mdui:Description xml:lang="es">Proveedor de identidad de la Universidad %[4]d para el personal y los estudiantes.</mdui:Description><mdui:Description xml:lang="it">Fornitore di identità dell'Università %[4]d per il personale e gli studenti.</mdui:Description><mdui:PrivacyStatementURL xml:lang="de">https://%[1]s/datenschutz</mdui:PrivacyStatementURL><mdui:InformationURL xml:lang="de">https://%[1]s/info</mdui:InformationURL><mdui:Description xml:lang="en">Identity provider of University %[4]d, for staff &lt;and&gt; students.</mdui:Description><mdui:InformationURL xml:lang="en">https://%[1]s/about</mdui:InformationURL><mdui:Description xml:lang="de">Identitätsanbieter der Universität %[4]d für Beschäftigte und Studierende.</mdui:Description><mdui:Description xml:lang="fr">Fournisseur d'identité de l'université %[4]d pour le personnel et les étudiants.</mdui:Description><mdui:PrivacyStatementURL xml:lang="en">https://%[1]s/privacy</mdui:PrivacyStatementURL><mdui:Logo height="16" width="16">https://%[1]s/favicon.ico</mdui:Logo><mdui:Logo height="60" width="80">https://%[1]s/logo.png</mdui:Logo></mdui:UIInfo>
      <mdui:DiscoHints><mdui:IPHint>192.0.2.0/24</mdui:IPHint><mdui:DomainHint>uni%[4]d.example.edu</mdui:DomainHint><mdui:GeolocationHint>geo:52.03,1.14</mdui:GeolocationHint></mdui:DiscoHints>
    </md:Extensions>
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
%[6]s
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
%[7]s
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
%[7]s
</ds:X509Certificate></ds:X509Data></ds:KeyInfo><md:EncryptionMethod Algorithm="http://www.w3.org/2009/xmlenc11#rsa-oaep"/></md:KeyDescriptor>
    <md:ArtifactResolutionService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://%[1]s:8443/idp/profile/SAML2/SOAP/ArtifactResolution" index="2"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://%[1]s/idp/profile/SAML2/Redirect/SLO"/>
    <md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://%[1]s/idp/profile/SAML2/POST/SLO" ResponseLocation="https://%[1]s/idp/profile/SAML2/POST/SLO/response"/>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:transient</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:2.0:nameid-format:persistent</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress</md:NameIDFormat>
    <md:NameIDFormat>urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified</md:NameIDFormat>
    <md:SingleSignOnService Binding="urn:mace:shibboleth:1.0:profiles:AuthnRequest" Location="https://%[1]s/idp/profile/Shibboleth/SSO"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://%[1]s/idp/profile/SAML2/POST/SSO"/>
    <md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://%[1]s/idp/profile/SAML2/Redirect/SSO"/>
  </md:IDPSSODescriptor>
  <md:AttributeAuthorityDescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
%[6]s
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:KeyDescriptor use="encryption"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>
%[7]s
</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
    <md:AttributeService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="https://%[1]s:8443/idp/profile/SAML2/SOAP/AttributeQuery"/>
  </md:AttributeAuthorityDescriptor>
  <md:Organization><md:OrganizationName xml:lang="en">University %[4]d</md:OrganizationName><md:OrganizationDisplayName xml:lang="en">University %[4]d</md:OrganizationDisplayName><md:OrganizationURL xml:lang="en">https://uni%[4]d.example.edu/</md:OrganizationURL></md:Organization>
  <md:ContactPerson contactType="support"><md:Company>University %[4]d IT Services</md:Company><md:GivenName>Service</md:GivenName><md:SurName>Desk</md:SurName><md:EmailAddress>mailto:servicedesk@uni%[4]d.example.edu</md:EmailAddress><md:TelephoneNumber>+44 1234 567890</md:TelephoneNumber></md:ContactPerson>
  <md:ContactPerson contactType="administrative"><md:Company>University %[4]d</md:Company><md:GivenName>Identity</md:GivenName><md:SurName>Office</md:SurName><md:EmailAddress>mailto:identity-office@uni%[4]d.example.edu</md:EmailAddress></md:ContactPerson>
  <md:ContactPerson contactType="technical"><md:GivenName>IdP</md:GivenName><md:SurName>Admins</md:SurName><md:EmailAddress>mailto:idp-admin@uni%[4]d.example.edu</md:EmailAddress></md:ContactPerson>
  <md:ContactPerson xmlns:remd="http://refeds.org/metadata" contactType="other" remd:contactType="http://refeds.org/metadata/contactType/security"><md:GivenName>CSIRT</md:GivenName><md:EmailAddress>mailto:csirt@uni%[4]d.example.edu</md:EmailAddress></md:ContactPerson>
</md:EntityDescriptor>
`, host, ra, cat, i%97, i, b64Lines(sign), b64Lines(enc))
}

// xmlsecSign signs the template at in with key into out.
func xmlsecSign(t testing.TB, in, out string, k *testKey, id string) {
	t.Helper()
	xmlsec := tooltest.Path(t, "xmlsec1")
	dir := t.TempDir()
	keyPath := filepath.Join(dir, "key.pem")
	der, _ := x509.MarshalPKCS8PrivateKey(k.key)
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xmlsec, "--sign", "--privkey-pem", keyPath, "--id-attr:ID", id, "--output", out, in)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("xmlsec1 --sign: %v\n%s", err, b)
	}
}

// xmlsecVerify runs xmlsec1 --verify on path with the certificate of k.
func xmlsecVerify(t testing.TB, path string, k *testKey, id string) error {
	_, err := xmlsecVerifyCPU(t, path, k, id)
	return err
}

// xmlsecVerifyCPU is xmlsecVerify that also returns the CPU time (user +
// system) xmlsec1 used.
func xmlsecVerifyCPU(t testing.TB, path string, k *testKey, id string) (time.Duration, error) {
	t.Helper()
	xmlsec := tooltest.Path(t, "xmlsec1")
	certPath := filepath.Join(t.TempDir(), "cert.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: k.der}), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(xmlsec, "--verify", "--pubkey-cert-pem", certPath, "--id-attr:ID", id, path)
	if b, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("xmlsec1 --verify: %v: %s", err, b)
	}
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(), nil
}

// signedAggregate returns the path of an xmlsec1-signed aggregate made
// from o with testKeys; with cache, it lives under os.TempDir() keyed by o
// and the key fingerprint so a rerun reuses it.
func signedAggregate(t testing.TB, o genOptions, cache bool) string {
	t.Helper()
	keys := testKeys(t)
	dir := t.TempDir()
	if cache {
		sum := sha256.Sum256(fmt.Appendf(nil, "v3 %+v %x", o, keys[0].der)) // v3: bump when writeEntity changes
		dir = filepath.Join(os.TempDir(), "samlkeyd-aggregate-"+hex.EncodeToString(sum[:8]))
		if _, err := os.Stat(filepath.Join(dir, "signed.xml")); err == nil {
			return filepath.Join(dir, "signed.xml")
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	tmpl := filepath.Join(dir, "template.xml")
	f, err := os.Create(tmpl)
	if err != nil {
		t.Fatal(err)
	}
	if err := writeAggregate(f, o, keys); err != nil {
		t.Fatal(err)
	}
	f.Close()
	out := filepath.Join(dir, "signed.xml.tmp")
	xmlsecSign(t, tmpl, out, keys[0], "urn:oasis:names:tc:SAML:2.0:metadata:EntitiesDescriptor")
	os.Remove(tmpl)
	final := filepath.Join(dir, "signed.xml")
	if err := os.Rename(out, final); err != nil {
		t.Fatal(err)
	}
	return final
}

func sigTemplate(o genOptions, id, sm, dm string) string {
	if o.NoTemplate {
		return ""
	}
	return fmt.Sprintf(`<ds:Signature><ds:SignedInfo><ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/><ds:SignatureMethod Algorithm="%s"/><ds:Reference URI="#%s"><ds:Transforms><ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/><ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms><ds:DigestMethod Algorithm="%s"/><ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo><ds:SignatureValue></ds:SignatureValue></ds:Signature>
`, sm, id, dm)
}

// signGo signs doc (whose root has an ID attribute) with goxmldsig, an
// implementation independent of ours, and moves the Signature to the
// root's first child, where SAML metadata has it; last keeps it last.
func signGo(t testing.TB, doc []byte, k *testKey, last bool) []byte {
	t.Helper()
	d := etree.NewDocument()
	if err := d.ReadFromBytes(doc); err != nil {
		t.Fatal(err)
	}
	ctx, err := dsig.NewSigningContext(k.key, [][]byte{k.der})
	if err != nil {
		t.Fatal(err)
	}
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	signed, err := ctx.SignEnveloped(d.Root())
	if err != nil {
		t.Fatal(err)
	}
	if !last {
		n := len(signed.Child) - 1
		signed.Child = append([]etree.Token{signed.Child[n]}, signed.Child[:n]...)
	}
	d.SetRoot(signed)
	out, err := d.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// smallAggregate is an unsigned aggregate of n entities for signGo.
func smallAggregate(t testing.TB, n int, validUntil string) []byte {
	var b bytes.Buffer
	if err := writeAggregate(&b, genOptions{Entities: n, ValidUntil: validUntil, NoTemplate: true}, testKeys(t)); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
