package alert

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net"
	"net/mail"
	"net/smtp"
	"slices"
	"strings"
	"time"

	"github.com/samlkeyd/samlkeyd/secret"
)

// SMTPOptions configures an SMTP sink.
type SMTPOptions struct {
	Addr     string // host:port of the submission server
	From     string
	To       []string
	Username string       // empty = no AUTH
	Password secret.Value // for PLAIN auth
	// AllowPlaintext sends without STARTTLS when the server does not offer
	// it. Only for tests: without it, a server without STARTTLS is an error.
	AllowPlaintext bool
	TLS            *tls.Config   // nil = verify against the system roots with the host of Addr
	Timeout        time.Duration // whole delivery; 0 = 30s
	Now            func() time.Time
}

// SMTP e-mails alerts, one message per alert. It is safe for concurrent use:
// every Notify opens its own connection.
type SMTP struct {
	o    SMTPOptions
	host string
}

var _ Notifier = (*SMTP)(nil)

// ErrNoSTARTTLS is returned when the server does not offer STARTTLS and
// plaintext was not allowed.
var ErrNoSTARTTLS = errors.New("server does not offer STARTTLS")

// NewSMTP checks o and fills its defaults.
func NewSMTP(o SMTPOptions) (*SMTP, error) {
	host, _, err := net.SplitHostPort(o.Addr)
	if err != nil {
		return nil, fmt.Errorf("smtp addr %q: %w (want host:port, e.g. mail.example.org:587)", o.Addr, err)
	}
	if _, err := mail.ParseAddress(o.From); err != nil {
		return nil, fmt.Errorf("smtp from %q: %w", o.From, err)
	}
	if len(o.To) == 0 {
		return nil, errors.New("smtp to: no recipients")
	}
	for _, t := range o.To {
		if _, err := mail.ParseAddress(t); err != nil {
			return nil, fmt.Errorf("smtp to %q: %w", t, err)
		}
	}
	if o.Timeout <= 0 {
		o.Timeout = 30 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &SMTP{o: o, host: host}, nil
}

// Notify sends a as a plain-text e-mail.
func (s *SMTP) Notify(ctx context.Context, a Alert) error {
	if err := s.send(ctx, a); err != nil {
		return fmt.Errorf("smtp %s alert %q: %w", s.o.Addr, a.Key, err)
	}
	return nil
}

func (s *SMTP) send(ctx context.Context, a Alert) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.o.Addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	deadline, _ := ctx.Deadline()
	_ = conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	c, err := smtp.NewClient(conn, s.host)
	if err != nil {
		return err
	}
	defer c.Close()
	if ok, _ := c.Extension("STARTTLS"); ok {
		cfg := s.o.TLS.Clone()
		if cfg == nil {
			cfg = &tls.Config{}
		}
		if cfg.ServerName == "" {
			cfg.ServerName = s.host
		}
		if err := c.StartTLS(cfg); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	} else if !s.o.AllowPlaintext {
		return ErrNoSTARTTLS
	}
	if s.o.Username != "" {
		// net/smtp's PlainAuth refuses to send credentials unencrypted
		// except to localhost, which is what we want.
		pw := string(s.o.Password.Reveal())
		if err := c.Auth(smtp.PlainAuth("", s.o.Username, pw, s.host)); err != nil {
			return fmt.Errorf("auth as %q: %w", s.o.Username, err)
		}
	}
	if err := c.Mail(s.o.From); err != nil {
		return fmt.Errorf("mail from %q: %w", s.o.From, err)
	}
	for _, t := range s.o.To {
		if err := c.Rcpt(t); err != nil {
			return fmt.Errorf("rcpt to %q: %w", t, err)
		}
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if _, err := w.Write(s.message(a)); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return c.Quit()
}

// message renders a as an RFC 5322 message with CRLF line endings.
func (s *SMTP) message(a Alert) []byte {
	var b bytes.Buffer
	h := func(k, v string) { fmt.Fprintf(&b, "%s: %s\r\n", k, v) }
	h("From", s.o.From)
	h("To", strings.Join(s.o.To, ", "))
	h("Subject", mime.QEncoding.Encode("utf-8", fmt.Sprintf("[samlkeyd %s] %s", a.Severity, oneLine(a.Summary))))
	h("Date", s.o.Now().Format(time.RFC1123Z))
	h("MIME-Version", "1.0")
	h("Content-Type", "text/plain; charset=utf-8")
	h("Content-Transfer-Encoding", "8bit")
	h("X-Samlkeyd-Kind", oneLine(a.Kind))
	h("X-Samlkeyd-Key", oneLine(a.Key))
	b.WriteString("\r\n")
	var body strings.Builder
	fmt.Fprintf(&body, "%s\n\nkind: %s\nseverity: %s\ntime: %s\nkey: %s\n", a.Summary, a.Kind, a.Severity, a.Time.UTC().Format(time.RFC3339), a.Key)
	for _, k := range slices.Sorted(maps.Keys(a.Subject)) {
		fmt.Fprintf(&body, "%s: %s\n", k, a.Subject[k])
	}
	if a.Detail != "" {
		fmt.Fprintf(&body, "\n%s\n", a.Detail)
	}
	b.WriteString(strings.ReplaceAll(strings.ReplaceAll(body.String(), "\r", ""), "\n", "\r\n"))
	return b.Bytes()
}

// oneLine keeps header values on one line, so alert text cannot inject headers.
func oneLine(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '\r' || r == '\n' }), " ")
}

// String names the sink by its server address; it never shows the password.
func (s *SMTP) String() string { return "smtp " + s.o.Addr }

// GoString is String, for %#v.
func (s *SMTP) GoString() string { return s.String() }
