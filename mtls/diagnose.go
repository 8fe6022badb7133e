package mtls

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strings"
	"syscall"
	"time"
)

// TLS alert codes a server sends when it refuses a client certificate
// (RFC 8446 section 6.2).
const (
	alertHandshakeFailure       = 40
	alertBadCertificate         = 42
	alertUnsupportedCertificate = 43
	alertCertificateRevoked     = 44
	alertCertificateExpired     = 45
	alertCertificateUnknown     = 46
	alertUnknownCA              = 48
	alertAccessDenied           = 49
	alertProtocolVersion        = 70
	alertUnrecognizedName       = 112
	alertCertificateRequired    = 116
)

// failure carries what went wrong in a run and the facts needed to explain
// it in plain words.
type failure struct {
	check *Check
	res   *Result
	now   time.Time
	stage string
	err   error
	facts *handshakeFacts
	body  []byte
}

func (f *failure) set(stage string, err error) {
	f.stage, f.err = stage, err
	f.res.Stage = stage
}

func (f *failure) timedOut(ctx context.Context) bool {
	if errors.Is(f.err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return true
	}
	var ne net.Error
	return errors.As(f.err, &ne) && ne.Timeout()
}

func (f *failure) timeoutDiagnosis() string {
	what := map[string]string{
		StageDNS:     "the name server did not answer",
		StageConnect: "the TCP connection was not answered (a firewall may drop it)",
		StageTLS:     "the server accepted the TCP connection but never completed the TLS handshake",
		StageHTTP:    "the handshake completed but the server did not answer the HTTP request",
	}[f.stage]
	return fmt.Sprintf("timeout: no progress within the check's timeout of %s in the %s stage: %s", f.check.timeout, f.stage, what)
}

// diagnose explains f.err in plain words for the common failures.
func (f *failure) diagnose() string {
	c := f.check
	ourExpired := ""
	if leaf := c.profile.client.Leaf; f.now.After(leaf.NotAfter) {
		ourExpired = fmt.Sprintf("our client certificate %q expired at %s (renew the keystore of profile %q); ",
			leaf.Subject.String(), leaf.NotAfter.UTC().Format(time.RFC3339), c.profile.name)
	}
	if code, ok := remoteAlert(f.err); ok {
		return ourExpired + f.alertDiagnosis(code)
	}
	if errors.Is(f.err, errNotRequested) {
		return "the server never asked for a client certificate, so mutual TLS is not in effect at this URL: " +
			"check the URL and port, and that the server requires client certificates (nginx: ssl_verify_client on)"
	}
	var (
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
		dns *net.DNSError
	)
	switch {
	case errors.As(f.err, &ua):
		issuer := "an unknown issuer"
		if ua.Cert != nil {
			issuer = fmt.Sprintf("%q", ua.Cert.Issuer.String())
		}
		if n := len(f.res.ServerChain); n > 0 {
			issuer = fmt.Sprintf("%q", f.res.ServerChain[n-1].Issuer)
		}
		return fmt.Sprintf("our trust store lacks the server's root: the root authority is needed. The server's chain ends at %s; "+
			"add that root certificate as a trust-store record of profile %q%s",
			issuer, c.profile.name, trustHint(c.profile))
	case errors.As(f.err, &he):
		return fmt.Sprintf("hostname mismatch: the server's certificate is valid for %s, not %q; fix the URL host or set server_name in profile %q",
			certNames(he.Certificate), he.Host, c.profile.name)
	case errors.As(f.err, &cie):
		subj := ""
		if cie.Cert != nil {
			subj = fmt.Sprintf(" %q", cie.Cert.Subject.String())
		}
		switch cie.Reason {
		case x509.Expired:
			at := ""
			if cie.Cert != nil {
				if f.now.Before(cie.Cert.NotBefore) {
					return fmt.Sprintf("the server's certificate%s is not valid until %s (check the clocks)", subj, cie.Cert.NotBefore.UTC().Format(time.RFC3339))
				}
				at = " at " + cie.Cert.NotAfter.UTC().Format(time.RFC3339)
			}
			return fmt.Sprintf("the server's certificate%s expired%s; the partner must renew it", subj, at)
		default:
			return fmt.Sprintf("the server's certificate%s is not acceptable: %s", subj, cie.Error())
		}
	case errors.As(f.err, &dns):
		if dns.IsNotFound {
			return fmt.Sprintf("host %q not found in DNS: check the URL", c.host)
		}
		return fmt.Sprintf("DNS lookup of %q failed: %s", c.host, dns.Err)
	case errors.Is(f.err, syscall.ECONNREFUSED):
		return fmt.Sprintf("connection refused by %s: nothing listens on port %d (check the port in the URL; profile %q defaults to %d)",
			f.res.Address, c.port, c.profile.name, c.profile.defaultPort)
	case errors.Is(f.err, syscall.EHOSTUNREACH), errors.Is(f.err, syscall.ENETUNREACH):
		return fmt.Sprintf("%s is unreachable: check routing and firewalls", f.res.Address)
	case f.stage == StageHTTP && f.res.Status == 0 && (errors.Is(f.err, io.EOF) || errors.Is(f.err, io.ErrUnexpectedEOF) || errors.Is(f.err, syscall.ECONNRESET)):
		s := "the server closed the connection after the handshake without answering"
		if f.facts != nil && f.facts.requested {
			s += "; it may have refused our client certificate without a TLS alert. " + f.acceptableText()
		}
		return ourExpired + s
	case f.res.Status != 0 && (f.stage == StageHTTP || certErrorPage(f.body)):
		return ourExpired + f.statusDiagnosis()
	case f.stage == StageTLS:
		return ourExpired + "the TLS handshake failed: " + f.err.Error()
	}
	return ourExpired + fmt.Sprintf("the %s stage failed: %s", f.stage, f.err)
}

func (f *failure) alertDiagnosis(code uint8) string {
	name := strings.TrimPrefix(tls.AlertError(code).Error(), "tls: ")
	switch code {
	case alertBadCertificate, alertUnknownCA, alertCertificateUnknown, alertUnsupportedCertificate, alertAccessDenied, alertCertificateRevoked:
		return fmt.Sprintf("the server did not trust our client certificate (handshake alert %s). %s", name, f.acceptableText())
	case alertCertificateExpired:
		return fmt.Sprintf("the server says our client certificate has expired (handshake alert %s): our certificate is valid until %s",
			name, f.check.profile.client.Leaf.NotAfter.UTC().Format(time.RFC3339))
	case alertCertificateRequired:
		return fmt.Sprintf("the server requires a client certificate and did not get one (handshake alert %s). %s", name, f.acceptableText())
	case alertProtocolVersion:
		return fmt.Sprintf("no TLS version in common (handshake alert %s): profile %q requires at least %s",
			name, f.check.profile.name, tls.VersionName(f.check.profile.minVersion))
	case alertHandshakeFailure:
		s := fmt.Sprintf("the server found no cipher suite, signature algorithm or certificate in common (handshake alert %s)", name)
		if f.facts != nil && f.facts.supportErr != nil {
			s += ": " + f.facts.supportErr.Error()
		}
		return s
	case alertUnrecognizedName:
		return fmt.Sprintf("the server does not serve the name %q we asked for (handshake alert %s): set server_name in profile %q",
			f.check.serverName(), name, f.check.profile.name)
	}
	return fmt.Sprintf("the server aborted the handshake with alert %s", name)
}

// acceptableText lists the CAs the server named and says whether our issuer
// is among them.
func (f *failure) acceptableText() string {
	leaf := f.check.profile.client.Leaf
	ours := fmt.Sprintf("Our certificate %q is issued by %q", leaf.Subject.String(), leaf.Issuer.String())
	if f.facts == nil || !f.facts.requested {
		return ours + "."
	}
	if len(f.facts.acceptable) == 0 {
		return ours + "; the server named no acceptable CAs, so ask the partner which CA it trusts."
	}
	list := "The server accepts client certificates issued by: " + strings.Join(f.facts.acceptable, "; ") + ". "
	if f.facts.issuerOK {
		if f.now.After(leaf.NotAfter) {
			return list + ours + ", which is among them."
		}
		return list + ours + ", which is among them: the partner may check more than the issuer (revocation, subject, key usage)."
	}
	reason := ""
	if f.facts.supportErr != nil {
		reason = " (" + f.facts.supportErr.Error() + ")"
	}
	return list + ours + ", which is not among them" + reason + ": use a keystore issued by one of those CAs, or send the partner our issuer's certificate for their trust store."
}

// The pages nginx serves when ssl_verify_client refuses a certificate.
var (
	nginxCertError = []byte("The SSL certificate error")
	nginxNoCert    = []byte("No required SSL certificate was sent")
)

func certErrorPage(body []byte) bool {
	return bytes.Contains(body, nginxCertError) || bytes.Contains(body, nginxNoCert)
}

// statusDiagnosis explains an unexpected HTTP status; nginx reports client
// certificate failures as 400 pages after the handshake.
func (f *failure) statusDiagnosis() string {
	s := f.res.Status
	switch {
	case bytes.Contains(f.body, nginxCertError):
		return fmt.Sprintf("the server did not trust our client certificate (it answered %d: The SSL certificate error). %s", s, f.acceptableText())
	case bytes.Contains(f.body, nginxNoCert):
		return fmt.Sprintf("the server requires a client certificate and did not get one (it answered %d: No required SSL certificate was sent). %s", s, f.acceptableText())
	case s == 401 || s == 403:
		return fmt.Sprintf("the server answered %d after accepting the handshake: our certificate is trusted but not authorised for this path (expected %s)", s, f.check.expectText())
	}
	return fmt.Sprintf("the server answered %d, expected %s", s, f.check.expectText())
}

func trustHint(p *Profile) string {
	if p.roots == nil {
		return " (it uses the system roots now)"
	}
	return ""
}

func certNames(c *x509.Certificate) string {
	if c == nil {
		return "other names"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return fmt.Sprintf("no subject alternative names (subject %q)", c.Subject.String())
	}
	return "[" + strings.Join(names, ", ") + "]"
}

// remoteAlert returns the code of a TLS alert the server sent. crypto/tls
// reports a received alert as a *net.OpError with Op "remote error" whose Err
// is an unexported uint8 alert type; QUIC-style paths use tls.AlertError.
func remoteAlert(err error) (uint8, bool) {
	var ae tls.AlertError
	if errors.As(err, &ae) {
		return uint8(ae), true
	}
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Op == "remote error" && oe.Err != nil {
		if v := reflect.ValueOf(oe.Err); v.Kind() == reflect.Uint8 {
			return uint8(v.Uint()), true
		}
	}
	return 0, false
}

// dnNames renders the DER distinguished names of a CertificateRequest in
// RFC 2253 form; a name that does not parse is shown as hex.
func dnNames(ders [][]byte) []string {
	if len(ders) == 0 {
		return nil
	}
	out := make([]string, 0, len(ders))
	for _, d := range ders {
		out = append(out, dnName(d))
	}
	return out
}

func dnName(der []byte) string {
	var rdn pkix.RDNSequence
	rest, err := asn1.Unmarshal(der, &rdn)
	if err != nil || len(rest) != 0 {
		return fmt.Sprintf("<unparsable name %x>", der)
	}
	return rdn.String()
}

// issuerAccepted reports whether any certificate of chain is issued by one
// of the acceptable CAs (the test servers apply to
// a client chain); an empty list means the server accepts any issuer.
func issuerAccepted(chain []*x509.Certificate, acceptable [][]byte) bool {
	if len(acceptable) == 0 {
		return true
	}
	for _, c := range chain {
		for _, ca := range acceptable {
			if bytes.Equal(c.RawIssuer, ca) {
				return true
			}
		}
	}
	return false
}
