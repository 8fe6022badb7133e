package web

import (
	"encoding/json"
	"time"
)

// Public is what the public page at GET / shows an IdP admin: only facts
// the SP publishes anyway. The daemon fills it from one snapshot; every
// field is a plain value so the page cannot reach for anything else.
type Public struct {
	// Now is when the view was taken; "expires in N days" counts from it.
	Now         time.Time  `json:"generated_at"`
	EntityID    string     `json:"entity_id"`
	MetadataURL string     `json:"metadata_url"` // absolute, as IdP admins paste it
	CertsURL    string     `json:"certs_url,omitempty"`
	ACS         []Endpoint `json:"acs"`
	SLO         []Endpoint `json:"slo,omitempty"`
	// IdPs lists the signature algorithm the SP uses towards each IdP.
	IdPs []IdPAlgorithm `json:"idps,omitempty"`
	// Certs is every published certificate, signing first, each use
	// current, next, previous.
	Certs []Cert `json:"certificates"`
}

// Endpoint is one ACS or SLO endpoint.
type Endpoint struct {
	Binding          string `json:"binding"` // post, redirect, artifact or a binding URN
	Location         string `json:"location"`
	ResponseLocation string `json:"response_location,omitempty"`
	Index            int    `json:"index"`
	Default          bool   `json:"default,omitempty"`
}

// IdPAlgorithm names the signature algorithm the SP signs with for one IdP.
type IdPAlgorithm struct {
	Name               string `json:"name"`
	EntityID           string `json:"entity_id,omitempty"`
	SignatureAlgorithm string `json:"signature_algorithm"` // rsa-sha256, …
}

// Cert is one published certificate, as a card.
type Cert struct {
	Use          string    `json:"use"`   // signing or encryption
	State        string    `json:"state"` // current, next or previous
	Subject      string    `json:"subject"`
	Issuer       string    `json:"issuer"`
	Serial       string    `json:"serial"`
	KeyAlgorithm string    `json:"key_algorithm,omitempty"`
	SHA1         string    `json:"sha1"`   // colon form: "AB:CD:…", as IdP consoles show it
	SHA256       string    `json:"sha256"` // colon form
	NotBefore    time.Time `json:"not_before"`
	NotAfter     time.Time `json:"not_after"`
	PEMURL       string    `json:"pem_url"`
	DERURL       string    `json:"der_url"`
	// UsedFrom is, for a next certificate, about when it becomes current
	// (the earliest promotion); zero when not known.
	UsedFrom time.Time `json:"used_from,omitzero"`
}

// Admin is what the operator page at GET /admin and GET /api/v1/status
// show. The daemon fills it from one snapshot plus what the store holds
// (rotation state, check results, audit log); web only lays it out.
type Admin struct {
	Now time.Time `json:"generated_at"`
	// Thresholds are the expiry alert thresholds (alerts.thresholds);
	// they colour the expiry list.
	Thresholds []Duration   `json:"alert_thresholds"`
	Components []Component  `json:"components"`
	Rotation   []Rotation   `json:"rotation"`
	Checks     []Check      `json:"checks"`
	Expiry     []Expiry     `json:"expiry"`
	Audit      []AuditEntry `json:"audit"`
	Deprecated []Deprecated `json:"deprecated_algorithms"`
}

// Component is the health of one part of the snapshot (core, an IdP, a
// check, a sink, a rotation policy).
type Component struct {
	Kind  string    `json:"kind"`
	Name  string    `json:"name"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since,omitzero"` // when it entered this state
}

// Rotation is the rollover state of one use's keys.
type Rotation struct {
	Use  string        `json:"use"` // signing or encryption
	Keys []RotationKey `json:"keys"`
	// NextStep is what the rollover does next (none, generate_next,
	// promote, deactivate) and why.
	NextStep       string `json:"next_step,omitempty"`
	NextStepReason string `json:"next_step_reason,omitempty"`
	// PromoteFrom is the earliest time the next key can be promoted (once
	// every IdP has fetched it); PromoteBy when it is promoted regardless.
	PromoteFrom time.Time  `json:"promote_from,omitzero"`
	PromoteBy   time.Time  `json:"promote_by,omitzero"`
	Fetches     []IdPFetch `json:"idp_fetches,omitempty"`
}

// RotationKey is one key of a rollover.
type RotationKey struct {
	ID          string    `json:"id"`
	Name        string    `json:"name,omitempty"`
	State       string    `json:"state"` // next, active, retired, inactive
	SHA256      string    `json:"sha256,omitempty"`
	NotBefore   time.Time `json:"not_before,omitzero"`
	NotAfter    time.Time `json:"not_after"`
	PublishedAt time.Time `json:"published_at,omitzero"`
	PromotedAt  time.Time `json:"promoted_at,omitzero"`
	RetiredAt   time.Time `json:"retired_at,omitzero"`
}

// IdPFetch says whether one IdP has fetched the metadata since the next key
// was published, and when it last fetched.
type IdPFetch struct {
	IdP         string    `json:"idp"`
	FetchedNext bool      `json:"fetched_next"`
	LastFetch   time.Time `json:"last_fetch,omitzero"`
}

// Check is one scheduled mTLS check with its last result and history.
type Check struct {
	Name     string     `json:"name"`
	URL      string     `json:"url"`
	Profile  string     `json:"profile,omitempty"`
	Schedule string     `json:"schedule,omitempty"`
	Last     *CheckRun  `json:"last,omitempty"`
	History  []CheckRun `json:"history,omitempty"` // newest first
}

// CheckRun is one run of a check.
type CheckRun struct {
	Start time.Time `json:"start"`
	OK    bool      `json:"ok"`
	// Stage is the stage that failed (dns, connect, handshake, …).
	Stage     string  `json:"stage,omitempty"`
	Stages    []Stage `json:"stages,omitempty"` // in the order they ran
	Status    int     `json:"status,omitempty"`
	Diagnosis string  `json:"diagnosis,omitempty"` // plain words
	Error     string  `json:"error,omitempty"`
}

// Stage is the latency of one stage of a check run.
type Stage struct {
	Name     string   `json:"name"`
	Duration Duration `json:"duration"`
}

// Expiry is one certificate the daemon watches for expiry.
type Expiry struct {
	Kind     string    `json:"kind"` // signing key, encryption key, IdP signing certificate, mTLS client, trust anchor
	Name     string    `json:"name"`
	Subject  string    `json:"subject,omitempty"`
	SHA256   string    `json:"sha256,omitempty"`
	NotAfter time.Time `json:"not_after"`
}

// AuditEntry is one line of the audit log.
type AuditEntry struct {
	At     time.Time `json:"at"`
	Actor  string    `json:"actor"`
	Action string    `json:"action"`
	Object string    `json:"object"`
	Before string    `json:"before,omitempty"`
	After  string    `json:"after,omitempty"`
}

// Deprecated counts messages signed with a deprecated algorithm, per IdP.
type Deprecated struct {
	IdP       string `json:"idp"`
	Algorithm string `json:"algorithm"`
	Count     int64  `json:"count"`
}

// Duration is a time.Duration that marshals to JSON as Go's duration text
// ("720h0m0s", "12.5ms"), which people and time.ParseDuration both read.
type Duration time.Duration

// String formats d as time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a JSON string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}
