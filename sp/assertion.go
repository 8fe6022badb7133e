package sp

import (
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// readAssertion checks a verified assertion's issuer, subject, conditions
// and audience, and reads it: a list of steps, each refusing with the check
// it makes.
func (v *ResponseValidator) readAssertion(p ResponseIdP, dec *decrypter, as *etree.Element, requestID string, now time.Time) (*Assertion, string, error) {
	id := as.SelectAttrValue("ID", "")
	if id == "" {
		return nil, "", refuse(CheckMalformed, "Assertion has no ID")
	}
	if ver := as.SelectAttrValue("Version", ""); ver != "2.0" {
		return nil, "", refuse(CheckMalformed, "Assertion Version %q, want 2.0", ver)
	}
	iss := childNS(as, nsSAML, "Issuer")
	if iss == nil || strings.TrimSpace(iss.Text()) != p.EntityID {
		got := ""
		if iss != nil {
			got = iss.Text()
		}
		return nil, "", refuse(CheckIssuer, "Assertion Issuer %q is not idp %q's entity id %q", got, p.Name, p.EntityID)
	}
	out := &Assertion{Issuer: p.EntityID, Attributes: map[string][]string{}}
	confirmedUntil, err := v.readSubject(out, dec, as, requestID, now)
	if err != nil {
		return nil, "", err
	}
	conditionsUntil, err := v.checkConditions(as, now)
	if err != nil {
		return nil, "", err
	}
	out.NotOnOrAfter = confirmedUntil
	if !conditionsUntil.IsZero() && conditionsUntil.Before(out.NotOnOrAfter) {
		out.NotOnOrAfter = conditionsUntil
	}
	for _, st := range childrenNS(as, nsSAML, "AuthnStatement") {
		if si := st.SelectAttrValue("SessionIndex", ""); si != "" && out.SessionIndex == "" {
			out.SessionIndex = si
		}
	}
	if err := readAttributes(out, dec, as); err != nil {
		return nil, "", err
	}
	return out, id, nil
}

// readSubject reads the NameID (decrypting an EncryptedID) and requires one
// bearer SubjectConfirmation that holds; it returns that confirmation's
// NotOnOrAfter.
func (v *ResponseValidator) readSubject(out *Assertion, dec *decrypter, as *etree.Element, requestID string, now time.Time) (time.Time, error) {
	subj := childNS(as, nsSAML, "Subject")
	if subj == nil {
		return time.Time{}, refuse(CheckSubject, "Assertion has no Subject")
	}
	nameID := childNS(subj, nsSAML, "NameID")
	if enc := childNS(subj, nsSAML, "EncryptedID"); nameID == nil && enc != nil {
		el, err := dec.decrypt(enc)
		if err != nil {
			return time.Time{}, refuse(CheckDecrypt, "EncryptedID: %w", err)
		}
		if el.Tag != "NameID" || el.NamespaceURI() != nsSAML {
			return time.Time{}, refuse(CheckMalformed, "EncryptedID holds %s, want saml:NameID", el.FullTag())
		}
		nameID = el
	}
	if nameID == nil || strings.TrimSpace(nameID.Text()) == "" {
		return time.Time{}, refuse(CheckSubject, "Assertion Subject has no NameID")
	}
	out.NameID = strings.TrimSpace(nameID.Text())
	out.NameIDFormat = nameID.SelectAttrValue("Format", "")

	// At least one bearer confirmation must hold.
	var bearerErr error
	for _, sc := range childrenNS(subj, nsSAML, "SubjectConfirmation") {
		if sc.SelectAttrValue("Method", "") != bearerConfirmMethod {
			continue
		}
		t, err := v.checkConfirmation(childNS(sc, nsSAML, "SubjectConfirmationData"), requestID, now)
		if err == nil {
			return t, nil
		}
		bearerErr = err
	}
	if bearerErr != nil {
		return time.Time{}, bearerErr
	}
	return time.Time{}, refuse(CheckSubject, "Assertion has no bearer SubjectConfirmation")
}

// checkConditions checks the validity window and that every
// AudienceRestriction names our entity id (core 2.5.1.4); it returns the
// Conditions' NotOnOrAfter (zero when absent).
func (v *ResponseValidator) checkConditions(as *etree.Element, now time.Time) (time.Time, error) {
	cond := childNS(as, nsSAML, "Conditions")
	if cond == nil {
		return time.Time{}, refuse(CheckAudience, "Assertion has no Conditions (and so no AudienceRestriction)")
	}
	notBefore, err := optTime(cond, "NotBefore")
	if err != nil {
		return time.Time{}, err
	}
	notOnOrAfter, err := optTime(cond, "NotOnOrAfter")
	if err != nil {
		return time.Time{}, err
	}
	if !notBefore.IsZero() && now.Add(v.s.ClockSkew).Before(notBefore) {
		return time.Time{}, refuse(CheckNotYetValid, "Assertion Conditions NotBefore %s is after now %s (+%s skew)", notBefore.Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.s.ClockSkew)
	}
	if !notOnOrAfter.IsZero() && !now.Add(-v.s.ClockSkew).Before(notOnOrAfter) {
		return time.Time{}, refuse(CheckExpired, "Assertion Conditions NotOnOrAfter %s has passed (now %s, skew %s)", notOnOrAfter.Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.s.ClockSkew)
	}
	restrictions := childrenNS(cond, nsSAML, "AudienceRestriction")
	if len(restrictions) == 0 {
		return time.Time{}, refuse(CheckAudience, "Assertion has no AudienceRestriction naming %q", v.s.EntityID)
	}
	for _, r := range restrictions {
		var auds []string
		for _, a := range childrenNS(r, nsSAML, "Audience") {
			auds = append(auds, strings.TrimSpace(a.Text()))
		}
		if !slices.Contains(auds, v.s.EntityID) {
			return time.Time{}, refuse(CheckAudience, "Assertion AudienceRestriction %q does not name our entity id %q", auds, v.s.EntityID)
		}
	}
	return notOnOrAfter, nil
}

// readAttributes reads every Attribute of the AttributeStatements,
// decrypting EncryptedAttributes; an attribute without values reads as an
// empty list.
func readAttributes(out *Assertion, dec *decrypter, as *etree.Element) error {
	for _, st := range childrenNS(as, nsSAML, "AttributeStatement") {
		for _, c := range st.ChildElements() {
			attr := c
			if c.NamespaceURI() == nsSAML && c.Tag == "EncryptedAttribute" {
				el, err := dec.decrypt(c)
				if err != nil {
					return refuse(CheckDecrypt, "EncryptedAttribute: %w", err)
				}
				attr = el
			}
			if attr.NamespaceURI() != nsSAML || attr.Tag != "Attribute" {
				continue
			}
			name := attr.SelectAttrValue("Name", "")
			if name == "" {
				return refuse(CheckMalformed, "Attribute without Name")
			}
			vals := out.Attributes[name]
			for _, av := range childrenNS(attr, nsSAML, "AttributeValue") {
				vals = append(vals, av.Text())
			}
			if vals == nil {
				vals = []string{}
			}
			out.Attributes[name] = vals
		}
	}
	return nil
}

// checkConfirmation checks one bearer SubjectConfirmationData and returns
// its NotOnOrAfter.
func (v *ResponseValidator) checkConfirmation(d *etree.Element, requestID string, now time.Time) (time.Time, error) {
	if d == nil {
		return time.Time{}, refuse(CheckSubject, "bearer SubjectConfirmation has no SubjectConfirmationData")
	}
	if r := d.SelectAttrValue("Recipient", ""); !slices.Contains(v.s.ACSURLs, r) {
		return time.Time{}, refuse(CheckDestination, "SubjectConfirmationData Recipient %q is not one of our ACS URLs %q", r, v.s.ACSURLs)
	}
	if irt := d.SelectAttrValue("InResponseTo", ""); requestID != "" && irt != requestID {
		return time.Time{}, refuse(CheckInResponseTo, "SubjectConfirmationData InResponseTo %q is not request id %q", irt, requestID)
	}
	noa, err := optTime(d, "NotOnOrAfter")
	if err != nil {
		return time.Time{}, err
	}
	if noa.IsZero() {
		return time.Time{}, refuse(CheckSubject, "bearer SubjectConfirmationData has no NotOnOrAfter")
	}
	if !now.Add(-v.s.ClockSkew).Before(noa) {
		return time.Time{}, refuse(CheckExpired, "SubjectConfirmationData NotOnOrAfter %s has passed (now %s, skew %s)", noa.Format(time.RFC3339), now.UTC().Format(time.RFC3339), v.s.ClockSkew)
	}
	if nb, err := optTime(d, "NotBefore"); err != nil {
		return time.Time{}, err
	} else if !nb.IsZero() && now.Add(v.s.ClockSkew).Before(nb) {
		return time.Time{}, refuse(CheckNotYetValid, "SubjectConfirmationData NotBefore %s is in the future", nb.Format(time.RFC3339))
	}
	return noa, nil
}

// optTime reads an optional xs:dateTime attribute (zero when absent).
func optTime(el *etree.Element, attr string) (time.Time, error) {
	s := el.SelectAttrValue(attr, "")
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, refuse(CheckMalformed, "%s %s=%q is not an xs:dateTime", el.Tag, attr, s)
	}
	return t, nil
}
