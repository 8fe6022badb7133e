package sp

import (
	"context"
	"crypto"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
)

// LogoutInput is a logout message as an HTTP binding delivered it to one
// of the SP's SLO endpoints.
type LogoutInput struct {
	Binding string // BindingRedirect or BindingPOST
	// Query is the redirect binding's raw query string as received (after
	// '?', never re-encoded).
	Query string
	// Form is the POST binding's form: SAMLRequest or SAMLResponse
	// (base64) and RelayState.
	Form url.Values
}

// LogoutMessage is what a verified LogoutRequest or LogoutResponse says.
type LogoutMessage struct {
	Kind         string `json:"kind"` // LogoutRequest or LogoutResponse
	ID           string `json:"id"`
	Issuer       string `json:"issuer"`
	InResponseTo string `json:"in_response_to,omitempty"`
	// NameID, its Format and the SessionIndex values of a LogoutRequest
	// (an EncryptedID is decrypted).
	NameID         string   `json:"name_id,omitempty"`
	NameIDFormat   string   `json:"name_id_format,omitempty"`
	SessionIndexes []string `json:"session_indexes,omitempty"`
	// Status of a LogoutResponse: success, partial (Success with the
	// second-level PartialLogout), requester, responder, or another
	// top-level status code URI. A verified response is answered whatever
	// its status: the application decides what a failed logout means.
	Status     string `json:"status,omitempty"`
	RelayState string `json:"relay_state,omitempty"`
	// Signed reports whether a signature was verified (false only for an
	// IdP with want_logout_signed: false).
	Signed bool `json:"signed"`
}

// VerifyLogout verifies a LogoutRequest or LogoutResponse the IdP record
// named idp sent, in either binding, and returns what it says. The
// signature (redirect: over the query octets as received; POST: the
// enveloped signature, reading only signed bytes afterwards) must verify
// with the IdP's signing certificates, and is required unless the IdP
// allows unsigned logout messages; rsa-sha1 only with AllowSHA1. Then:
// Issuer is the IdP's entity id, Destination is one of SLOURLs (required
// when signed), IssueInstant is within the clock skew of now, NotOnOrAfter
// has not passed, InResponseTo is requestID when one is given, and the
// message ID was not seen before (the replay cache, under a key of its
// own). The structural limits are the validator's. Every refusal is a
// *MessageError whose Check is one of the Check constants; any other
// error (the replay cache failing) is the daemon's.
func (v *ResponseValidator) VerifyLogout(ctx context.Context, idp string, in LogoutInput, requestID string) (*LogoutMessage, error) {
	p, ok := v.idps[idp]
	if !ok {
		return nil, refuseMessage(CheckUnknownIdP, "no idp record %q", idp)
	}
	now := v.now()
	m, err := v.receiveLogout(p, in, now)
	if err != nil {
		return nil, err
	}
	if m.Kind != "LogoutRequest" && m.Kind != "LogoutResponse" {
		return nil, refuseMessage(CheckMalformed, "%s holds a %s, not a logout message", m.Param, m.Kind)
	}
	out, err := v.checkLogout(p, m, requestID, now)
	if err != nil {
		return nil, err
	}
	instant, _ := time.Parse(time.RFC3339Nano, m.root.SelectAttrValue("IssueInstant", ""))
	seen, err := v.s.Replay.Record(ctx, "logout\x00"+p.Name+"\x00"+m.ID, instant.Add(2*v.s.ClockSkew), now)
	if err != nil {
		return nil, fmt.Errorf("replay cache: %w", err)
	}
	if seen {
		return nil, refuseMessage(CheckReplay, "%s %q from idp %q was already received", m.Kind, m.ID, p.Name)
	}
	return out, nil
}

// receiveLogout decodes and, when signed (or the IdP requires it),
// verifies the message the binding delivered.
func (v *ResponseValidator) receiveLogout(p ResponseIdP, in LogoutInput, now time.Time) (*ReceivedMessage, error) {
	var (
		m   *ReceivedMessage
		err error
	)
	switch in.Binding {
	case BindingRedirect, BindingRedirectURN:
		q, serr := splitRedirect(in.Query)
		if serr != nil {
			return nil, serr
		}
		if _, signed := q.raw[paramSignature]; signed || !p.AllowUnsignedLogout {
			m, err = q.verify(p.SigningCerts, p.AllowSHA1, v.s.Limits)
		} else {
			m, err = q.message(v.s.Limits)
		}
	case BindingPOST, BindingPOSTURN:
		if m, err = parsePOST(in.Form, v.s.Limits); err == nil && (m.Signed || !p.AllowUnsignedLogout) {
			m, err = m.verifyPOST(p.SigningCerts, p.AllowSHA1, now)
		}
	default:
		return nil, refuseMessage(CheckMalformed, "binding %q: use redirect or post", in.Binding)
	}
	if err != nil {
		return nil, err
	}
	if m.Signer != nil && m.Algorithm.Hash == crypto.SHA1 {
		v.log.Warn("deprecated SHA-1 in an IdP signature: ask the IdP to sign with rsa-sha256", "idp", p.Name, "algorithm", m.Algorithm.URI)
		if v.s.OnDeprecatedSignature != nil {
			v.s.OnDeprecatedSignature(p.Name, m.Algorithm.URI)
		}
	}
	return m, nil
}

// checkLogout checks a received logout message's issuer, destination,
// times and InResponseTo, and reads it.
func (v *ResponseValidator) checkLogout(p ResponseIdP, m *ReceivedMessage, requestID string, now time.Time) (*LogoutMessage, error) {
	root := m.root
	out := &LogoutMessage{Kind: m.Kind, ID: m.ID, RelayState: m.RelayState, Signed: m.Signer != nil}
	iss := childNS(root, nsSAML, "Issuer")
	if iss == nil || strings.TrimSpace(iss.Text()) != p.EntityID {
		got := ""
		if iss != nil {
			got = iss.Text()
		}
		return nil, refuseMessage(CheckIssuer, "%s Issuer %q is not idp %q's entity id %q", m.Kind, got, p.Name, p.EntityID)
	}
	out.Issuer = p.EntityID
	dest := root.SelectAttrValue("Destination", "")
	if (dest != "" || out.Signed) && !slices.Contains(v.s.SLOURLs, dest) {
		return nil, refuseMessage(CheckDestination, "%s Destination %q is not one of our SLO URLs %q", m.Kind, dest, v.s.SLOURLs)
	}
	if err := v.checkLogoutTimes(root, m.Kind, now); err != nil {
		return nil, err
	}
	out.InResponseTo = root.SelectAttrValue("InResponseTo", "")
	if requestID != "" && out.InResponseTo != requestID {
		return nil, refuseMessage(CheckInResponseTo, "%s InResponseTo %q is not request id %q", m.Kind, out.InResponseTo, requestID)
	}
	if m.Kind == "LogoutResponse" {
		top, second := statusCodes(root)
		if top == "" {
			return nil, refuseMessage(CheckStatus, "LogoutResponse has no StatusCode")
		}
		out.Status = logoutStatusName(top, second)
		return out, nil
	}
	return out, v.readLogoutRequest(p, root, out)
}

// checkLogoutTimes checks IssueInstant (required, within the clock skew of
// now either way) and a LogoutRequest's NotOnOrAfter.
func (v *ResponseValidator) checkLogoutTimes(root *etree.Element, kind string, now time.Time) error {
	skew := v.s.ClockSkew
	instant, err := messageTime(root, kind, "IssueInstant")
	if err != nil {
		return err
	}
	if instant.IsZero() {
		return refuseMessage(CheckMalformed, "%s has no IssueInstant", kind)
	}
	if now.Add(skew).Before(instant) {
		return refuseMessage(CheckNotYetValid, "%s IssueInstant %s is after now %s (+%s skew)", kind, instant.Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
	}
	if instant.Add(skew).Before(now) {
		return refuseMessage(CheckExpired, "%s IssueInstant %s is more than the %s skew before now %s", kind, instant.Format(time.RFC3339), skew, now.UTC().Format(time.RFC3339))
	}
	noa, err := messageTime(root, kind, "NotOnOrAfter")
	if err != nil {
		return err
	}
	if !noa.IsZero() && !now.Add(-skew).Before(noa) {
		return refuseMessage(CheckExpired, "%s NotOnOrAfter %s has passed (now %s, skew %s)", kind, noa.Format(time.RFC3339), now.UTC().Format(time.RFC3339), skew)
	}
	return nil
}

func messageTime(el *etree.Element, kind, attr string) (time.Time, error) {
	s := el.SelectAttrValue(attr, "")
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, refuseMessage(CheckMalformed, "%s %s=%q is not an xs:dateTime", kind, attr, s)
	}
	return t, nil
}

// readLogoutRequest reads a LogoutRequest's NameID (decrypting an
// EncryptedID) and SessionIndex values.
func (v *ResponseValidator) readLogoutRequest(p ResponseIdP, root *etree.Element, out *LogoutMessage) error {
	nameID := childNS(root, nsSAML, "NameID")
	if enc := childNS(root, nsSAML, "EncryptedID"); nameID == nil && enc != nil {
		el, err := v.dec.forIdP(p.Name, v.s.RefuseCBC || p.RefuseCBC).decrypt(enc)
		if err != nil {
			return &MessageError{Check: CheckDecrypt, Err: fmt.Errorf("EncryptedID: %w", err)}
		}
		if el.Tag != "NameID" || el.NamespaceURI() != nsSAML {
			return refuseMessage(CheckMalformed, "EncryptedID holds %s, want saml:NameID", el.FullTag())
		}
		nameID = el
	}
	if nameID == nil || strings.TrimSpace(nameID.Text()) == "" {
		return refuseMessage(CheckSubject, "LogoutRequest has no NameID")
	}
	out.NameID = strings.TrimSpace(nameID.Text())
	out.NameIDFormat = nameID.SelectAttrValue("Format", "")
	for _, si := range childrenNS(root, nsSAMLP, "SessionIndex") {
		out.SessionIndexes = append(out.SessionIndexes, strings.TrimSpace(si.Text()))
	}
	return nil
}

// IsMessageRefusal reports whether err is a refused message (a
// *MessageError) and returns it.
func IsMessageRefusal(err error) (*MessageError, bool) {
	var me *MessageError
	ok := errors.As(err, &me)
	return me, ok
}
