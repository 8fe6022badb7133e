package daemon

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/sp"
)

// tamperCiphertext strips the Response's signature and replaces the
// assertion's content ciphertext with random bytes of the same length:
// what a padding-oracle probe sends.
func tamperCiphertext(t *testing.T, samlResponse string) string {
	t.Helper()
	raw, err := base64.StdEncoding.DecodeString(samlResponse)
	if err != nil {
		t.Fatal(err)
	}
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(raw); err != nil {
		t.Fatal(err)
	}
	root := doc.Root()
	if sig := root.SelectElement("Signature"); sig != nil {
		root.RemoveChild(sig)
	}
	cv := root.FindElement("./EncryptedAssertion/EncryptedData/CipherData/CipherValue")
	if cv == nil {
		t.Fatal("no EncryptedData/CipherData/CipherValue in the response")
	}
	ct, err := base64.StdEncoding.DecodeString(cv.Text())
	if err != nil {
		t.Fatal(err)
	}
	_, _ = rand.Read(ct)
	cv.SetText(base64.StdEncoding.EncodeToString(ct))
	out, err := doc.WriteToBytes()
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(out)
}

// TestDecryptFailureBurstAlert: opaque decryption failures of one IdP
// count in samlkeyd_response_failures_total{check="decrypt"}; more than
// alerts.decrypt_failure_burst of them within 5 minutes raise one
// decrypt_failures warning per hour, on a fake clock.
func TestDecryptFailureBurstAlert(t *testing.T) {
	st := openStore(t)
	idp := newTestIdP(t, st)
	srv, got := webhookReceiver(t, nil)
	cfg := testConfig()
	cfg.IdPs[0].SigningCerts = []string{"Corp IdP signing"}
	cfg.IdPs[0].EncryptAssertion = true
	cfg.Alerts.Webhook = &config.Webhook{URL: srv.URL}
	cfg.Alerts.DecryptFailureBurst = 3
	var mu sync.Mutex
	now := time.Now().UTC().Truncate(time.Hour).Add(time.Hour + time.Minute) // the next hour: the steps below stay in one
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); defer mu.Unlock(); now = now.Add(d) }
	d, err := New(context.Background(), Options{Config: cfg, Store: st, Logger: testLogger(t), Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	h := d.Handler()
	probe := tamperCiphertext(t, idp.respond(t, get(t, h, "/saml/metadata").Body.Bytes(), "_req1"))
	body, _ := json.Marshal(map[string]string{"idp": "corp", "saml_response": probe, "request_id": "_req1"})
	fail := func(n int, every time.Duration) {
		t.Helper()
		for range n {
			w := postJSON(t, h, "/api/v1/responses", testToken, string(body))
			var e apiError
			_ = json.Unmarshal(w.Body.Bytes(), &e)
			if w.Code != http.StatusUnprocessableEntity || e.Error != sp.CheckDecrypt || e.Detail != sp.ErrResponseOpaque.Error() {
				t.Fatalf("probe: %d %+v, want 422 decrypt with the opaque detail", w.Code, e)
			}
			advance(every)
		}
	}
	fail(3, time.Minute)     // 3 in 3 minutes: not more than 3
	advance(5 * time.Minute) // the window slides past them
	fail(3, time.Minute)     // 3 again
	var alerted []time.Time
	alerted = append(alerted, clock())
	fail(1, time.Second)  // the 4th within 5 minutes
	fail(10, time.Second) // the same hour: no second alert
	advance(time.Hour)
	alerted = append(alerted, clock())
	fail(4, 0) // the next hour: alerts again

	closeCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	d.alerts.Close(closeCtx) // delivers what was queued
	for i, at := range alerted {
		select {
		case a := <-got:
			subj, _ := a["subject"].(map[string]any)
			if a["kind"] != "decrypt_failures" || a["severity"] != "warning" || subj["idp"] != "corp" ||
				a["key"] != alertKey("decrypt_failures", "corp", hourOf(at)) || a["time"] != at.Format(time.RFC3339) {
				t.Fatalf("alert %d: %v, want decrypt_failures for corp at %s", i, a, at)
			}
		default:
			t.Fatalf("alert %d (at %s) was not sent", i, at)
		}
	}
	select {
	case a := <-got:
		t.Fatalf("an alert too many: %v", a)
	default:
	}
	if n := testutil.ToFloat64(d.metrics.responseFails.WithLabelValues("corp", sp.CheckDecrypt)); n != 21 {
		t.Errorf("samlkeyd_response_failures_total{idp=corp,check=decrypt} = %v, want 21", n)
	}
}

// TestResponseFailuresUnknownIdP: a name that is no IdP is counted with an
// empty idp label, so API callers cannot add series.
func TestResponseFailuresUnknownIdP(t *testing.T) {
	d := newDaemon(t, testConfig(), openStore(t))
	h := d.Handler()
	for _, name := range []string{"nope-1", "nope-2"} {
		body, _ := json.Marshal(map[string]string{"idp": name, "saml_response": "PHg+"})
		if w := postJSON(t, h, "/api/v1/responses", testToken, string(body)); w.Code != http.StatusNotFound {
			t.Fatalf("unknown idp: %d %s", w.Code, w.Body)
		}
	}
	if n := testutil.ToFloat64(d.metrics.responseFails.WithLabelValues("", sp.CheckUnknownIdP)); n != 2 {
		t.Errorf("failures{idp=\"\",check=unknown_idp} = %v, want 2", n)
	}
	if n := testutil.CollectAndCount(d.metrics.responseFails); n != 1 {
		t.Errorf("%d series, want 1", n)
	}
}
