package idpmeta

import (
	"fmt"
	"net/url"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/sp"
)

// SAML 2.0 binding URIs an IdP's endpoints are chosen from.
const (
	BindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	BindingPOST     = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
)

// ConfigIdP is the idps record equivalent of e with the switches of its
// source src: named by its entity id, SSO (and SLO when published) by
// HTTP-Redirect, else HTTP-POST; AuthnRequests signed when the source says
// so or the IdP publishes WantAuthnRequestsSigned. The signing service
// (sp.Settings.IdPs) takes it as it takes a named record. An IdP with no
// SSO endpoint in either binding, or an http: one (unless the source
// allows http), is an error.
func (e *Entity) ConfigIdP(src config.IdPSource) (config.IdP, error) {
	p := config.IdP{
		Name:               e.EntityID,
		EntityID:           e.EntityID,
		SignatureAlgorithm: src.SignatureAlgorithm,
		SignAuthnRequest:   src.SignAuthnRequest || e.WantAuthnRequestsSigned,
		EncryptAssertion:   src.EncryptAssertion,
		WantResponseSigned: src.WantResponseSigned,
		AllowHTTP:          src.AllowHTTP,
	}
	sso, ok := pickEndpoint(e.SSO)
	if !ok {
		return config.IdP{}, fmt.Errorf("idp %q (source %q) publishes no SingleSignOnService with the HTTP-Redirect or HTTP-POST binding", e.EntityID, e.Source)
	}
	if err := checkLocation(sso.Location, src.AllowHTTP); err != nil {
		return config.IdP{}, fmt.Errorf("idp %q (source %q) SingleSignOnService: %w", e.EntityID, e.Source, err)
	}
	p.SSO = config.Endpoint{Binding: bindingName(sso.Binding), Location: sso.Location}
	if slo, ok := pickEndpoint(e.SLO); ok && checkLocation(slo.Location, src.AllowHTTP) == nil {
		p.SLO = config.Endpoint{Binding: bindingName(slo.Binding), Location: slo.Location}
	}
	return p, nil
}

// ResponseIdP is what the response validator needs of e: its entity id as
// name and expected issuer, its signing certificates, and the source's
// switches. WantAssertionSigned and RefuseCBC are SP-wide settings the
// caller fills as for a named record.
func (e *Entity) ResponseIdP(src config.IdPSource) (sp.ResponseIdP, error) {
	certs, err := e.SigningCerts()
	if err != nil {
		return sp.ResponseIdP{}, err
	}
	return sp.ResponseIdP{
		Name:               e.EntityID,
		EntityID:           e.EntityID,
		SigningCerts:       certs,
		EncryptAssertion:   src.EncryptAssertion,
		WantResponseSigned: src.WantResponseSigned,
	}, nil
}

func pickEndpoint(list []Endpoint) (Endpoint, bool) {
	for _, b := range []string{BindingRedirect, BindingPOST} {
		if ep, ok := EndpointFor(list, b); ok {
			return ep, true
		}
	}
	return Endpoint{}, false
}

func bindingName(urn string) string {
	if urn == BindingPOST {
		return "post"
	}
	return "redirect"
}

func checkLocation(s string, allowHTTP bool) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(allowHTTP && u.Scheme == "http")) {
		return fmt.Errorf("location %q is not an https URL", s)
	}
	return nil
}
