package metadata

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Profile is a federation profile Lint checks SP metadata against.
type Profile string

// The profiles Lint knows.
const (
	ProfileInCommon Profile = "incommon" // InCommon Baseline Expectations and its SP metadata requirements
	ProfileEduGAIN  Profile = "edugain"  // the eduGAIN SAML profile and metadata aggregation checks
	ProfileKantara  Profile = "kantara"  // the Kantara SAML2Int interoperability profile
)

// Profiles returns every profile, in the order Lint reports them.
func Profiles() []Profile { return []Profile{ProfileInCommon, ProfileEduGAIN, ProfileKantara} }

// ErrUnknownProfile is a profile name Lint does not know.
var ErrUnknownProfile = errors.New("unknown federation profile")

// ParseProfile returns the profile named s (any case).
func ParseProfile(s string) (Profile, error) {
	p := Profile(strings.ToLower(strings.TrimSpace(s)))
	if !slices.Contains(Profiles(), p) {
		return "", fmt.Errorf("%w %q: use incommon, edugain or kantara", ErrUnknownProfile, s)
	}
	return p, nil
}

// Severity says whether a finding blocks registration.
type Severity string

// Severities: an error is a rule the profile states as a requirement; a
// warning is a recommendation, or a requirement whose reading for SP
// metadata is uncertain.
const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Finding is one rule the metadata breaks.
type Finding struct {
	Profile  Profile  `json:"profile"`
	Rule     string   `json:"rule"`     // stable id, like "incommon.security-contact"
	Severity Severity `json:"severity"` // error or warning
	Message  string   `json:"message"`  // what is wrong in this metadata and how to fix it
	Source   string   `json:"source"`   // the rule's text (paraphrased where marked) and the document it comes from
}

// LintOptions say which profiles to check and when.
type LintOptions struct {
	// Profiles to check; empty means all of Profiles().
	Profiles []Profile
	// Now is when the metadata is served (the validUntil window is measured
	// from it); zero means time.Now().
	Now time.Time
}

// Lint checks SP metadata against each profile's rules that can be checked
// from the document alone, and returns the findings, profile by profile in
// rule order. A document it cannot read is an error, not a finding.
func Lint(doc []byte, opts LintOptions) ([]Finding, error) {
	profiles := opts.Profiles
	if len(profiles) == 0 {
		profiles = Profiles()
	}
	for _, p := range profiles {
		if !slices.Contains(Profiles(), p) {
			return nil, fmt.Errorf("lint metadata: %w %q", ErrUnknownProfile, p)
		}
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	f, err := readFacts(doc)
	if err != nil {
		return nil, fmt.Errorf("lint metadata: %w", err)
	}
	var out []Finding
	for _, p := range Profiles() {
		if !slices.Contains(profiles, p) {
			continue
		}
		for _, r := range rules(p) {
			if msg := r.check(f, now); msg != "" {
				out = append(out, Finding{Profile: p, Rule: r.id, Severity: r.severity, Message: msg, Source: r.source})
			}
		}
	}
	return out, nil
}

// rule is one check: check returns what is wrong, or "" when the metadata
// follows the rule.
type rule struct {
	id       string
	severity Severity
	source   string
	check    func(f *mdFacts, now time.Time) string
}

func rules(p Profile) []rule {
	switch p {
	case ProfileInCommon:
		return inCommonRules()
	case ProfileEduGAIN:
		return eduGAINRules()
	case ProfileKantara:
		return kantaraRules()
	}
	return nil
}

const (
	srcBaseline = "InCommon Baseline Expectations for Trust in Federation (v2), with InCommon's SP metadata requirements"
	srcEduGAIN  = "eduGAIN SAML Profile"
	srcMAPS     = "eduGAIN Metadata Aggregation Practice Statement, check A6"
	srcSirtfi   = "REFEDS Sirtfi v1.0 / REFEDS Security Contact Metadata Extension"
	srcSAML2Int = "Kantara Initiative SAML V2.0 Implementation Profile for Federation Interoperability (SAML2Int)"
)

func inCommonRules() []rule {
	return []rule{
		{"incommon.technical-contact", SeverityError, srcBaseline + ": a technical contact with an e-mail address is in metadata.",
			needContact("technical", "add sp.contacts entry of type technical with an email")},
		{"incommon.administrative-contact", SeverityError, srcBaseline + ": an administrative contact with an e-mail address is in metadata.",
			needContact("administrative", "add sp.contacts entry of type administrative with an email")},
		{"incommon.security-contact", SeverityError, srcBaseline + ": security contact information is in metadata, as the REFEDS security contact (remd:contactType " + SecurityContactType + ").",
			needSecurityContact},
		{"incommon.display-name", SeverityError, srcBaseline + ": the service has an mdui:DisplayName in metadata.",
			func(f *mdFacts, _ time.Time) string {
				if len(f.displayNames) == 0 {
					return "no mdui:DisplayName: set sp.ui_info.display_name"
				}
				return ""
			}},
		{"incommon.privacy-statement", SeverityError, srcBaseline + ": the SP's privacy policy URL is in metadata (mdui:PrivacyStatementURL).",
			func(f *mdFacts, _ time.Time) string {
				if len(f.privacyURLs) == 0 {
					return "no mdui:PrivacyStatementURL: set sp.ui_info.privacy_statement_url"
				}
				return ""
			}},
		{"incommon.https-endpoints", SeverityError, srcBaseline + ": every protocol endpoint in metadata is an https URL.",
			func(f *mdFacts, _ time.Time) string { return notHTTPS("endpoint", f.endpoints) }},
		{"incommon.https-ui-urls", SeverityWarning, srcBaseline + ": user-interface URLs (mdui information, privacy and logo URLs) should be https (paraphrased).",
			func(f *mdFacts, _ time.Time) string { return notHTTPS("mdui URL", f.uiURLs) }},
	}
}

func eduGAINRules() []rule {
	const window = srcMAPS + `: "validUntil attribute with a value not earlier than 120 hours (5 days) and not later than 2304 hours (28 days) after the creationInstant". It binds the feed a federation republishes this entity in; the text's hours and days disagree, samlkeyd applies the stricter 28 days (672 hours).`
	return []rule{
		{"edugain.valid-until", SeverityError, srcMAPS + ` (and check A5: "validUntil attribute ... exists ... and it does not point to the past").`,
			func(f *mdFacts, now time.Time) string {
				switch {
				case !f.hasValidUntil:
					return "the EntityDescriptor has no validUntil"
				case !f.validUntil.After(now):
					return fmt.Sprintf("validUntil %s is in the past", f.validUntil.Format(time.RFC3339))
				}
				return ""
			}},
		{"edugain.valid-until-max", SeverityError, window,
			func(f *mdFacts, now time.Time) string {
				if d := f.validUntil.Sub(now); f.hasValidUntil && d > maxEduGAINValidity {
					return fmt.Sprintf("validUntil is %s after now, more than 28 days: lower sp.metadata.valid_for", roundHours(d))
				}
				return ""
			}},
		{"edugain.valid-until-min", SeverityWarning, window,
			func(f *mdFacts, now time.Time) string {
				if d := f.validUntil.Sub(now); f.hasValidUntil && d > 0 && d < minEduGAINValidity {
					return fmt.Sprintf("validUntil is %s after now, under 5 days: a registrar that copies it into its feed needs sp.metadata.valid_for of at least 120h", roundHours(d))
				}
				return ""
			}},
		{"edugain.contact", SeverityError, srcEduGAIN + ": an entity has a technical or support ContactPerson with an EmailAddress (paraphrased).",
			func(f *mdFacts, now time.Time) string {
				if needContact("technical", "")(f, now) != "" && needContact("support", "")(f, now) != "" {
					return "no technical or support contact with an e-mail address: add one to sp.contacts"
				}
				return ""
			}},
		{"edugain.security-contact", SeverityWarning, srcEduGAIN + ": entities publish a REFEDS security contact (required for Sirtfi; paraphrased).",
			needSecurityContact},
		{"edugain.sirtfi-security-contact", SeverityError, srcSirtfi + `: an entity asserting Sirtfi (assurance certification https://refeds.org/sirtfi) MUST publish a REFEDS security contact.`,
			func(f *mdFacts, now time.Time) string {
				if slices.Contains(f.assurance, "https://refeds.org/sirtfi") {
					return needSecurityContact(f, now)
				}
				return ""
			}},
		{"edugain.organization", SeverityWarning, srcEduGAIN + ": an entity has an md:Organization with OrganizationName, OrganizationDisplayName and OrganizationURL (paraphrased).",
			func(f *mdFacts, _ time.Time) string {
				if !f.organization {
					return "no complete md:Organization: set sp.organization"
				}
				return ""
			}},
		{"edugain.display-name-en", SeverityWarning, srcEduGAIN + ": user-facing names are given at least in English (paraphrased).",
			func(f *mdFacts, _ time.Time) string {
				if _, ok := f.displayNames["en"]; !ok {
					return "no mdui:DisplayName in English: set sp.ui_info.display_name.en"
				}
				return ""
			}},
	}
}

func kantaraRules() []rule {
	return []rule{
		{"kantara.encryption-key", SeverityError, srcSAML2Int + ": SP metadata contains the keys the IdP encrypts to, at least the current ones (paraphrased).",
			kantaraEncryptionKey},
		{"kantara.algorithm-support", SeverityError, srcSAML2Int + ": metadata publishes the algorithms the entity supports with alg:SigningMethod and alg:DigestMethod (SAML V2.0 Metadata Profile for Algorithm Support) (paraphrased).",
			func(f *mdFacts, _ time.Time) string {
				var missing []string
				if len(f.algSigning) == 0 {
					missing = append(missing, "alg:SigningMethod")
				}
				if len(f.algDigest) == 0 {
					missing = append(missing, "alg:DigestMethod")
				}
				if len(missing) > 0 {
					return "no " + strings.Join(missing, " and ")
				}
				return ""
			}},
		{"kantara.no-sha1", SeverityError, srcSAML2Int + ": SHA-1 is not used for signatures or digests (paraphrased).",
			func(f *mdFacts, _ time.Time) string {
				var bad []string
				for _, a := range slices.Concat(f.algSigning, f.algDigest, f.encMethods, f.dsigMethods) {
					if isSHA1(a) && !slices.Contains(bad, a) {
						bad = append(bad, a)
					}
				}
				if len(bad) > 0 {
					return "SHA-1 algorithms listed or used: " + strings.Join(bad, ", ") + " (set sp.metadata.signature_algorithm to a SHA-2 algorithm)"
				}
				return ""
			}},
		{"kantara.key-size", SeverityError, srcSAML2Int + ": RSA keys are at least 2048 bits, EC keys at least 256 bits (paraphrased).",
			kantaraKeySize},
	}
}

func needContact(typ, how string) func(*mdFacts, time.Time) string {
	return func(f *mdFacts, _ time.Time) string {
		for _, c := range f.contacts {
			if c.typ == typ && c.remdType == "" && c.email {
				return ""
			}
		}
		return fmt.Sprintf("no %s contact with an e-mail address: %s", typ, how)
	}
}

func needSecurityContact(f *mdFacts, _ time.Time) string {
	for _, c := range f.contacts {
		if c.remdType == SecurityContactType && c.email {
			return ""
		}
	}
	return "no REFEDS security contact with an e-mail address: add an sp.contacts entry of type security with an email"
}

func notHTTPS(what string, urls []string) string {
	var bad []string
	for _, u := range urls {
		if !strings.HasPrefix(strings.ToLower(u), "https://") {
			bad = append(bad, u)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return fmt.Sprintf("%s not https: %s", what, strings.Join(bad, ", "))
}

func kantaraEncryptionKey(f *mdFacts, now time.Time) string {
	usable := 0
	for _, k := range f.keys {
		if k.use != "" && k.use != "encryption" || k.cert == nil {
			continue
		}
		if now.Before(k.cert.NotBefore) || now.After(k.cert.NotAfter) {
			return fmt.Sprintf("the encryption certificate %q is not valid now (%s to %s)", k.cert.Subject.CommonName, k.cert.NotBefore.UTC().Format(time.RFC3339), k.cert.NotAfter.UTC().Format(time.RFC3339))
		}
		usable++
	}
	if usable == 0 {
		return "no KeyDescriptor for encryption: set the encryption keystore property"
	}
	return ""
}

func kantaraKeySize(f *mdFacts, _ time.Time) string {
	var bad []string
	for _, k := range f.keys {
		if k.err != nil {
			bad = append(bad, fmt.Sprintf("a %s key's certificate does not parse: %v", orBoth(k.use), k.err))
			continue
		}
		bits, typ := keyBits(k.cert)
		if typ == "RSA" && bits < 2048 || typ == "EC" && bits < 256 || typ != "RSA" && typ != "EC" {
			bad = append(bad, fmt.Sprintf("%s key %q is %s %d bits", orBoth(k.use), k.cert.Subject.CommonName, typ, bits))
		}
	}
	return strings.Join(bad, "; ")
}

func orBoth(use string) string {
	if use == "" {
		return "signing and encryption"
	}
	return use
}

// isSHA1 reports whether an algorithm URI uses SHA-1 as its digest. RSA-OAEP
// key transport is not counted: its SHA-1 default is inside OAEP's padding,
// which no profile forbids.
func isSHA1(uri string) bool {
	u := strings.ToLower(uri)
	return strings.HasSuffix(u, "#sha1") || strings.HasSuffix(u, "-sha1")
}

// The eduGAIN validUntil window (see eduGAINRules).
const (
	maxEduGAINValidity = 28 * 24 * time.Hour
	minEduGAINValidity = 120 * time.Hour
)

func roundHours(d time.Duration) string {
	return d.Round(time.Hour).String()
}
