package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/keys"
	"github.com/samlkeyd/samlkeyd/secret"
	"github.com/samlkeyd/samlkeyd/store"
)

// The issue 12 build benchmarks. Stores are made once per benchmark
// process (adding 1,000 PKCS#12 records validates each: seconds); what is
// measured is a build, the way the daemon builds: "warm" with the serving
// snapshot as Previous (every rebuild), "cold" without (the first build).
//
//	go test ./daemon -run '^$' -bench 'Build(Records|AfterPropertyChange|IdPs)' -benchtime 20x -count 1

// benchStore is a store holding n records of one kind, made once.
type benchStore struct {
	once sync.Once
	st   *store.Store
	ids  []string
	err  error
}

var benchStores sync.Map // name → *benchStore

// recordStore returns a store with n records made by add (same content,
// distinct names), the signing and encryption properties on the first
// two when they are keystores.
func recordStore(b *testing.B, name string, n int, typ store.Type, data []byte) (*store.Store, []string) {
	b.Helper()
	v, _ := benchStores.LoadOrStore(name, &benchStore{})
	bs := v.(*benchStore)
	bs.once.Do(func() {
		dir, err := os.MkdirTemp("", "samlkeyd-bench-")
		if err != nil {
			bs.err = err
			return
		}
		ctx := context.Background()
		st, err := store.Open(ctx, store.Options{DataDir: dir, MasterKey: secret.FromString(strings.Repeat("ab", 32))})
		if err != nil {
			bs.err = err
			return
		}
		pw := secret.FromString("changeit")
		for i := range n {
			r := store.NewRecord{Name: fmt.Sprintf("%s %04d", name, i), Type: typ, Data: data}
			if typ == store.TypePKCS12 {
				r.Alias, r.StorePassword, r.KeyPassword = "saml2sp", pw, pw
			}
			rec, err := st.AddRecord(ctx, "bench", r)
			if err != nil {
				bs.err = err
				return
			}
			bs.ids = append(bs.ids, rec.ID)
		}
		if typ == store.TypePKCS12 {
			for prop, id := range map[string]string{store.PropSigningKeystore: bs.ids[0], store.PropEncryptionKeystore: bs.ids[1]} {
				if bs.err = st.SetProperty(ctx, "bench", prop, id); bs.err != nil {
					return
				}
			}
		}
		bs.st = st
	})
	if bs.err != nil {
		b.Fatalf("make store %s: %v", name, bs.err)
	}
	return bs.st, bs.ids
}

var (
	benchEntryOnce sync.Once
	benchEntry     *keys.Entry
)

// p12Blob is one RSA-2048 PKCS#12 keystore (RSA: the signing self-test
// and metadata want it); every record of a bench store holds it.
func p12Blob(b *testing.B) (p12, certPEM []byte) {
	benchEntryOnce.Do(func() {
		e, err := keys.Generate(keys.GenerateOptions{Alias: "saml2sp", KeyAlg: "RSA", KeySize: 2048, ValidityDays: 365, DName: "CN=bench"})
		if err != nil {
			b.Fatal(err)
		}
		benchEntry = e
	})
	pw := secret.FromString("changeit")
	data, err := (&keys.Keystore{Format: keys.FormatPKCS12, Entries: []*keys.Entry{benchEntry}}).Marshal(pw, pw)
	if err != nil {
		b.Fatal(err)
	}
	return data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: benchEntry.Chain[0].Raw})
}

// benchBuild measures Build of cfg on st, warm (Previous = the last
// snapshot) or cold.
func benchBuild(b *testing.B, cfg *config.Config, st Store, warm bool) {
	ctx := context.Background()
	prev, err := Build(ctx, cfg, st, BuildOptions{})
	if err != nil {
		b.Fatal(err)
	}
	if f := prev.Failed(); len(f) > 0 {
		b.Fatalf("failed components: %+v", f)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		o := BuildOptions{}
		if warm {
			o.Previous = prev
		}
		s, err := Build(ctx, cfg, st, o)
		if err != nil {
			b.Fatal(err)
		}
		prev = s
	}
}

// BenchmarkBuildRecords: 1,000 PKCS#12 records, two in use, against 1,000
// PEM trust records (issue 12: ≤ 1.5×, under 50 ms).
func BenchmarkBuildRecords(b *testing.B) {
	p12, certPEM := p12Blob(b)
	for _, warm := range []bool{true, false} {
		mode := map[bool]string{true: "warm", false: "cold"}[warm]
		b.Run("pkcs12-1000/"+mode, func(b *testing.B) {
			st, _ := recordStore(b, "p12-1000", 1000, store.TypePKCS12, p12)
			benchBuild(b, testConfig(), st, warm)
		})
		b.Run("pem-trust-1000/"+mode, func(b *testing.B) {
			st, _ := recordStore(b, "pem-1000", 1000, store.TypeTrustStoreCert, certPEM)
			benchBuild(b, testConfig(), st, warm)
		})
	}
}

// BenchmarkBuildAfterPropertyChange: the signing property switches
// between two records before each rebuild, with 1,000 and with 10 PKCS#12
// records (issue 12: ≤ 2×). Each rebuild opens the one record switched to.
func BenchmarkBuildAfterPropertyChange(b *testing.B) {
	p12, _ := p12Blob(b)
	for _, n := range []int{1000, 10} {
		b.Run(fmt.Sprintf("pkcs12-%d", n), func(b *testing.B) {
			st, ids := recordStore(b, fmt.Sprintf("p12-%d", n), n, store.TypePKCS12, p12)
			ctx := context.Background()
			cfg := testConfig()
			prev, err := Build(ctx, cfg, st, BuildOptions{})
			if err != nil {
				b.Fatal(err)
			}
			opens := 0
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				b.StopTimer() // the store's write (an fsync) is not the build
				if err := st.SetProperty(ctx, "bench", store.PropSigningKeystore, ids[2+i%2]); err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				s, err := Build(ctx, cfg, st, BuildOptions{Previous: prev, OnOpen: func(string) { opens++ }})
				if err != nil {
					b.Fatal(err)
				}
				prev = s
			}
			b.ReportMetric(float64(opens)/float64(b.N), "opens/op")
		})
	}
}

// idpAggregate is a ~1 MiB EntitiesDescriptor of n IdPs with one signing
// certificate each.
func idpAggregate(b *testing.B, certPEM []byte) (doc []byte, entities int) {
	block, _ := pem.Decode(certPEM)
	cert := base64.StdEncoding.EncodeToString(block.Bytes)
	var buf bytes.Buffer
	buf.WriteString(`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#">`)
	for buf.Len() < 1<<20 {
		fmt.Fprintf(&buf, `<md:EntityDescriptor entityID="https://idp%d.example.org/metadata"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">`+
			`<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`+
			`<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://idp%d.example.org/sso"/></md:IDPSSODescriptor></md:EntityDescriptor>`,
			entities, cert, entities)
		entities++
	}
	buf.WriteString(`</md:EntitiesDescriptor>`)
	return buf.Bytes(), entities
}

// BenchmarkBuildIdPs: 100 IdPs sharing one 1 MiB metadata_file against
// one IdP with it (issue 12: ≤ 1.5×).
func BenchmarkBuildIdPs(b *testing.B) {
	_, certPEM := p12Blob(b)
	doc, entities := idpAggregate(b, certPEM)
	file := filepath.Join(b.TempDir(), "aggregate.xml")
	if err := os.WriteFile(file, doc, 0o600); err != nil {
		b.Fatal(err)
	}
	st, _ := recordStore(b, "pem-10", 10, store.TypeTrustStoreCert, certPEM)
	for _, n := range []int{100, 1} {
		cfg := testConfig()
		base := cfg.IdPs[0]
		cfg.IdPs = nil
		for i := range n {
			p := base
			p.Name = fmt.Sprintf("idp%d", i)
			p.EntityID = fmt.Sprintf("https://idp%d.example.org/metadata", i*(entities/n))
			p.MetadataFile = file
			cfg.IdPs = append(cfg.IdPs, p)
		}
		for _, warm := range []bool{true, false} {
			mode := map[bool]string{true: "warm", false: "cold"}[warm]
			b.Run(fmt.Sprintf("idps-%d/%s", n, mode), func(b *testing.B) { benchBuild(b, cfg, st, warm) })
		}
	}
}
