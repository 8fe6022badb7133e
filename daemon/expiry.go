package daemon

import (
	"cmp"
	"crypto/x509"
	"slices"
	"time"

	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/mtls"
	"github.com/samlkeyd/samlkeyd/sp"
	"github.com/samlkeyd/samlkeyd/store"
)

// Expiry is one certificate the daemon knows and when it expires.
type Expiry struct {
	Source      string    `json:"source"` // record, idp, mtls_server
	Owner       string    `json:"owner"`  // record name, IdP name or check name
	RecordID    string    `json:"record_id,omitempty"`
	Use         string    `json:"use,omitempty"` // signing, encryption, mtls, trust, unused (records)
	Subject     string    `json:"subject"`
	Fingerprint string    `json:"sha256,omitempty"`
	NotAfter    time.Time `json:"not_after"`
}

// recordExpiries lists every certificate of every active record's chain
// (trust-store records included), from the stored public facts: no
// keystore is opened. chain parses a record's chain (cached by version),
// expiry describes a certificate (cached per certificate).
func recordExpiries(records []*store.Record, uses map[string]string, chain func(*store.Record) []*x509.Certificate,
	expiry func(source, owner string, c *x509.Certificate) Expiry) []Expiry {
	var out []Expiry
	for _, r := range records {
		if !r.Active {
			continue
		}
		use := uses[r.ID]
		if use == "" {
			use = "unused"
			if r.Type == store.TypeTrustStoreCert {
				use = "trust"
			}
		}
		seen := map[string]bool{}
		for _, c := range chain(r) {
			e := expiry("record", r.Name, c)
			if seen[e.Fingerprint] {
				continue
			}
			seen[e.Fingerprint] = true
			e.RecordID, e.Use = r.ID, use
			out = append(out, e)
		}
	}
	return out
}

// idpExpiries lists the IdPs' signing certificates; expiry describes one
// (cached per certificate).
func idpExpiries(idps []sp.ResponseIdP, expiry func(source, owner string, c *x509.Certificate) Expiry) []Expiry {
	var out []Expiry
	for _, p := range idps {
		for _, c := range p.SigningCerts {
			out = append(out, expiry("idp", p.Name, c))
		}
	}
	return out
}

func certExpiry(source, owner string, c *x509.Certificate) Expiry {
	return Expiry{Source: source, Owner: owner, Subject: c.Subject.String(), Fingerprint: keys.FingerprintSHA256(c), NotAfter: c.NotAfter}
}

// checkExpiries lists the leaf certificates the mTLS checks' servers
// presented on their last run.
func checkExpiries(results []*mtls.Result) []Expiry {
	var out []Expiry
	for _, r := range results {
		if r == nil || len(r.ServerChain) == 0 {
			continue
		}
		leaf := r.ServerChain[0]
		out = append(out, Expiry{Source: "mtls_server", Owner: r.Check, Subject: leaf.Subject, NotAfter: leaf.NotAfter})
	}
	return out
}

// Expiries returns what the snapshot's certificates and the given check
// results expire, soonest first, keeping those expiring before now+within
// (within <= 0: all).
func (s *Snapshot) Expiries(checks []*mtls.Result, now time.Time, within time.Duration) []Expiry {
	all := append(append([]Expiry(nil), s.expiries...), checkExpiries(checks)...)
	out := all[:0]
	for _, e := range all {
		if within <= 0 || e.NotAfter.Before(now.Add(within)) {
			out = append(out, e)
		}
	}
	slices.SortStableFunc(out, func(a, b Expiry) int {
		return cmp.Or(a.NotAfter.Compare(b.NotAfter), cmp.Compare(a.Owner, b.Owner))
	})
	return out
}
