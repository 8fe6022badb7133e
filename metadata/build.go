package metadata

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

// XML namespaces and SAML constants the metadata uses.
const (
	nsMD        = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDS        = "http://www.w3.org/2000/09/xmldsig#"
	protocolURN = "urn:oasis:names:tc:SAML:2.0:protocol"
)

// bindingURN maps a binding the SP serves (post or redirect, by short name
// or URN) to its URN. Any other binding (artifact, SOAP, PAOS) is refused:
// samlkeyd serves none, and metadata never advertises a binding nobody
// serves.
func bindingURN(b string) (string, bool) {
	const post, redirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST", "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	switch strings.ToLower(b) {
	case "post", "http-post":
		return post, true
	case "redirect", "http-redirect":
		return redirect, true
	}
	if b == post || b == redirect {
		return b, true
	}
	return "", false
}

// Build renders the metadata, its signature when SP.Metadata.Signed is on,
// the PEM/DER files and the certificate index, once. It returns an error
// wrapping ErrInvalidInput, ErrExpired or ErrSign, naming the field or
// record, when the input cannot make valid metadata.
func Build(in Input) (*Published, error) {
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	if in.Keys == nil {
		return nil, fmt.Errorf("build metadata: %w: no key set", ErrInvalidInput)
	}
	sp := in.SP
	if err := checkSP(&sp); err != nil {
		return nil, fmt.Errorf("build metadata: %w", err)
	}
	signing, err := published(in.Keys.Signing, keys.UseSigning, now)
	if err != nil {
		return nil, fmt.Errorf("build metadata: %w", err)
	}
	encryption, err := published(in.Keys.Encryption, keys.UseEncryption, now)
	if err != nil {
		return nil, fmt.Errorf("build metadata: %w", err)
	}
	if in.AuthnRequestsSigned && len(signing) == 0 {
		return nil, fmt.Errorf("build metadata: %w: AuthnRequestsSigned is on but the key set has no signing credential: set the signing keystore property", ErrInvalidInput)
	}
	for i, m := range in.EncryptionMethods {
		if !isURI(m) {
			return nil, fmt.Errorf("build metadata: %w: encryption method %d %q is not an absolute URI", ErrInvalidInput, i, m)
		}
	}

	validFor := orDefault(sp.Metadata.ValidFor, DefaultValidFor)
	cacheFor := orDefault(sp.Metadata.CacheDuration, DefaultCacheDuration)
	validUntil := now.Add(validFor)
	for _, c := range slices.Concat(signing, encryption) {
		if na := c.Leaf().NotAfter; na.Before(validUntil) {
			validUntil = na
		}
	}
	validUntil = validUntil.UTC().Truncate(time.Second)
	if !validUntil.After(now) {
		return nil, fmt.Errorf("build metadata: %w: validUntil %s is not after now %s", ErrInvalidInput, validUntil.Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	maxAge := min(cacheFor, validUntil.Sub(now)).Truncate(time.Second)

	doc, root := render(&sp, in, signing, encryption, validUntil, cacheFor)
	// The ID is a hash of the rendering with an empty ID, so the same input
	// always gives the same document (and golden files stay stable).
	unsigned, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("build metadata: serialize: %w", err)
	}
	sum := sha256.Sum256(unsigned)
	root.CreateAttr("ID", "_"+hex.EncodeToString(sum[:16]))

	p := &Published{
		entityID:   sp.EntityID,
		builtAt:    now,
		validUntil: validUntil,
		refreshAt:  now.Add(validUntil.Sub(now) / 2),
		maxAge:     maxAge,
	}
	if sp.Metadata.Signed {
		if len(signing) == 0 || signing[0].Role != keys.RoleCurrent {
			return nil, fmt.Errorf("build metadata: %w: metadata signing is on but there is no current signing credential", ErrInvalidInput)
		}
		warn, err := sign(root, signing[0], sp.Metadata.SignatureAlgorithm)
		if err != nil {
			return nil, fmt.Errorf("build metadata: %w", err)
		}
		p.signed = true
		p.warnings = append(p.warnings, warn...)
	}
	body, err := doc.WriteToBytes()
	if err != nil {
		return nil, fmt.Errorf("build metadata: serialize: %w", err)
	}
	body = append(body, '\n')
	p.metadata = *newAsset(body, ContentType, fileName(sp.EntityID)+"-metadata.xml", maxAge)
	if err := p.addCertFiles(signing, encryption); err != nil {
		return nil, fmt.Errorf("build metadata: %w", err)
	}
	return p, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// published checks one use's credentials and returns those metadata lists
// (not Unpublished) ordered current, next, previous (stable within a role).
func published(list []*keys.Credential, use keys.Use, now time.Time) ([]*keys.Credential, error) {
	rank := map[keys.Role]int{keys.RoleCurrent: 0, keys.RoleNext: 1, keys.RolePrevious: 2}
	currents := 0
	for i, c := range list {
		if c == nil || len(c.Chain) == 0 || c.Chain[0] == nil {
			return nil, fmt.Errorf("%w: %s credential %d has no certificate", ErrInvalidInput, use, i)
		}
		if c.Use != "" && c.Use != use {
			return nil, fmt.Errorf("%w: record %q is listed for %s but marked %s", ErrInvalidInput, c.RecordName, use, c.Use)
		}
		if _, ok := rank[c.Role]; !ok {
			return nil, fmt.Errorf("%w: %s record %q has unknown role %q (want current, next or previous)", ErrInvalidInput, use, c.RecordName, c.Role)
		}
		if c.Role == keys.RoleCurrent {
			currents++
		}
		leaf := c.Leaf()
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return nil, fmt.Errorf("%w: %s record %q (%s) certificate is valid %s to %s: renew it or stop publishing it",
				ErrExpired, use, c.RecordName, c.Role, leaf.NotBefore.UTC().Format(time.RFC3339), leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	if currents > 1 {
		return nil, fmt.Errorf("%w: %d current %s credentials, want at most one", ErrInvalidInput, currents, use)
	}
	out := slices.Clone(list)
	slices.SortStableFunc(out, func(a, b *keys.Credential) int { return rank[a.Role] - rank[b.Role] })
	return slices.DeleteFunc(out, func(c *keys.Credential) bool { return c.Unpublished }), nil
}

// checkSP validates the SP settings metadata needs and resolves bindings in
// place (sp is the caller's copy).
func checkSP(sp *config.SP) error {
	bad := func(field, why string) error {
		return fmt.Errorf("%w: sp.%s: %s", ErrInvalidInput, field, why)
	}
	if !isURI(sp.EntityID) || len(sp.EntityID) > 1024 {
		return bad("entity_id", fmt.Sprintf("%q is not an absolute URI of at most 1024 characters", sp.EntityID))
	}
	if len(sp.ACS) == 0 {
		return bad("acs", "at least one assertion consumer service is required")
	}
	sp.ACS = slices.Clone(sp.ACS)
	sp.SLO = slices.Clone(sp.SLO)
	seen := map[int]bool{}
	defaults := 0
	for i := range sp.ACS {
		e := &sp.ACS[i]
		if err := checkEndpoint(e, fmt.Sprintf("acs[%d]", i)); err != nil {
			return err
		}
		if e.Index < 0 || seen[e.Index] {
			return bad(fmt.Sprintf("acs[%d].index", i), fmt.Sprintf("index %d is negative or used twice: give each endpoint its own index", e.Index))
		}
		seen[e.Index] = true
		if e.Default {
			defaults++
		}
	}
	if defaults > 1 {
		return bad("acs", "more than one endpoint is marked default")
	}
	for i := range sp.SLO {
		if err := checkEndpoint(&sp.SLO[i], fmt.Sprintf("slo[%d]", i)); err != nil {
			return err
		}
	}
	for i, f := range sp.NameIDFormats {
		if !isURI(f) {
			return bad(fmt.Sprintf("name_id_formats[%d]", i), fmt.Sprintf("%q is not a URI", f))
		}
	}
	if o := sp.Organization; o != nil {
		if o.Name == "" || o.DisplayName == "" || !isURL(o.URL) {
			return bad("organization", "name, display_name and an absolute url are all required")
		}
		if !xmlSafe(o.Name) || !xmlSafe(o.DisplayName) || !xmlSafe(o.Lang) {
			return bad("organization", "contains characters XML cannot carry")
		}
	}
	for i, c := range sp.Contacts {
		if !slices.Contains(config.ContactTypes(), c.Type) {
			return bad(fmt.Sprintf("contacts[%d].type", i), fmt.Sprintf("%q is not one of %s", c.Type, strings.Join(config.ContactTypes(), ", ")))
		}
		for _, s := range []string{c.Company, c.GivenName, c.SurName, c.Email, c.Phone} {
			if !xmlSafe(s) {
				return bad(fmt.Sprintf("contacts[%d]", i), "contains characters XML cannot carry")
			}
		}
	}
	return checkFederation(sp)
}

func checkEndpoint(e *config.Endpoint, field string) error {
	urn, ok := bindingURN(e.Binding)
	if !ok || !xmlSafe(urn) {
		return fmt.Errorf("%w: sp.%s.binding: %q is not post or redirect (or their URNs): samlkeyd serves no other binding, so metadata does not advertise one", ErrInvalidInput, field, e.Binding)
	}
	e.Binding = urn
	if e.ResponseLocation != "" && (!isURL(e.ResponseLocation) || !strings.HasPrefix(strings.ToLower(e.ResponseLocation), "https://") && !strings.HasPrefix(strings.ToLower(e.ResponseLocation), "http://")) {
		return fmt.Errorf("%w: sp.%s.response_location: %q is not an absolute http(s) URL", ErrInvalidInput, field, e.ResponseLocation)
	}
	// Every SAML 2.0 binding endpoint is an HTTP(S) URL (crewjam/saml and
	// other readers refuse other schemes).
	if !isURL(e.Location) || !strings.HasPrefix(strings.ToLower(e.Location), "https://") && !strings.HasPrefix(strings.ToLower(e.Location), "http://") {
		return fmt.Errorf("%w: sp.%s.location: %q is not an absolute http(s) URL", ErrInvalidInput, field, e.Location)
	}
	return nil
}

// isURI reports whether s is a non-empty absolute URI (scheme:rest) XML can carry.
func isURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && xmlSafe(s) && !strings.ContainsAny(s, " ")
}

// isURL reports whether s is an absolute URL with a host.
func isURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && u.Host != "" && xmlSafe(s) && !strings.ContainsAny(s, " ")
}

// xmlSafe reports whether s is valid UTF-8 made only of characters XML 1.0
// can carry without normalisation (no control characters, not even tab or
// newline, which attribute normalisation would turn into spaces).
func xmlSafe(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0xd800 && r <= 0xdfff) || r == 0xfffe || r == 0xffff {
			return false
		}
	}
	return true
}

// render builds the unsigned metadata document. The root carries an empty
// ID attribute that Build fills in.
func render(sp *config.SP, in Input, signing, encryption []*keys.Credential, validUntil time.Time, cacheFor time.Duration) (*etree.Document, *etree.Element) {
	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMD)
	ed.CreateAttr("xmlns:ds", nsDS)
	ed.CreateAttr("entityID", sp.EntityID)
	ed.CreateAttr("ID", "")
	ed.CreateAttr("validUntil", validUntil.Format(time.RFC3339))
	ed.CreateAttr("cacheDuration", xsDuration(cacheFor))

	entityExtensions(ed, sp)
	sd := ed.CreateElement("md:SPSSODescriptor")
	sd.CreateAttr("AuthnRequestsSigned", strconv.FormatBool(in.AuthnRequestsSigned))
	sd.CreateAttr("WantAssertionsSigned", strconv.FormatBool(sp.WantAssertionsSigned))
	sd.CreateAttr("protocolSupportEnumeration", protocolURN)
	roleExtensions(sd, sp)
	for _, c := range signing {
		keyDescriptor(sd, "signing", c, nil)
	}
	for _, c := range encryption {
		keyDescriptor(sd, "encryption", c, in.EncryptionMethods)
	}
	for _, e := range sp.SLO {
		el := sd.CreateElement("md:SingleLogoutService")
		el.CreateAttr("Binding", e.Binding)
		el.CreateAttr("Location", e.Location)
		if e.ResponseLocation != "" {
			el.CreateAttr("ResponseLocation", e.ResponseLocation)
		}
	}
	for _, f := range sp.NameIDFormats {
		sd.CreateElement("md:NameIDFormat").SetText(f)
	}
	for _, e := range sp.ACS {
		el := sd.CreateElement("md:AssertionConsumerService")
		el.CreateAttr("Binding", e.Binding)
		el.CreateAttr("Location", e.Location)
		el.CreateAttr("index", strconv.Itoa(e.Index))
		if e.Default {
			el.CreateAttr("isDefault", "true")
		}
	}
	attributeConsumingService(sd, sp)
	if o := sp.Organization; o != nil {
		lang := o.Lang
		if lang == "" {
			lang = "en"
		}
		org := ed.CreateElement("md:Organization")
		for _, kv := range [][2]string{{"OrganizationName", o.Name}, {"OrganizationDisplayName", o.DisplayName}, {"OrganizationURL", o.URL}} {
			el := org.CreateElement("md:" + kv[0])
			el.CreateAttr("xml:lang", lang)
			el.SetText(kv[1])
		}
	}
	for _, c := range sp.Contacts {
		contactPerson(ed, c)
	}
	doc.Indent(2)
	return doc, ed
}

func keyDescriptor(parent *etree.Element, use string, c *keys.Credential, methods []string) {
	kd := parent.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", use)
	x509Data := kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data")
	x509Data.CreateElement("ds:X509Certificate").SetText(base64.StdEncoding.EncodeToString(c.Leaf().Raw))
	for _, m := range methods {
		kd.CreateElement("md:EncryptionMethod").CreateAttr("Algorithm", m)
	}
}

// xsDuration formats d as an xs:duration in hours, minutes and seconds
// (PT24H, PT1H30M, PT0.5S), never in the calendar-dependent units.
func xsDuration(d time.Duration) string {
	if d == 0 {
		return "PT0S"
	}
	var b bytes.Buffer
	if d < 0 {
		b.WriteByte('-')
		d = -d
	}
	b.WriteString("PT")
	h, m := d/time.Hour, d%time.Hour/time.Minute
	s := d % time.Minute
	if h > 0 {
		fmt.Fprintf(&b, "%dH", h)
	}
	if m > 0 {
		fmt.Fprintf(&b, "%dM", m)
	}
	if s > 0 {
		b.WriteString(strconv.FormatFloat(s.Seconds(), 'f', -1, 64))
		b.WriteByte('S')
	}
	return b.String()
}

// fileName turns an entity id into a safe download file name stem.
func fileName(entityID string) string {
	stem := entityID
	if u, err := url.Parse(entityID); err == nil && u.Host != "" {
		stem = u.Hostname()
	}
	stem = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, stem)
	if stem == "" || len(stem) > 100 {
		return "sp"
	}
	return stem
}
