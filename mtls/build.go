package mtls

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
)

// ResolveFunc turns a profile's record references into Go values: the key
// entry of its keystore record and the certificates of its trust-store
// records. It returns an error naming the record when one is missing or a
// trust-store record is not a certificate.
type ResolveFunc func(p config.Profile) (client *keys.Entry, trust []*x509.Certificate, err error)

// Build builds every profile and every check of a configuration, as the
// daemon does when it builds a snapshot. It reports all problems at once;
// on any problem it returns no checks, so the running ones stay in force.
func Build(profiles []config.Profile, checks []config.Check, resolve ResolveFunc) ([]*Check, error) {
	var errs []error
	built := make(map[string]*Profile, len(profiles))
	for _, pc := range profiles {
		if _, dup := built[pc.Name]; dup {
			errs = append(errs, fmt.Errorf("protocol profile %q is defined twice: names must be unique", pc.Name))
			continue
		}
		client, trust, err := resolve(pc)
		if err != nil {
			errs = append(errs, fmt.Errorf("protocol profile %q: %w", pc.Name, err))
			built[pc.Name] = nil
			continue
		}
		p, err := NewProfile(pc, client, trust)
		if err != nil {
			errs = append(errs, err)
		}
		built[pc.Name] = p
	}
	usable := make(map[string]*Profile, len(built))
	for name, p := range built {
		if p != nil {
			usable[name] = p
		}
	}
	out := make([]*Check, 0, len(checks))
	names := map[string]bool{}
	for _, cc := range checks {
		if names[cc.Name] {
			errs = append(errs, fmt.Errorf("check %q is defined twice: names must be unique", cc.Name))
			continue
		}
		names[cc.Name] = true
		c, err := NewCheck(cc, usable)
		if err != nil {
			if p, ok := built[profileOf(cc)]; ok && p == nil {
				continue // its profile already reported the problem
			}
			errs = append(errs, err)
			continue
		}
		out = append(out, c)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// profileOf names the profile a check config refers to, by field or scheme.
func profileOf(c config.Check) string {
	if c.Profile != "" {
		return c.Profile
	}
	if scheme, _, ok := strings.Cut(c.URL, "://"); ok {
		return strings.ToLower(scheme)
	}
	return ""
}
