package mtls_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/mtls"
)

// Example shows what the daemon does at snapshot build and what `samlkeyd
// check run` does: bind a protocol profile to the keystore and trust-store
// records, build a check on it, schedule it, and run it now.
func Example() {
	// Stand-ins for the store's records: a partner server requiring client
	// certificates from our CA, our key entry, and the partner's root.
	partner, client, partnerRoot := examplePartner()
	defer partner.Close()

	profile, err := mtls.NewProfile(config.Profile{Name: "mhttps", Keystore: "Partner mTLS", DefaultPort: 443,
		TrustStore: []string{"Partner root"}}, client, []*x509.Certificate{partnerRoot})
	if err != nil {
		log.Fatal(err)
	}
	// config.Load parses each check's schedule; a check built in code
	// parses its own.
	every5m, err := config.ParseSchedule("@every 5m")
	if err != nil {
		log.Fatal(err)
	}
	check, err := mtls.NewCheck(config.Check{
		Name:           "partner",
		URL:            "mhttps://" + partner.Listener.Addr().String() + "/health",
		Schedule:       "@every 5m",
		ParsedSchedule: every5m,
		Timeout:        10 * time.Second,
	}, map[string]*mtls.Profile{profile.Name(): profile})
	if err != nil {
		log.Fatal(err)
	}

	sched := mtls.NewScheduler(mtls.SchedulerOptions{Recorder: &mtls.MemoryRecorder{Keep: 50}})
	if err := sched.Update([]*mtls.Check{check}); err != nil {
		log.Fatal(err)
	}
	sched.Start()
	defer func() { <-sched.Stop().Done() }()

	r, err := sched.RunNow(context.Background(), "partner")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("ok:", r.OK, "status:", r.Status, "client certificate requested:", r.ClientCertRequested)
	fmt.Println("acceptable CAs:", r.AcceptableCAs)
	// Output:
	// ok: true status: 200 client certificate requested: true
	// acceptable CAs: [CN=Example Client CA]
}

// examplePartner starts a TLS server that requires client certificates and
// returns it with a client key entry it accepts and the server's root.
func examplePartner() (*httptest.Server, *keys.Entry, *x509.Certificate) {
	serverRoot, serverRootKey := exampleCert("Example Server Root", nil, nil, true)
	serverLeaf, serverKey := exampleCert("127.0.0.1", serverRoot, serverRootKey, false)
	clientCA, clientCAKey := exampleCert("Example Client CA", nil, nil, true)
	clientLeaf, clientKey := exampleCert("samlkeyd", clientCA, clientCAKey, false)

	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "healthy")
	}))
	pool := x509.NewCertPool()
	pool.AddCert(clientCA)
	srv.TLS = &tls.Config{
		Certificates: []tls.Certificate{{Certificate: [][]byte{serverLeaf.Raw}, PrivateKey: serverKey}},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	return srv, &keys.Entry{Alias: "samlkeyd", Key: clientKey, Chain: []*x509.Certificate{clientLeaf, clientCA}}, serverRoot
}
