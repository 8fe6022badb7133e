package alert

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/samlkeyd/samlkeyd/secret"
)

// received is what the test SMTP server saw of one message.
type received struct {
	user, pass string
	tls        bool
	from       string
	to         []string
	data       []byte
}

type smtpBackend struct {
	mu   sync.Mutex
	msgs []received
}

func (b *smtpBackend) NewSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{b: b, c: c}, nil
}

func (b *smtpBackend) all() []received {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]received(nil), b.msgs...)
}

type smtpSession struct {
	b   *smtpBackend
	c   *smtp.Conn
	cur received
}

func (s *smtpSession) AuthMechanisms() []string { return []string{sasl.Plain} }
func (s *smtpSession) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != "alerts" || pass != "s3cret" {
			return errors.New("invalid credentials")
		}
		s.cur.user, s.cur.pass = user, pass
		return nil
	}), nil
}
func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.cur.from = from; return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.cur.to = append(s.cur.to, to)
	return nil
}
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.cur.data = b
	_, s.cur.tls = s.c.TLSConnectionState()
	s.b.mu.Lock()
	s.b.msgs = append(s.b.msgs, s.cur)
	s.b.mu.Unlock()
	return nil
}
func (s *smtpSession) Reset()        { s.cur = received{user: s.cur.user, pass: s.cur.pass} }
func (s *smtpSession) Logout() error { return nil }

// testCert makes a self-signed certificate for 127.0.0.1.
func testCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtp test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, pool
}

// startSMTP serves on 127.0.0.1, offering STARTTLS when cfg is not nil.
func startSMTP(t *testing.T, cfg *tls.Config) (*smtpBackend, string) {
	t.Helper()
	be := &smtpBackend{}
	s := smtp.NewServer(be)
	s.Domain = "localhost"
	s.TLSConfig = cfg
	s.AllowInsecureAuth = cfg == nil
	s.ReadTimeout, s.WriteTimeout = 10*time.Second, 10*time.Second
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close() })
	return be, l.Addr().String()
}

func TestSMTPDelivers(t *testing.T) {
	cert, pool := testCert(t)
	be, addr := startSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	now := time.Date(2027, 3, 1, 12, 0, 1, 0, time.UTC)
	s, err := NewSMTP(SMTPOptions{Addr: addr, From: "samlkeyd@example.org", To: []string{"ops@example.org", "sec@example.org"},
		Username: "alerts", Password: secret.FromString("s3cret"), TLS: &tls.Config{RootCAs: pool}, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	a := testAlert("expiry:ab12:168h0m0s")
	a.Summary = "certificate expires\r\nBcc: victim@example.org"
	if err := s.Notify(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	msgs := be.all()
	if len(msgs) != 1 {
		t.Fatalf("server received %d messages, want 1", len(msgs))
	}
	m := msgs[0]
	if !m.tls || m.user != "alerts" || m.pass != "s3cret" {
		t.Errorf("tls %v, auth %q/%q: want STARTTLS and PLAIN auth as alerts", m.tls, m.user, m.pass)
	}
	if m.from != "samlkeyd@example.org" || strings.Join(m.to, ",") != "ops@example.org,sec@example.org" {
		t.Errorf("envelope from %q to %q", m.from, m.to)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.data))
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{
		"From": "samlkeyd@example.org", "To": "ops@example.org, sec@example.org",
		"Subject": "[samlkeyd warning] certificate expires Bcc: victim@example.org",
		"Date":    "Mon, 01 Mar 2027 12:00:01 +0000", "X-Samlkeyd-Kind": "expiry", "X-Samlkeyd-Key": "expiry:ab12:168h0m0s",
		"Content-Type": "text/plain; charset=utf-8", "Bcc": "",
	} {
		got := msg.Header.Get(k)
		if k == "Subject" {
			got, _ = new(mime.WordDecoder).DecodeHeader(got)
		}
		if got != want {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	body, _ := io.ReadAll(msg.Body)
	for _, want := range []string{"kind: expiry", "severity: warning", "time: 2027-03-01T12:00:00Z", "record: sp-signing",
		"sha256: ab12", "threshold: 168h0m0s", "not after 2027-03-08T12:00:00Z"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
}

func TestSMTPErrors(t *testing.T) {
	cert, pool := testCert(t)
	_, tlsAddr := startSMTP(t, &tls.Config{Certificates: []tls.Certificate{cert}})
	plainBE, plainAddr := startSMTP(t, nil)
	for _, tc := range []struct {
		name    string
		o       SMTPOptions
		wantIs  error
		wantSub string
	}{
		{"no STARTTLS offered", SMTPOptions{Addr: plainAddr}, ErrNoSTARTTLS, ""},
		{"untrusted certificate", SMTPOptions{Addr: tlsAddr}, nil, "starttls"},
		{"wrong password", SMTPOptions{Addr: tlsAddr, Username: "alerts", Password: secret.FromString("nope"), TLS: &tls.Config{RootCAs: pool}}, nil, `auth as "alerts"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.From, tc.o.To = "samlkeyd@example.org", []string{"ops@example.org"}
			s, err := NewSMTP(tc.o)
			if err != nil {
				t.Fatal(err)
			}
			err = s.Notify(context.Background(), testAlert("k"))
			if err == nil || (tc.wantIs != nil && !errors.Is(err, tc.wantIs)) || !strings.Contains(err.Error(), tc.wantSub) {
				t.Fatalf("Notify = %v, want %v / %q", err, tc.wantIs, tc.wantSub)
			}
			if strings.Contains(err.Error(), "nope") {
				t.Errorf("error reveals the password: %v", err)
			}
		})
	}
	if n := len(plainBE.all()); n != 0 {
		t.Errorf("plaintext server received %d messages", n)
	}
	t.Run("plaintext allowed for tests", func(t *testing.T) {
		s, _ := NewSMTP(SMTPOptions{Addr: plainAddr, From: "samlkeyd@example.org", To: []string{"ops@example.org"}, AllowPlaintext: true})
		if err := s.Notify(context.Background(), testAlert("k")); err != nil {
			t.Fatal(err)
		}
		if n := len(plainBE.all()); n != 1 {
			t.Errorf("received %d messages, want 1", n)
		}
	})
}

func TestNewSMTPErrors(t *testing.T) {
	ok := SMTPOptions{Addr: "mail.example.org:587", From: "a@example.org", To: []string{"b@example.org"}}
	for _, tc := range []struct {
		name string
		edit func(*SMTPOptions)
	}{
		{"addr without port", func(o *SMTPOptions) { o.Addr = "mail.example.org" }},
		{"bad from", func(o *SMTPOptions) { o.From = "not an address" }},
		{"no recipients", func(o *SMTPOptions) { o.To = nil }},
		{"bad recipient", func(o *SMTPOptions) { o.To = []string{"x@"} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := ok
			tc.edit(&o)
			if _, err := NewSMTP(o); err == nil {
				t.Error("accepted")
			}
		})
	}
	if _, err := NewSMTP(ok); err != nil {
		t.Errorf("valid options: %v", err)
	}
}

func TestSMTPHangingServerReturnsOnCancel(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		c, err := l.Accept() // accept, never greet
		if err != nil {
			return
		}
		defer c.Close()
		cancel()
		_, _ = io.Copy(io.Discard, c)
	}()
	s, err := NewSMTP(SMTPOptions{Addr: l.Addr().String(), From: "a@example.org", To: []string{"b@example.org"}, Timeout: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Notify(ctx, testAlert("k")); err == nil {
		t.Fatal("Notify against a silent server succeeded")
	}
}
