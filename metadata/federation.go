package metadata

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/beevik/etree"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/sp"
)

// Namespaces and names of the federation metadata extensions.
const (
	nsSAML    = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsMDUI    = "urn:oasis:names:tc:SAML:metadata:ui"                         // SAML V2.0 Metadata Extensions for Login and Discovery User Interface
	nsMDAttr  = "urn:oasis:names:tc:SAML:metadata:attribute"                  // SAML V2.0 Metadata Extension for Entity Attributes
	nsAlg     = "urn:oasis:names:tc:SAML:metadata:algsupport"                 // SAML V2.0 Metadata Profile for Algorithm Support
	nsIdPDisc = "urn:oasis:names:tc:SAML:profiles:SSO:idp-discovery-protocol" // Identity Provider Discovery Service Protocol and Profile
	nsREMD    = "http://refeds.org/metadata"                                  // REFEDS Security Contact Metadata Extension

	// SecurityContactType is the remd:contactType of a REFEDS security contact.
	SecurityContactType = "http://refeds.org/metadata/contactType/security"
	// EntityCategoryAttribute names the entity attribute holding entity categories.
	EntityCategoryAttribute = "http://macedir.org/entity-category"
	// AssuranceCertificationAttribute names the entity attribute holding assurance certifications.
	AssuranceCertificationAttribute = "urn:oasis:names:tc:SAML:attribute:assurance-certification"

	attrNameFormatURI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"
)

// xmlLang matches an xs:language value (the type of xml:lang).
var xmlLang = regexp.MustCompile(`^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$`)

// checkFederation validates the federation keys of sp for metadata that
// does not come through config.Validate (programmatic Input).
func checkFederation(s *config.SP) error {
	bad := func(field, why string) error {
		return fmt.Errorf("%w: sp.%s: %s", ErrInvalidInput, field, why)
	}
	if ui := s.UIInfo; ui != nil {
		for _, fm := range []struct {
			field string
			m     map[string]string
		}{{"display_name", ui.DisplayName}, {"description", ui.Description}, {"information_url", ui.InformationURL}, {"privacy_statement_url", ui.PrivacyStatementURL}} {
			field, m := fm.field, fm.m
			for _, lang := range slices.Sorted(maps.Keys(m)) {
				v := m[lang]
				if !xmlLang.MatchString(lang) || v == "" || !xmlSafe(v) || strings.HasSuffix(field, "_url") && !isURL(v) {
					return bad("ui_info."+field+"."+lang, fmt.Sprintf("%q in language %q: want a language tag and a non-empty value (an absolute URL for URLs)", v, lang))
				}
			}
		}
		for i, l := range ui.Logos {
			if !isURL(l.URL) || l.Width <= 0 || l.Height <= 0 || l.Lang != "" && !xmlLang.MatchString(l.Lang) {
				return bad(fmt.Sprintf("ui_info.logos[%d]", i), "want an absolute url, a positive width and height and an optional language tag")
			}
		}
	}
	for i, a := range s.RequestedAttributes {
		if a.Name == "" || !xmlSafe(a.Name) || !xmlSafe(a.FriendlyName) || a.NameFormat != "" && !isURI(a.NameFormat) {
			return bad(fmt.Sprintf("requested_attributes[%d]", i), "want a name, a URI name_format and an XML-safe friendly_name")
		}
	}
	if len(s.RequestedAttributes) > 0 && (s.UIInfo == nil || len(s.UIInfo.DisplayName) == 0) {
		return bad("ui_info.display_name", "requested_attributes need a display name for the AttributeConsumingService ServiceName")
	}
	for i, u := range s.EntityCategories {
		if !isURI(u) {
			return bad(fmt.Sprintf("entity_categories[%d]", i), fmt.Sprintf("%q is not an absolute URI", u))
		}
	}
	for i, u := range s.AssuranceCertifications {
		if !isURI(u) {
			return bad(fmt.Sprintf("assurance_certifications[%d]", i), fmt.Sprintf("%q is not an absolute URI", u))
		}
	}
	for i, c := range s.Contacts {
		if c.Type == "security" && c.Email == "" {
			return bad(fmt.Sprintf("contacts[%d].email", i), "the REFEDS security contact needs an e-mail address")
		}
	}
	for i, u := range s.DiscoveryResponse {
		if !isURL(u) || !strings.HasPrefix(strings.ToLower(u), "http") {
			return bad(fmt.Sprintf("discovery_response[%d]", i), fmt.Sprintf("%q is not an absolute http(s) URL", u))
		}
	}
	return nil
}

// entityExtensions writes the EntityDescriptor's md:Extensions (entity
// categories and assurance certifications) when there are any.
func entityExtensions(ed *etree.Element, s *config.SP) {
	if len(s.EntityCategories) == 0 && len(s.AssuranceCertifications) == 0 {
		return
	}
	ext := ed.CreateElement("md:Extensions")
	ea := ext.CreateElement("mdattr:EntityAttributes")
	ea.CreateAttr("xmlns:mdattr", nsMDAttr)
	ea.CreateAttr("xmlns:saml", nsSAML)
	for _, a := range []struct {
		name   string
		values []string
	}{{EntityCategoryAttribute, s.EntityCategories}, {AssuranceCertificationAttribute, s.AssuranceCertifications}} {
		if len(a.values) == 0 {
			continue
		}
		attr := ea.CreateElement("saml:Attribute")
		attr.CreateAttr("Name", a.name)
		attr.CreateAttr("NameFormat", attrNameFormatURI)
		for _, v := range a.values {
			attr.CreateElement("saml:AttributeValue").SetText(v)
		}
	}
}

// roleExtensions writes the SPSSODescriptor's md:Extensions: mdui:UIInfo,
// the algorithms samlkeyd accepts (always) and the discovery responses.
func roleExtensions(sd *etree.Element, s *config.SP) {
	ext := sd.CreateElement("md:Extensions")
	ext.CreateAttr("xmlns:alg", nsAlg)
	if len(s.DiscoveryResponse) > 0 {
		ext.CreateAttr("xmlns:idpdisc", nsIdPDisc)
	}
	if ui := s.UIInfo; ui != nil && !uiEmpty(ui) {
		el := ext.CreateElement("mdui:UIInfo")
		el.CreateAttr("xmlns:mdui", nsMDUI)
		langElements(el, "mdui:DisplayName", ui.DisplayName)
		langElements(el, "mdui:Description", ui.Description)
		langElements(el, "mdui:InformationURL", ui.InformationURL)
		langElements(el, "mdui:PrivacyStatementURL", ui.PrivacyStatementURL)
		for _, l := range ui.Logos {
			logo := el.CreateElement("mdui:Logo")
			logo.CreateAttr("height", strconv.Itoa(l.Height))
			logo.CreateAttr("width", strconv.Itoa(l.Width))
			if l.Lang != "" {
				logo.CreateAttr("xml:lang", l.Lang)
			}
			logo.SetText(l.URL)
		}
	}
	for _, d := range digestMethods() {
		el := ext.CreateElement("alg:DigestMethod")
		el.CreateAttr("Algorithm", d)
	}
	for _, a := range signingMethods() {
		el := ext.CreateElement("alg:SigningMethod")
		el.CreateAttr("Algorithm", a.URI)
		el.CreateAttr("MinKeySize", strconv.Itoa(a.min))
		if a.max > 0 {
			el.CreateAttr("MaxKeySize", strconv.Itoa(a.max))
		}
	}
	for i, u := range s.DiscoveryResponse {
		el := ext.CreateElement("idpdisc:DiscoveryResponse")
		el.CreateAttr("Binding", nsIdPDisc)
		el.CreateAttr("Location", u)
		el.CreateAttr("index", strconv.Itoa(i))
	}
}

func uiEmpty(ui *config.UIInfo) bool {
	return len(ui.DisplayName)+len(ui.Description)+len(ui.InformationURL)+len(ui.PrivacyStatementURL)+len(ui.Logos) == 0
}

// langElements writes one element per language, languages sorted so the
// rendering is stable.
func langElements(parent *etree.Element, tag string, m map[string]string) {
	for _, lang := range slices.Sorted(maps.Keys(m)) {
		el := parent.CreateElement(tag)
		el.CreateAttr("xml:lang", lang)
		el.SetText(m[lang])
	}
}

// digestMethods are the registry's digest methods samlkeyd accepts without
// a deprecation warning (SHA-1 is never advertised).
func digestMethods() []string {
	var out []string
	for _, uri := range []string{sp.DigestSHA256, sp.DigestSHA384, sp.DigestSHA512, sp.DigestSHA1} {
		if d, err := sp.LookupDigestAlgorithm(uri); err == nil && !d.Deprecated {
			out = append(out, d.URI)
		}
	}
	return out
}

type signingMethod struct {
	URI      string
	min, max int
}

// signingMethods are the registry's signature algorithms that are not
// deprecated, with the key sizes sp.Algorithm.CheckKey accepts.
func signingMethods() []signingMethod {
	var out []signingMethod
	for _, a := range sp.Algorithms() {
		if a.Deprecated {
			continue
		}
		m := signingMethod{URI: a.URI, min: sp.MinRSABits}
		if a.Key == sp.KeyEC {
			m.min, m.max = 256, 521 // P-256 to P-521
		}
		out = append(out, m)
	}
	return out
}

// attributeConsumingService writes the SP's one AttributeConsumingService
// (index 0, default) when attributes are requested.
func attributeConsumingService(sd *etree.Element, s *config.SP) {
	if len(s.RequestedAttributes) == 0 {
		return
	}
	acs := sd.CreateElement("md:AttributeConsumingService")
	acs.CreateAttr("index", "0")
	acs.CreateAttr("isDefault", "true")
	langElements(acs, "md:ServiceName", s.UIInfo.DisplayName)
	langElements(acs, "md:ServiceDescription", s.UIInfo.Description)
	for _, a := range s.RequestedAttributes {
		el := acs.CreateElement("md:RequestedAttribute")
		el.CreateAttr("Name", a.Name)
		nf := a.NameFormat
		if nf == "" {
			nf = attrNameFormatURI
		}
		el.CreateAttr("NameFormat", nf)
		if a.FriendlyName != "" {
			el.CreateAttr("FriendlyName", a.FriendlyName)
		}
		if a.Required {
			el.CreateAttr("isRequired", "true")
		}
	}
}

// contactPerson writes one ContactPerson; type security becomes the REFEDS
// security contact.
func contactPerson(ed *etree.Element, c config.Contact) {
	cp := ed.CreateElement("md:ContactPerson")
	if c.Type == "security" {
		cp.CreateAttr("xmlns:remd", nsREMD)
		cp.CreateAttr("contactType", "other")
		cp.CreateAttr("remd:contactType", SecurityContactType)
	} else {
		cp.CreateAttr("contactType", c.Type)
	}
	email := c.Email
	if email != "" && !strings.HasPrefix(email, "mailto:") {
		email = "mailto:" + email
	}
	for _, kv := range [][2]string{{"Company", c.Company}, {"GivenName", c.GivenName}, {"SurName", c.SurName}, {"EmailAddress", email}, {"TelephoneNumber", c.Phone}} {
		if kv[1] != "" {
			cp.CreateElement("md:" + kv[0]).SetText(kv[1])
		}
	}
}
