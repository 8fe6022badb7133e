package mtls

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/samlkeyd/samlkeyd/config"
)

// Stage names, in the order a check runs them.
const (
	StageDNS     = "dns"
	StageConnect = "connect"
	StageTLS     = "tls"
	StageHTTP    = "http"
	// StageTotal is the key of the whole run's duration in Result.Stages.
	StageTotal = "total"
)

// DefaultTimeout bounds a check whose config sets no timeout.
const DefaultTimeout = 10 * time.Second

// maxBody is how much of a response body a check reads: enough to recognise
// a server's certificate error page, never the whole body.
const maxBody = 4 << 10

// Check is one validated health check bound to its protocol profile. A
// Check is immutable; a config reload or key rotation builds a new one.
// It is safe for concurrent use.
type Check struct {
	// Now is the clock for Result.Start, certificate validity and server
	// chain verification; nil means time.Now.
	Now func() time.Time

	name     string
	rawURL   string
	profile  *Profile
	host     string // without brackets
	port     int
	target   *url.URL // the https URL requested
	method   string
	expect   []int // nil = any 2xx
	timeout  time.Duration
	spec     string
	schedule cron.Schedule
	headers  http.Header
}

// NewCheck validates cfg and binds it to a profile; it runs on
// cfg.ParsedSchedule, which config validation fills. A URL whose scheme is a
// profile name (mhttps://host[:port]/path) uses that profile and its default
// port; an https:// URL uses cfg.Profile and port 443.
func NewCheck(cfg config.Check, profiles map[string]*Profile) (*Check, error) {
	if cfg.Name == "" {
		return nil, errors.New("check: name is empty")
	}
	c := &Check{name: cfg.Name, rawURL: cfg.URL, timeout: cfg.Timeout, spec: cfg.Schedule}
	fail := func(field string, err error) (*Check, error) {
		return nil, fmt.Errorf("check %q %s: %w", cfg.Name, field, err)
	}
	u, err := url.Parse(cfg.URL)
	if err != nil {
		return fail("url", err)
	}
	if u.Host == "" || u.Hostname() == "" {
		return fail("url", fmt.Errorf("%q has no host: write it as mhttps://host[:port]/path", cfg.URL))
	}
	if u.User != nil {
		return fail("url", fmt.Errorf("%q carries user info: put credentials in headers", u.Redacted()))
	}
	scheme := strings.ToLower(u.Scheme)
	switch scheme {
	case "https":
		if cfg.Profile == "" {
			return fail("profile", errors.New("an https:// URL needs profile: naming a protocol profile"))
		}
		c.profile = profiles[cfg.Profile]
		if c.profile == nil {
			return fail("profile", fmt.Errorf("%w %q", ErrUnknownProfile, cfg.Profile))
		}
		c.port = 443
	case "http", "":
		return fail("url", fmt.Errorf("%q: plain http cannot carry a client certificate; use https:// with profile: or a profile scheme such as mhttps://", cfg.URL))
	default:
		c.profile = profiles[scheme]
		if c.profile == nil {
			return fail("url", fmt.Errorf("%w %q: the URL scheme must name a protocol profile", ErrUnknownProfile, scheme))
		}
		if cfg.Profile != "" && cfg.Profile != scheme {
			return fail("profile", fmt.Errorf("%q contradicts the URL scheme %q; drop profile: or use https://", cfg.Profile, scheme))
		}
		c.port = c.profile.defaultPort
	}
	c.host = u.Hostname()
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return fail("url", fmt.Errorf("port %q is out of range 1-65535", p))
		}
		c.port = n
	}
	c.target = &url.URL{Scheme: "https", Host: net.JoinHostPort(c.host, strconv.Itoa(c.port)), Path: u.Path, RawPath: u.RawPath, RawQuery: u.RawQuery}

	c.method = strings.ToUpper(cfg.Method)
	if c.method == "" {
		c.method = http.MethodGet
	}
	if !isToken(c.method) {
		return fail("method", fmt.Errorf("%q is not an HTTP method", cfg.Method))
	}
	for _, s := range cfg.ExpectStatus {
		if s < 100 || s > 599 {
			return fail("expect_status", fmt.Errorf("%d is not an HTTP status", s))
		}
	}
	c.expect = append([]int(nil), cfg.ExpectStatus...)
	if c.timeout < 0 {
		return fail("timeout", fmt.Errorf("%s is negative", c.timeout))
	}
	if c.timeout == 0 {
		c.timeout = DefaultTimeout
	}
	if c.schedule = cfg.ParsedSchedule; c.schedule == nil {
		return fail("schedule", fmt.Errorf("%q was not parsed: load the config with config.Load, or call Config.Validate on one built in code", cfg.Schedule))
	}
	c.headers = http.Header{}
	for k, v := range cfg.Headers {
		if !isToken(k) {
			return fail("headers", fmt.Errorf("%q is not a header name", k))
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return fail("headers", fmt.Errorf("value of %q contains a line break", k))
		}
		c.headers.Set(k, v)
	}
	return c, nil
}

// Name returns the check's name.
func (c *Check) Name() string { return c.name }

// URL returns the URL as configured.
func (c *Check) URL() string { return c.rawURL }

// Spec returns the schedule as configured.
func (c *Check) Spec() string { return c.spec }

// Profile returns the protocol profile the check dials with.
func (c *Check) Profile() *Profile { return c.profile }

// Timeout returns the bound on one run.
func (c *Check) Timeout() time.Duration { return c.timeout }

func (c *Check) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// serverName is the name the server's certificate must match; it is also
// sent as SNI unless it is an IP address.
func (c *Check) serverName() string {
	if c.profile.serverName != "" {
		return c.profile.serverName
	}
	return c.host
}

// CertInfo describes one certificate of the server's chain.
type CertInfo struct {
	Subject   string    `json:"subject"`
	Issuer    string    `json:"issuer"`
	NotBefore time.Time `json:"not_before"`
	NotAfter  time.Time `json:"not_after"`
	DNSNames  []string  `json:"dns_names,omitempty"`
	IPs       []string  `json:"ip_addresses,omitempty"`
}

// Result is what one run of a check found. It is persisted as JSON and
// printed by the CLI. Stages holds the latency of each stage that ran plus
// "total"; durations marshal as nanoseconds.
type Result struct {
	Check               string                   `json:"check"`
	Start               time.Time                `json:"start"`
	OK                  bool                     `json:"ok"`
	Stage               string                   `json:"stage,omitempty"`
	Stages              map[string]time.Duration `json:"stages"`
	Address             string                   `json:"address,omitempty"`
	TLSVersion          string                   `json:"tls_version,omitempty"`
	CipherSuite         string                   `json:"cipher_suite,omitempty"`
	ServerChain         []CertInfo               `json:"server_chain,omitempty"`
	ClientCertRequested bool                     `json:"client_cert_requested"`
	AcceptableCAs       []string                 `json:"acceptable_cas,omitempty"`
	OurIssuerAccepted   bool                     `json:"our_issuer_accepted"`
	Status              int                      `json:"status,omitempty"`
	Diagnosis           string                   `json:"diagnosis,omitempty"`
	Err                 string                   `json:"error,omitempty"`
}

// handshakeFacts collects what GetClientCertificate learns from the
// server's CertificateRequest.
type handshakeFacts struct {
	requested  bool
	acceptable []string
	issuerOK   bool
	supportErr error
}

// Run dials the check's URL, handshakes with the profile's client chain,
// verifies the server, sends the request and reads the status. It never
// returns nil; a failure is described in the Result. Run returns within the
// check's timeout (or earlier if ctx ends).
func (c *Check) Run(ctx context.Context) *Result {
	r := &Result{Check: c.name, Start: c.now(), Stages: map[string]time.Duration{}}
	began := time.Now()
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	f := &failure{check: c, res: r, now: r.Start}
	c.run(ctx, r, f)
	r.Stages[StageTotal] = time.Since(began)
	if f.err != nil {
		r.OK = false
		r.Err = f.err.Error()
		if f.timedOut(ctx) {
			r.Diagnosis = f.timeoutDiagnosis()
		} else {
			r.Diagnosis = f.diagnose()
		}
	}
	return r
}

func (c *Check) run(ctx context.Context, r *Result, f *failure) {
	// dns
	ips, err := c.resolve(ctx, r)
	if err != nil {
		f.set(StageDNS, err)
		return
	}
	// connect
	t := time.Now()
	var conn net.Conn
	var d net.Dialer
	for _, ip := range ips {
		addr := net.JoinHostPort(ip, strconv.Itoa(c.port))
		r.Address = addr
		conn, err = d.DialContext(ctx, "tcp", addr)
		if err == nil || ctx.Err() != nil {
			break
		}
	}
	r.Stages[StageConnect] = time.Since(t)
	if err != nil {
		f.set(StageConnect, err)
		return
	}
	defer conn.Close()

	// tls
	t = time.Now()
	facts := &handshakeFacts{}
	tc := tls.Client(conn, c.tlsConfig(facts))
	err = tc.HandshakeContext(ctx)
	r.Stages[StageTLS] = time.Since(t)
	r.ClientCertRequested = facts.requested
	r.AcceptableCAs = facts.acceptable
	r.OurIssuerAccepted = facts.requested && facts.issuerOK
	f.facts = facts
	if err != nil {
		var ve *tls.CertificateVerificationError
		if errors.As(err, &ve) {
			r.ServerChain = certInfos(ve.UnverifiedCertificates)
		}
		f.set(StageTLS, err)
		return
	}
	cs := tc.ConnectionState()
	r.TLSVersion = tls.VersionName(cs.Version)
	r.CipherSuite = tls.CipherSuiteName(cs.CipherSuite)
	r.ServerChain = certInfos(cs.PeerCertificates)

	// http: under TLS 1.3 a rejected client certificate surfaces here, on
	// the first read, so success is declared only after the round-trip.
	t = time.Now()
	status, body, err := c.roundTrip(ctx, tc)
	r.Stages[StageHTTP] = time.Since(t)
	r.Status = status
	if err != nil {
		if _, ok := remoteAlert(err); ok {
			f.set(StageTLS, fmt.Errorf("server rejected the handshake after it completed on our side: %w", err))
			return
		}
		f.set(StageHTTP, err)
		return
	}
	if !facts.requested {
		f.set(StageTLS, errNotRequested)
		return
	}
	if !c.statusOK(status) {
		f.body = body
		if certErrorPage(body) {
			// nginx finishes the handshake and reports a refused client
			// certificate as a 400 page: a tls failure in all but transport.
			f.set(StageTLS, fmt.Errorf("status %d: server reports a client certificate error", status))
			return
		}
		f.set(StageHTTP, fmt.Errorf("status %d, expected %s", status, c.expectText()))
		return
	}
	r.OK = true
}

var errNotRequested = errors.New("server did not request a client certificate")

func (c *Check) resolve(ctx context.Context, r *Result) ([]string, error) {
	if ip := net.ParseIP(c.host); ip != nil {
		return []string{c.host}, nil
	}
	t := time.Now()
	addrs, err := net.DefaultResolver.LookupIPAddr(ctx, c.host)
	r.Stages[StageDNS] = time.Since(t)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("lookup %s: no addresses", c.host)
	}
	ips := make([]string, len(addrs))
	for i, a := range addrs {
		ips[i] = a.String()
	}
	return ips, nil
}

func (c *Check) tlsConfig(facts *handshakeFacts) *tls.Config {
	p := c.profile
	return &tls.Config{
		MinVersion: p.minVersion,
		RootCAs:    p.roots,
		ServerName: c.serverName(),
		NextProtos: []string{"http/1.1"},
		Time:       c.now,
		// GetClientCertificate, not Certificates: with Certificates Go
		// silently sends nothing when our chain does not fit the request.
		// We always send ours and record why it might not fit.
		GetClientCertificate: func(cri *tls.CertificateRequestInfo) (*tls.Certificate, error) {
			facts.requested = true
			facts.acceptable = dnNames(cri.AcceptableCAs)
			facts.issuerOK = issuerAccepted(p.chain, cri.AcceptableCAs)
			facts.supportErr = cri.SupportsCertificate(&p.client)
			return &p.client, nil
		},
	}
}

func (c *Check) roundTrip(ctx context.Context, tc *tls.Conn) (int, []byte, error) {
	if dl, ok := ctx.Deadline(); ok {
		if err := tc.SetDeadline(dl); err != nil {
			return 0, nil, err
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = tc.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	req, err := http.NewRequestWithContext(ctx, c.method, c.target.String(), nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header = c.headers.Clone()
	if h := req.Header.Get("Host"); h != "" {
		req.Host = h
		req.Header.Del("Host")
	}
	if req.Header.Get("User-Agent") == "" {
		req.Header.Set("User-Agent", "samlkeyd-mtls-check")
	}
	req.Close = true
	if err := req.Write(tc); err != nil {
		return 0, nil, fmt.Errorf("write request: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(tc), req)
	if err != nil {
		return 0, nil, fmt.Errorf("read response: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	return resp.StatusCode, body, nil
}

func (c *Check) statusOK(s int) bool {
	if len(c.expect) == 0 {
		return s >= 200 && s <= 299
	}
	for _, e := range c.expect {
		if e == s {
			return true
		}
	}
	return false
}

func (c *Check) expectText() string {
	if len(c.expect) == 0 {
		return "2xx"
	}
	s := make([]string, len(c.expect))
	for i, e := range c.expect {
		s[i] = strconv.Itoa(e)
	}
	return strings.Join(s, " or ")
}

func certInfos(certs []*x509.Certificate) []CertInfo {
	out := make([]CertInfo, 0, len(certs))
	for _, c := range certs {
		ci := CertInfo{
			Subject:   c.Subject.String(),
			Issuer:    c.Issuer.String(),
			NotBefore: c.NotBefore.UTC(),
			NotAfter:  c.NotAfter.UTC(),
			DNSNames:  c.DNSNames,
		}
		for _, ip := range c.IPAddresses {
			ci.IPs = append(ci.IPs, ip.String())
		}
		out = append(out, ci)
	}
	return out
}

// isToken reports whether s is a non-empty RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", r) {
			return false
		}
	}
	return true
}

// Summary renders r for people, as `samlkeyd check run` prints it: one
// line of outcome, then the server's chain and the diagnosis when present.
func (r *Result) Summary() string {
	var b strings.Builder
	if r.OK {
		fmt.Fprintf(&b, "%s: ok, status %d in %s", r.Check, r.Status, r.Stages[StageTotal].Round(time.Millisecond))
	} else {
		fmt.Fprintf(&b, "%s: FAILED in the %s stage after %s", r.Check, r.Stage, r.Stages[StageTotal].Round(time.Millisecond))
	}
	if r.TLSVersion != "" {
		fmt.Fprintf(&b, " (%s, %s)", r.TLSVersion, r.CipherSuite)
	}
	b.WriteString("\n")
	for _, c := range r.ServerChain {
		fmt.Fprintf(&b, "  server certificate %s, expires %s\n", c.Subject, c.NotAfter.Format(time.RFC3339))
	}
	if r.ClientCertRequested {
		fmt.Fprintf(&b, "  client certificate requested; acceptable CAs: %s; our issuer accepted: %v\n",
			orNone(r.AcceptableCAs), r.OurIssuerAccepted)
	}
	if r.Diagnosis != "" {
		fmt.Fprintf(&b, "  diagnosis: %s\n", r.Diagnosis)
	}
	return b.String()
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none listed)"
	}
	return strings.Join(s, "; ")
}
