package alert_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/samlkeyd/samlkeyd/alert"
)

// A dispatcher with a log sink sends an alert once per key, however often
// the daemon's scan raises it.
func ExampleDispatcher() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}}))
	d := alert.NewDispatcher(alert.DispatcherOptions{
		Sinks:  []alert.Sink{{Name: "log", Notifier: alert.NewLogSink(logger)}},
		Ledger: &alert.MemoryLedger{},
	})
	a := alert.Alert{Key: "expiry:3f1c:168h0m0s", Kind: alert.KindExpiry, Severity: alert.SeverityWarning,
		Summary: "certificate CN=sp.example.com expires in 7 days", Subject: map[string]string{"record": "sp-signing"},
		Time: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)}
	for range 3 {
		if err := d.Send(context.Background(), a); err != nil {
			fmt.Println(err)
		}
	}
	d.Close(context.Background())
	// Output:
	// level=WARN msg="alert: certificate CN=sp.example.com expires in 7 days" kind=expiry severity=warning key=expiry:3f1c:168h0m0s subject.record=sp-signing
}

func ExampleLedgerFunc() {
	claimed := map[string]bool{}
	// In the daemon: alert.LedgerFunc(st.ClaimAlert).
	ledger := alert.LedgerFunc(func(_ context.Context, key string, _ time.Time) (bool, error) {
		first := !claimed[key]
		claimed[key] = true
		return first, nil
	})
	for _, k := range []string{"a", "a", "b"} {
		first, _ := ledger.Claim(context.Background(), k, time.Time{})
		fmt.Println(k, first)
	}
	// Output:
	// a true
	// a false
	// b true
}
