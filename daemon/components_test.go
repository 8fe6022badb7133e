package daemon

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/robfig/cron/v3"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/store"
)

// readyzBody fetches /readyz and decodes it.
func readyzBody(t *testing.T, h http.Handler) (int, readiness) {
	t.Helper()
	w := get(t, h, "/readyz")
	var r readiness
	if err := json.Unmarshal(w.Body.Bytes(), &r); err != nil {
		t.Fatalf("/readyz body %q: %v", w.Body, err)
	}
	return w.Code, r
}

func component(list []ComponentStatus, kind, name string) (ComponentStatus, bool) {
	i := slices.IndexFunc(list, func(c ComponentStatus) bool { return c.Kind == kind && c.Name == name })
	if i < 0 {
		return ComponentStatus{}, false
	}
	return list[i], true
}

// TestBrokenCheckDoesNotStopServe is the typo: a profile naming a
// record that does not exist. The daemon starts, metadata and signing
// work, the healthy check is scheduled, and the broken one is reported in
// /readyz and samlkeyd_component_up.
func TestBrokenCheckDoesNotStopServe(t *testing.T) {
	st := openStore(t)
	cfg := testConfig()
	cfg.Profiles = []config.Profile{
		{Name: "mhttps", Keystore: baseSigningID, DefaultPort: 443},
		{Name: "typo", Keystore: "letstestcbaa", DefaultPort: 443},
	}
	cfg.Checks = []config.Check{
		{Name: "good", URL: "mhttps://127.0.0.1/", Schedule: "@every 1h", ParsedSchedule: cron.Every(time.Hour), Timeout: time.Second},
		{Name: "partner", URL: "typo://127.0.0.1/", Schedule: "@every 1h", ParsedSchedule: cron.Every(time.Hour), Timeout: time.Second},
	}
	d := newDaemon(t, cfg, st)
	h := d.Handler()
	if w := get(t, h, "/saml/metadata"); w.Code != http.StatusOK {
		t.Fatalf("metadata: %d", w.Code)
	}
	if w := postJSON(t, h, "/api/v1/authn-requests", testToken, `{"idp":"corp","binding":"redirect"}`); w.Code != http.StatusOK {
		t.Fatalf("signing: %d %s", w.Code, w.Body)
	}
	var scheduled []string
	for _, e := range d.checks.List() {
		scheduled = append(scheduled, e.Name)
	}
	if !slices.Equal(scheduled, []string{"good"}) {
		t.Fatalf("scheduled checks = %v, want [good]", scheduled)
	}
	code, r := readyzBody(t, h)
	if code != http.StatusOK || !r.Ready {
		t.Fatalf("/readyz = %d %+v, want 200 ready", code, r)
	}
	c, ok := component(r.Components, KindCheck, "partner")
	if !ok || c.OK || !strings.Contains(c.Error, `profiles[1]: protocol profile "typo": keystore: no certificate record has id or name "letstestcbaa"`) || c.Since.IsZero() {
		t.Fatalf("/readyz partner = %+v, want failed naming profiles[1] and the record", c)
	}
	for _, want := range []struct{ kind, name string }{{KindCore, "core"}, {KindStore, "store"}, {KindCheck, "good"}, {KindProfile, "mhttps"}, {KindIdP, "corp"}, {KindAlerts, "sinks"}} {
		if c, ok := component(r.Components, want.kind, want.name); !ok || !c.OK {
			t.Errorf("/readyz %s %q = %+v, want ok", want.kind, want.name, c)
		}
	}
	body := get(t, h, "/metrics").Body.String()
	for _, want := range []string{
		`samlkeyd_component_up{kind="check",name="partner"} 0`,
		`samlkeyd_component_up{kind="check",name="good"} 1`,
		`samlkeyd_component_up{kind="core",name="core"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// fakeClock is a settable clock for the daemon.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestIdPMetadataExpiresOnFakeClock: an IdP whose metadata_file passes its
// validUntil is refused (idp_unavailable) from that instant, before any
// rebuild; other IdPs keep working, and the SP's own metadata is renewed
// on its timer by the rebuild that marks the IdP failed.
func TestIdPMetadataExpiresOnFakeClock(t *testing.T) {
	st := openStore(t)
	idp := newTestIdP(t, st)
	clock := &fakeClock{t: time.Now()}
	md := idp.idp.Metadata()
	md.ValidUntil = clock.now().Add(time.Hour)
	mdXML, err := xml.Marshal(md)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "corp.xml")
	if err := os.WriteFile(file, mdXML, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.IdPs[0].MetadataFile = file
	partner := cfg.IdPs[0]
	partner.Name, partner.EntityID, partner.MetadataFile = "partner", "https://partner.example.com/metadata", ""
	cfg.IdPs = append(cfg.IdPs, partner)
	d, err := New(context.Background(), Options{Config: cfg, Store: st, Logger: testLogger(t), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	h := d.Handler()
	metadata := get(t, h, "/saml/metadata").Body.Bytes()
	body := func(idpName, resp string) string {
		b, _ := json.Marshal(map[string]string{"idp": idpName, "saml_response": resp})
		return string(b)
	}
	if w := postJSON(t, h, "/api/v1/responses", testToken, body("corp", idp.respond(t, metadata, "_r1"))); w.Code != http.StatusOK {
		t.Fatalf("before expiry: %d %s", w.Code, w.Body)
	}

	clock.add(61 * time.Minute) // past the IdP's validUntil, no rebuild yet
	w := postJSON(t, h, "/api/v1/responses", testToken, body("corp", idp.respond(t, metadata, "_r2")))
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), `"idp_unavailable"`) || !strings.Contains(w.Body.String(), "expired") {
		t.Fatalf("after expiry, before a rebuild: %d %s", w.Code, w.Body)
	}
	if w := postJSON(t, h, "/api/v1/authn-requests", testToken, `{"idp":"partner","binding":"redirect"}`); w.Code != http.StatusOK {
		t.Fatalf("another IdP after the first expired: %d %s", w.Code, w.Body)
	}

	// The IdP's expiry is a refresh time: the next poll rebuilds and
	// reports it; a day later the SP metadata is renewed all the same.
	d.pollOnce(context.Background())
	_, r := readyzBody(t, h)
	if c, _ := component(r.Components, KindIdP, "corp"); c.OK || !strings.Contains(c.Error, "expired") {
		t.Fatalf("/readyz corp after the rebuild = %+v, want failed: expired", c)
	}
	if c, _ := component(r.Components, KindIdP, "partner"); !c.OK {
		t.Fatalf("/readyz partner = %+v, want ok", c)
	}
	first := d.Snapshot().Metadata.ValidUntil()
	clock.add(30 * time.Hour) // past the metadata's refresh time (half of valid_for 48h)
	d.pollOnce(context.Background())
	renewed := d.Snapshot().Metadata.ValidUntil()
	if !renewed.After(first) || !renewed.After(clock.now().Add(24*time.Hour)) {
		t.Fatalf("SP metadata validUntil %s (was %s) at %s: not renewed", renewed, first, clock.now())
	}
	if w := get(t, h, "/saml/metadata"); w.Code != http.StatusOK {
		t.Fatalf("metadata after renewal: %d", w.Code)
	}
}

// TestOneBuildAtStart: a daemon with a watched config file builds once
// at start; the watch being set up does not rebuild an unchanged file.
func TestOneBuildAtStart(t *testing.T) {
	st := openStore(t)
	file := filepath.Join(t.TempDir(), "samlkeyd.yaml")
	if err := os.WriteFile(file, []byte("sp:\n  entity_id: https://sp.example.com/one\n  base_url: https://sp.example.com\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var loads atomic.Int32
	load := func() (*config.Config, error) {
		loads.Add(1)
		return config.Load(config.LoadOptions{File: file, Env: func(string) (string, bool) { return "", false }})
	}
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(context.Background(), Options{Config: cfg, ConfigFile: file, LoadConfig: load, Store: st, Logger: testLogger(t), PollInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := newLoopbackListener()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx, ln) }()
	// Several poll intervals: the watch's Ready and the store poll have run.
	time.Sleep(300 * time.Millisecond)
	cancel()
	<-done
	if got := testutil.ToFloat64(d.metrics.builds); got != 1 {
		t.Fatalf("samlkeyd_snapshot_builds_total = %v after start with nothing changed, want 1", got)
	}
	if n := loads.Load(); n != 1 {
		t.Fatalf("config loaded %d times, want once", n)
	}
}

// TestComponentAlertsOncePerCause: a component turning failed alerts once
// per cause (a rebuild with the same cause does not repeat it, a new cause
// does), and once when it heals.
func TestComponentAlertsOncePerCause(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	hook, got := webhookReceiver(t, nil)
	withProfile := func(keystore string) *config.Config {
		cfg := testConfig()
		cfg.Alerts.Webhook = &config.Webhook{URL: hook.URL, Timeout: 5 * time.Second}
		cfg.Profiles = []config.Profile{{Name: "mhttps", Keystore: keystore, DefaultPort: 443}}
		cfg.Checks = []config.Check{{Name: "partner", URL: "mhttps://127.0.0.1/", Schedule: "@every 1h", ParsedSchedule: cron.Every(time.Hour), Timeout: time.Second}}
		return cfg
	}
	d := newDaemon(t, withProfile(baseSigningID), st)
	next := func(want string) map[string]any {
		t.Helper()
		select {
		case a := <-got:
			if a["kind"] != want {
				t.Fatalf("alert %v, want %s", a, want)
			}
			return a
		case <-time.After(10 * time.Second):
			t.Fatalf("no %s alert", want)
		}
		return nil
	}
	none := func(what string) {
		t.Helper()
		closeAndWait := time.After(300 * time.Millisecond)
		select {
		case a := <-got:
			t.Fatalf("%s: unexpected alert %v", what, a)
		case <-closeAndWait:
		}
	}
	for i, step := range []struct {
		keystore string
		want     []string // alert kinds, in any order
	}{
		{"letstestcbaa", []string{alertComponentFailed, alertComponentFailed}}, // the profile and its check
		{"letstestcbaa", nil}, // same cause: nothing
		{"letstestcbab", []string{alertComponentFailed, alertComponentFailed}}, // a new cause
		{baseSigningID, []string{alertComponentRecovered, alertComponentRecovered}},
		{baseSigningID, nil},
	} {
		if err := d.Rebuild(ctx, "config file", withProfile(step.keystore)); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		names := map[string]bool{}
		for _, k := range step.want {
			a := next(k)
			subject, _ := a["subject"].(map[string]any)
			names[subject["kind"].(string)+"/"+subject["name"].(string)] = true
		}
		if len(step.want) > 0 && (!names["profile/mhttps"] || !names["check/partner"]) {
			t.Fatalf("step %d: alerts for %v, want the profile and the check", i, names)
		}
		none("step " + string(rune('0'+i)))
	}
}

// TestPropertyChangeReopensOnlyTheTouchedKeystore counts the records a
// rebuild opens: a property switched to a new record opens that record
// only; a rebuild with nothing changed opens none.
func TestPropertyChangeReopensOnlyTheTouchedKeystore(t *testing.T) {
	st := openStore(t)
	ctx := context.Background()
	for i := range 5 { // records not in use are never opened
		addKeystore(t, st, "unused "+string(rune('a'+i)), "EC", 256)
	}
	d := newDaemon(t, testConfig(), st)
	var mu sync.Mutex
	var opened []string
	d.opened = func(id string) { mu.Lock(); opened = append(opened, id); mu.Unlock() }
	take := func() []string { mu.Lock(); defer mu.Unlock(); o := opened; opened = nil; return o }

	if err := d.Rebuild(ctx, "store", nil); err != nil {
		t.Fatal(err)
	}
	if o := take(); len(o) != 0 {
		t.Fatalf("a rebuild with nothing changed opened %v", o)
	}
	id := addKeystore(t, st, "New signing", "RSA", 2048)
	if err := st.SetProperty(ctx, "test", store.PropSigningKeystore, id); err != nil {
		t.Fatal(err)
	}
	if err := d.Rebuild(ctx, "store", nil); err != nil {
		t.Fatal(err)
	}
	if o := take(); !slices.Equal(o, []string{id}) {
		t.Fatalf("a signing property change opened %v, want only %s", o, id)
	}
	if got := d.Snapshot().Keys.Signing[0].RecordID; got != id {
		t.Fatalf("signing key %s, want %s", got, id)
	}
	// A config edit that touches no record opens nothing.
	cfg := testConfig()
	cfg.SP.EntityID = "https://sp.example.com/other"
	if err := d.Rebuild(ctx, "config file", cfg); err != nil {
		t.Fatal(err)
	}
	if o := take(); len(o) != 0 {
		t.Fatalf("an entity id edit opened %v", o)
	}
}

// failingStore is a store whose reads fail while down is set.
type failingStore struct {
	*store.Store
	down atomic.Bool
}

var errStoreDown = errors.New("store unreachable")

func (s *failingStore) ChangeCounter(ctx context.Context) (int64, error) {
	if s.down.Load() {
		return 0, errStoreDown
	}
	return s.Store.ChangeCounter(ctx)
}

// TestMetadataRenewedWhileRebuildsFail: with the store down, no rebuild
// builds, and the SP metadata is still renewed on its timer from the
// serving core.
func TestMetadataRenewedWhileRebuildsFail(t *testing.T) {
	st := &failingStore{Store: openStore(t)}
	clock := &fakeClock{t: time.Now()}
	d, err := New(context.Background(), Options{Config: testConfig(), Store: st, Logger: testLogger(t), Now: clock.now})
	if err != nil {
		t.Fatal(err)
	}
	first := d.Snapshot().Metadata.ValidUntil()
	st.down.Store(true)
	clock.add(30 * time.Hour) // past the refresh time (half of valid_for 48h)
	if err := d.Rebuild(context.Background(), "refresh", nil); !errors.Is(err, errStoreDown) {
		t.Fatalf("rebuild with the store down: %v", err)
	}
	h := d.Handler()
	if code, r := readyzBody(t, h); code != http.StatusOK || r.Components[0].Kind != KindCore || r.Components[0].OK ||
		!strings.Contains(r.Components[0].Error, errStoreDown.Error()) {
		t.Fatalf("/readyz after a failed core rebuild: %d %+v, want ready with the core failed", code, r.Components)
	}
	renewed := d.Snapshot().Metadata.ValidUntil()
	if !renewed.After(clock.now().Add(24 * time.Hour)) {
		t.Fatalf("SP metadata validUntil %s (was %s) at %s: not renewed", renewed, first, clock.now())
	}
	clock.add(30 * time.Hour) // the timer alone renews it again
	d.renewMetadata()
	if again := d.Snapshot().Metadata.ValidUntil(); !again.After(clock.now().Add(24 * time.Hour)) {
		t.Fatalf("SP metadata validUntil %s at %s: not renewed by the timer", again, clock.now())
	}
	if got := testutil.ToFloat64(d.metrics.builds); got != 1 {
		t.Fatalf("builds_total = %v, want 1: renewals are not builds", got)
	}
	st.down.Store(false)
	if err := d.Rebuild(context.Background(), "store", nil); err != nil {
		t.Fatal(err)
	}
	if _, r := readyzBody(t, h); !r.Components[0].OK {
		t.Fatalf("/readyz after the core rebuilt: %+v", r.Components[0])
	}
}

// TestStoreComponentHook: the store's state, set by whatever watches the
// store, shows in /readyz and samlkeyd_component_up, stays through
// rebuilds (a build does not own it), and does not make the daemon unready.
func TestStoreComponentHook(t *testing.T) {
	st := openStore(t)
	d := newDaemon(t, testConfig(), st)
	h := d.Handler()
	d.SetComponent(KindStore, "store", errStoreDown)
	if err := d.Rebuild(context.Background(), "store", nil); err != nil {
		t.Fatal(err)
	}
	code, r := readyzBody(t, h)
	if c, _ := component(r.Components, KindStore, "store"); code != http.StatusOK || c.OK || c.Error != errStoreDown.Error() {
		t.Fatalf("/readyz %d store = %+v, want ready with the store failed", code, c)
	}
	if body := get(t, h, "/metrics").Body.String(); !strings.Contains(body, `samlkeyd_component_up{kind="store",name="store"} 0`) {
		t.Fatal("/metrics lacks the failed store")
	}
	d.SetComponent(KindStore, "store", nil)
	if _, r := readyzBody(t, h); !r.Components[1].OK || r.Components[1].Kind != KindStore {
		t.Fatalf("/readyz after recovery: %+v", r.Components)
	}
}

// TestIdPReuseFollowsTheFile: an IdP component is reused while its
// metadata_file is unchanged, and rebuilt when the file changes.
func TestIdPReuseFollowsTheFile(t *testing.T) {
	st := openStore(t)
	idp := newTestIdP(t, st)
	mdXML, err := xml.Marshal(idp.idp.Metadata())
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "corp.xml")
	if err := os.WriteFile(file, mdXML, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.IdPs[0].MetadataFile = file
	d := newDaemon(t, cfg, st)
	ctx := context.Background()
	first := d.Snapshot()
	if err := d.Rebuild(ctx, "store", nil); err != nil {
		t.Fatal(err)
	}
	if d.Snapshot().Responses != first.Responses {
		t.Fatal("an unchanged IdP's response validation was rebuilt")
	}
	other := strings.Replace(string(mdXML), idpEntity, "https://elsewhere.example.com/metadata", 1)
	if err := os.WriteFile(file, []byte(other), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := d.Rebuild(ctx, "config file", nil); err != nil {
		t.Fatal(err)
	}
	if d.Snapshot().Responses == first.Responses {
		t.Fatal("the IdP was reused after its metadata_file changed")
	}
	if f := d.Snapshot().Failed(); len(f) != 1 || f[0].Kind != KindIdP || !strings.Contains(f[0].Error, "no EntityDescriptor") {
		t.Fatalf("failed components after the file changed: %+v", f)
	}
}
