package config

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// UIInfo is the SP's mdui:UIInfo (SAML V2.0 Metadata Extensions for Login
// and Discovery User Interface): what discovery services and IdP consent
// pages show. Each text is a map from an xml:lang language tag ("en",
// "de", "pt-br") to the text in that language.
type UIInfo struct {
	DisplayName         map[string]string `mapstructure:"display_name" yaml:"display_name,omitempty"`
	Description         map[string]string `mapstructure:"description" yaml:"description,omitempty"`
	InformationURL      map[string]string `mapstructure:"information_url" yaml:"information_url,omitempty"`
	PrivacyStatementURL map[string]string `mapstructure:"privacy_statement_url" yaml:"privacy_statement_url,omitempty"`
	Logos               []Logo            `mapstructure:"logos" yaml:"logos,omitempty"`
}

// Logo is one mdui:Logo: an image URL with its size in pixels and an
// optional language.
type Logo struct {
	URL    string `mapstructure:"url" yaml:"url"`
	Width  int    `mapstructure:"width" yaml:"width"`
	Height int    `mapstructure:"height" yaml:"height"`
	Lang   string `mapstructure:"lang" yaml:"lang,omitempty"`
}

// RequestedAttribute is one md:RequestedAttribute of the SP's
// AttributeConsumingService.
type RequestedAttribute struct {
	Name         string `mapstructure:"name" yaml:"name"`
	NameFormat   string `mapstructure:"name_format" yaml:"name_format,omitempty"` // default AttrNameFormatURI
	FriendlyName string `mapstructure:"friendly_name" yaml:"friendly_name,omitempty"`
	Required     bool   `mapstructure:"required" yaml:"required,omitempty"`
}

// AttrNameFormatURI is the default name_format of a requested attribute.
const AttrNameFormatURI = "urn:oasis:names:tc:SAML:2.0:attrname-format:uri"

// ContactTypes are the sp.contacts[].type values: the SAML contact types and
// security, the REFEDS security contact.
func ContactTypes() []string {
	return []string{"technical", "support", "administrative", "billing", "other", "security"}
}

// xmlLang matches an xs:language value (the type of xml:lang).
var xmlLang = regexp.MustCompile(`^[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*$`)

// applyFederationDefaults fills the defaults inside list items that the
// defaults file cannot reach.
func (sp *SP) applyFederationDefaults() {
	for i := range sp.RequestedAttributes {
		if sp.RequestedAttributes[i].NameFormat == "" {
			sp.RequestedAttributes[i].NameFormat = AttrNameFormatURI
		}
	}
}

// federation checks the federation metadata keys of sp.
func (p *problems) federation(sp *SP) {
	if ui := sp.UIInfo; ui != nil {
		p.langText("sp.ui_info.display_name", ui.DisplayName)
		p.langText("sp.ui_info.description", ui.Description)
		p.langURL("sp.ui_info.information_url", ui.InformationURL)
		p.langURL("sp.ui_info.privacy_statement_url", ui.PrivacyStatementURL)
		for i, l := range ui.Logos {
			f := fmt.Sprintf("sp.ui_info.logos[%d]", i)
			p.url(f+".url", l.URL, true, mustHTTP)
			if l.Width <= 0 {
				p.add(f+".width", "must be a positive number of pixels")
			}
			if l.Height <= 0 {
				p.add(f+".height", "must be a positive number of pixels")
			}
			if l.Lang != "" && !xmlLang.MatchString(l.Lang) {
				p.add(f+".lang", "%q is not a language tag, like en or pt-BR", l.Lang)
			}
		}
	}
	names := map[string]int{}
	for i, a := range sp.RequestedAttributes {
		f := fmt.Sprintf("sp.requested_attributes[%d]", i)
		switch {
		case strings.TrimSpace(a.Name) == "":
			p.required(f+".name", "the attribute name, like urn:oid:0.9.2342.19200300.100.1.3")
		case !xmlText(a.Name):
			p.add(f+".name", "contains characters XML cannot carry")
		case (a.NameFormat == "" || a.NameFormat == AttrNameFormatURI) && !isAbsoluteURI(a.Name):
			p.add(f+".name", "%q is not a URI, as name_format uri needs: write the urn:oid: name, or set name_format", a.Name)
		default:
			if j, ok := names[a.Name]; ok {
				p.add(f+".name", "%q is already requested by sp.requested_attributes[%d]", a.Name, j)
			}
			names[a.Name] = i
		}
		if a.NameFormat != "" && !isAbsoluteURI(a.NameFormat) {
			p.add(f+".name_format", "%q is not a URI, like %s", a.NameFormat, AttrNameFormatURI)
		}
		if !xmlText(a.FriendlyName) {
			p.add(f+".friendly_name", "contains characters XML cannot carry")
		}
	}
	if len(sp.RequestedAttributes) > 0 && (sp.UIInfo == nil || len(sp.UIInfo.DisplayName) == 0) {
		p.required("sp.ui_info.display_name", "requested_attributes are published in an AttributeConsumingService, whose ServiceName is the display name")
	}
	p.uris("sp.entity_categories", sp.EntityCategories)
	p.uris("sp.assurance_certifications", sp.AssuranceCertifications)
	for i, u := range sp.DiscoveryResponse {
		p.url(fmt.Sprintf("sp.discovery_response[%d]", i), u, true, mustHTTP)
	}
}

// contact checks one sp.contacts entry.
func (p *problems) contact(f string, ct Contact) {
	if !slices.Contains(ContactTypes(), ct.Type) {
		p.add(f+".type", "%q is not a contact type: use technical, support, administrative, billing, other or security", ct.Type)
	}
	if ct.Email != "" && !strings.Contains(ct.Email, "@") {
		p.add(f+".email", "%q is not an e-mail address", ct.Email)
	}
	if ct.Type == "security" && ct.Email == "" {
		p.required(f+".email", "the REFEDS security contact needs an e-mail address")
	}
}

func (p *problems) langText(field string, m map[string]string) {
	for _, lang := range sortedKeys(m) {
		f := field + "." + lang
		if !xmlLang.MatchString(lang) {
			p.add(f, "%q is not a language tag, like en or pt-BR", lang)
		}
		switch v := m[lang]; {
		case strings.TrimSpace(v) == "":
			p.required(f, "")
		case !xmlText(v):
			p.add(f, "contains characters XML cannot carry")
		}
	}
}

func (p *problems) langURL(field string, m map[string]string) {
	for _, lang := range sortedKeys(m) {
		f := field + "." + lang
		if !xmlLang.MatchString(lang) {
			p.add(f, "%q is not a language tag, like en or pt-BR", lang)
		}
		p.url(f, m[lang], true, mustHTTP)
	}
}

// uris checks a list of absolute URIs without duplicates.
func (p *problems) uris(field string, list []string) {
	seen := map[string]int{}
	for i, s := range list {
		f := fmt.Sprintf("%s[%d]", field, i)
		if !isAbsoluteURI(s) {
			p.add(f, "%q is not an absolute URI, like http://refeds.org/category/research-and-scholarship", s)
			continue
		}
		if j, ok := seen[s]; ok {
			p.add(f, "%q is already %s[%d]", s, field, j)
		}
		seen[s] = i
	}
}

// isAbsoluteURI reports whether s is scheme:rest with no space or control
// character.
func isAbsoluteURI(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme != "" && len(s) > len(u.Scheme)+1 && !strings.ContainsAny(s, " ") && xmlText(s)
}

// xmlText reports whether s is UTF-8 without control characters, which
// XML cannot carry (or would normalise away in an attribute).
func xmlText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == 0xfffe || r == 0xffff {
			return false
		}
	}
	return true
}
