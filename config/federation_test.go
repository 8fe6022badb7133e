package config_test

import (
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
)

// TestFederationKeys loads every federation key and checks what the
// metadata renderer gets: the name_format default, language tags folded to
// lower case by the loader, the security contact.
func TestFederationKeys(t *testing.T) {
	c, err := config.Load(config.LoadOptions{File: "testdata/good/federation.yaml", Env: noEnv})
	if err != nil {
		t.Fatal(err)
	}
	sp := c.SP
	if got := sp.RequestedAttributes[0].NameFormat; got != config.AttrNameFormatURI {
		t.Errorf("requested_attributes[0].name_format = %q, want the uri default", got)
	}
	if got := sp.RequestedAttributes[1].NameFormat; got != "urn:oasis:names:tc:SAML:2.0:attrname-format:basic" {
		t.Errorf("requested_attributes[1].name_format = %q, want the one written", got)
	}
	if !sp.RequestedAttributes[0].Required || sp.RequestedAttributes[1].Required {
		t.Error("required not decoded")
	}
	if sp.UIInfo == nil || sp.UIInfo.DisplayName["de"] != "Beispiel-Forschungsportal" || sp.UIInfo.DisplayName["pt-br"] != "Portal" {
		t.Errorf("display_name = %v", sp.UIInfo)
	}
	if l := sp.UIInfo.Logos; len(l) != 1 || l[0].Width != 80 || l[0].Height != 60 || l[0].Lang != "en" {
		t.Errorf("logos = %+v", l)
	}
	if sp.Contacts[1].Type != "security" || len(sp.EntityCategories) != 1 || len(sp.AssuranceCertifications) != 1 || len(sp.DiscoveryResponse) != 1 {
		t.Errorf("sp = %+v", sp)
	}
}
