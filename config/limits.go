package config

// XMLLimits bound the structure of the XML documents the daemon parses
// from IdPs (sp.limits): responses and decrypted assertions. IdP metadata
// documents get larger built-in budgets. Every field must be positive;
// defaults.yaml holds the defaults.
type XMLLimits struct {
	MaxDepth                 int `mapstructure:"max_depth" yaml:"max_depth"`
	MaxElements              int `mapstructure:"max_elements" yaml:"max_elements"`
	MaxAttributes            int `mapstructure:"max_attributes" yaml:"max_attributes"`                         // per element, xmlns included
	MaxAttributesTotal       int `mapstructure:"max_attributes_total" yaml:"max_attributes_total"`             // in the document
	MaxNamespaces            int `mapstructure:"max_namespaces" yaml:"max_namespaces"`                         // distinct prefixes in scope
	MaxNamespaceDeclarations int `mapstructure:"max_namespace_declarations" yaml:"max_namespace_declarations"` // in the document
	MaxNameLength            int `mapstructure:"max_name_length" yaml:"max_name_length"`
	MaxValueLength           int `mapstructure:"max_value_length" yaml:"max_value_length"`
	MaxTextLength            int `mapstructure:"max_text_length" yaml:"max_text_length"`
}

// IdPAllowsCBC reports whether CBC content encryption is accepted from
// idp: its own allow_cbc when set, sp.allow_cbc otherwise, true when
// neither is set.
func (c *Config) IdPAllowsCBC(idp IdP) bool {
	switch {
	case idp.AllowCBC != nil:
		return *idp.AllowCBC
	case c.SP.AllowCBC != nil:
		return *c.SP.AllowCBC
	}
	return true
}

// SignsLogoutResponse reports whether the SP signs its LogoutResponses to
// idp: sign_logout_response when set, else sign_logout_request.
func (idp IdP) SignsLogoutResponse() bool {
	if idp.SignLogoutResponse != nil {
		return *idp.SignLogoutResponse
	}
	return idp.SignLogoutRequest
}

// WantsLogoutSigned reports whether idp's LogoutRequests and
// LogoutResponses must be signed: want_logout_signed when set, else true.
func (idp IdP) WantsLogoutSigned() bool {
	return idp.WantLogoutSigned == nil || *idp.WantLogoutSigned
}

// xmlLimits checks sp.limits: each positive and below a ceiling past
// which the cost bound the limits exist for is gone.
func (p *problems) xmlLimits(l XMLLimits) {
	for _, f := range []struct {
		key     string
		v, ceil int
		because string
	}{
		{"max_depth", l.MaxDepth, 256, "deeper documents recurse in the signature code"},
		{"max_elements", l.MaxElements, 1_000_000, ""},
		{"max_attributes", l.MaxAttributes, 10_000, ""},
		{"max_attributes_total", l.MaxAttributesTotal, 1_000_000, ""},
		{"max_namespaces", l.MaxNamespaces, 256, "the signature code copies the in-scope prefixes at every element"},
		{"max_namespace_declarations", l.MaxNamespaceDeclarations, 1_000_000, ""},
		{"max_name_length", l.MaxNameLength, 1 << 20, ""},
		{"max_value_length", l.MaxValueLength, 4 << 20, ""},
		{"max_text_length", l.MaxTextLength, 4 << 20, ""},
	} {
		switch {
		case f.v <= 0:
			p.add("sp.limits."+f.key, "must be positive (the default suits every IdP we know)")
		case f.v > f.ceil && f.because != "":
			p.add("sp.limits."+f.key, "%d is over %d: %s", f.v, f.ceil, f.because)
		case f.v > f.ceil:
			p.add("sp.limits."+f.key, "%d is over %d", f.v, f.ceil)
		}
	}
}
