package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samlkeyd/samlkeyd/alert"
)

// Component kinds. A snapshot is assembled from components, each with its
// own inputs and failure state; only a failed core fails a build.
const (
	KindCore      = "core"       // signing and encryption keys, metadata, the signing service
	KindIdP       = "idp"        // one per configured IdP
	KindProfile   = "profile"    // one per mTLS protocol profile
	KindCheck     = "check"      // one per mTLS check
	KindRotation  = "rotation"   // one per rotation policy (signing, encryption)
	KindAlerts    = "alerts"     // the alert sinks
	KindStore     = "store"      // the store's reachability (set by the daemon, not the build)
	KindIdPSource = "idp_source" // one per idp_sources entry (set by the sources loop, sources.go)
)

// Alert kinds of components.
const (
	alertComponentFailed    = "component_failed"
	alertComponentRecovered = "component_recovered"
)

// ComponentStatus is one component's state, as /readyz, `samlkeyd status`
// and samlkeyd_component_up report it. Error names the config field path
// and record when the cause is there.
type ComponentStatus struct {
	Kind  string    `json:"kind"`
	Name  string    `json:"name"`
	OK    bool      `json:"ok"`
	Error string    `json:"error,omitempty"`
	Since time.Time `json:"since"` // when it last turned ok or failed (or changed its error)
}

// status is the ComponentStatus of a component whose build gave err.
func status(kind, name string, err error, at time.Time) ComponentStatus {
	s := ComponentStatus{Kind: kind, Name: name, OK: err == nil, Since: at}
	if err != nil {
		s.Error = err.Error()
	}
	return s
}

type componentID struct{ kind, name string }

// components is the daemon's registry of component states: the serving
// snapshot's (replaced at every swap) and those the daemon sets itself
// (the store). A change of state is logged and alerted once per cause.
// It is safe for concurrent use.
type components struct {
	mu       sync.Mutex
	m        map[componentID]ComponentStatus
	onChange func(prev *ComponentStatus, cur ComponentStatus) // called outside the lock
}

func newComponents(onChange func(prev *ComponentStatus, cur ComponentStatus)) *components {
	return &components{m: map[componentID]ComponentStatus{}, onChange: onChange}
}

// set records one component's state: err nil is healthy. It is the hook
// for components the build does not own, e.g. set(KindStore, "store",
// err) from whatever watches the store.
func (c *components) set(kind, name string, err error, now time.Time) {
	c.apply([]ComponentStatus{status(kind, name, err, now)}, nil)
}

// replace records the statuses of a snapshot: every component of the
// kinds in owned that is not in list is forgotten (it is no longer
// configured).
func (c *components) replace(list []ComponentStatus, owned []string) {
	c.apply(list, owned)
}

func (c *components) apply(list []ComponentStatus, owned []string) {
	type change struct {
		prev *ComponentStatus
		cur  ComponentStatus
	}
	var changes []change
	c.mu.Lock()
	keep := map[componentID]bool{}
	for _, s := range list {
		id := componentID{s.Kind, s.Name}
		keep[id] = true
		prev, had := c.m[id]
		if had && prev.OK == s.OK && prev.Error == s.Error {
			continue // unchanged: keep its since
		}
		c.m[id] = s
		if had {
			p := prev
			changes = append(changes, change{&p, s})
		} else {
			changes = append(changes, change{nil, s})
		}
	}
	for id := range c.m {
		if !keep[id] && slices.Contains(owned, id.kind) {
			delete(c.m, id)
		}
	}
	c.mu.Unlock()
	if c.onChange != nil {
		for _, ch := range changes {
			c.onChange(ch.prev, ch.cur)
		}
	}
}

// list returns every component, by kind then name.
func (c *components) list() []ComponentStatus {
	if c == nil {
		return []ComponentStatus{}
	}
	c.mu.Lock()
	out := make([]ComponentStatus, 0, len(c.m))
	for _, s := range c.m {
		out = append(out, s)
	}
	c.mu.Unlock()
	slices.SortFunc(out, func(a, b ComponentStatus) int {
		return cmp.Or(cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Name, b.Name))
	})
	return out
}

func kindOrder(kind string) int {
	i := slices.Index([]string{KindCore, KindStore, KindToken, KindIdP, KindIdPSource, KindProfile, KindCheck, KindRotation, KindAlerts}, kind)
	if i < 0 {
		return 99
	}
	return i
}

// snapshotKinds are the kinds a build owns (KindStore is set apart).
var snapshotKinds = []string{KindCore, KindIdP, KindProfile, KindCheck, KindRotation, KindAlerts}

// SetComponent records the state of a component the snapshot build does
// not own (KindStore): err nil is healthy. /readyz, samlkeyd_component_up
// and the component_failed/component_recovered alerts follow it.
func (d *Daemon) SetComponent(kind, name string, err error) {
	d.components.set(kind, name, err, d.now())
}

// Components returns every component's state, by kind then name.
func (d *Daemon) Components() []ComponentStatus { return d.components.list() }

// componentChanged logs a component's change of state and alerts when it
// turns failed (once per component and cause) or heals.
func (d *Daemon) componentChanged(prev *ComponentStatus, cur ComponentStatus) {
	if prev == nil && cur.OK {
		return // a new healthy component is no news
	}
	if cur.OK {
		d.log.Info("component recovered", "kind", cur.Kind, "name", cur.Name)
	} else {
		d.log.Error("component failed", "kind", cur.Kind, "name", cur.Name, "err", cur.Error)
	}
	a, ok := componentAlert(prev, cur)
	if !ok || d.alerts == nil { // no dispatcher before the store is attached
		return
	}
	// Sending claims the alert in the store's ledger: never on the caller's
	// path, which may be a store call reporting the store down.
	alerts := d.alerts
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := alerts.Send(ctx, a); err != nil {
			d.log.Warn("component alert not sent", "kind", cur.Kind, "name", cur.Name, "err", err)
		}
	}()
}

// componentAlert is the alert for a change of state: component_failed
// keyed by component, cause and the hour the cause began (a restart or
// another replica seeing the same failure does not repeat it), and
// component_recovered keyed by the cause it recovered from.
func componentAlert(prev *ComponentStatus, cur ComponentStatus) (alert.Alert, bool) {
	subject := map[string]string{"kind": cur.Kind, "name": cur.Name}
	if !cur.OK {
		return alert.Alert{
			Key:      alertKey(alertComponentFailed, cur.Kind, cur.Name, errDigest(errors.New(cur.Error)), hourOf(cur.Since)),
			Kind:     alertComponentFailed,
			Severity: alert.SeverityCritical,
			Summary:  fmt.Sprintf("%s %q failed; the other components keep serving", cur.Kind, cur.Name),
			Detail:   cur.Error,
			Subject:  subject,
			Time:     cur.Since,
		}, true
	}
	if prev == nil || prev.OK {
		return alert.Alert{}, false
	}
	return alert.Alert{
		Key:      alertKey(alertComponentRecovered, cur.Kind, cur.Name, errDigest(errors.New(prev.Error)), hourOf(cur.Since)),
		Kind:     alertComponentRecovered,
		Severity: alert.SeverityInfo,
		Summary:  fmt.Sprintf("%s %q works again", cur.Kind, cur.Name),
		Subject:  subject,
		Time:     cur.Since,
	}, true
}

// componentCollector reports samlkeyd_component_up at scrape time.
type componentCollector struct{ c *components }

var descComponentUp = prometheus.NewDesc("samlkeyd_component_up",
	"1 when the component (core, store, token, idp, profile, check, rotation, alerts) works, 0 when it failed; see /readyz for the reason.",
	[]string{"kind", "name"}, nil)

func (componentCollector) Describe(ch chan<- *prometheus.Desc) { ch <- descComponentUp }

func (cc componentCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range cc.c.list() {
		v := 0.0
		if s.OK {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(descComponentUp, prometheus.GaugeValue, v, s.Kind, s.Name)
	}
}
