package config_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/samlkeyd/samlkeyd/config"
)

func ExampleParse() {
	c, err := config.Parse([]byte(`
listen: 127.0.0.1:9090
sp:
  metadata: {valid_for: 72h}
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.SP.EntityID)
	fmt.Println(c.SP.ACS[0].Location, c.SP.Metadata.ValidFor, c.SP.Metadata.CacheDuration)
	// Output:
	// http://127.0.0.1:9090/saml/metadata
	// http://127.0.0.1:9090/saml/acs 72h0m0s 24h0m0s
}

func ExampleParse_problems() {
	_, err := config.Parse([]byte(`
idps:
  - name: corp
    entity_id: https://idp.example.com/metadata
    sso: {binding: post, location: "http://idp.example.com/sso"}
    signature_algorithm: rsa-md5
`))
	for _, p := range config.Problems(err) {
		fmt.Println(p)
	}
	// Output:
	// idps[0].sso.location: must be an https URL (set allow_http: true only for tests)
	// idps[0].signature_algorithm: unknown signature algorithm "rsa-md5": use rsa-sha256, rsa-sha384, rsa-sha512, ecdsa-sha256, ecdsa-sha384, ecdsa-sha512 or their XML-DSig URIs (rsa-sha1 only if the IdP cannot do better)
}

func ExampleLoad() {
	env := map[string]string{"SAMLKEYD_LISTEN": "127.0.0.1:9443", "SAMLKEYD_SP_BASE_URL": "https://sp.example.com"}
	c, err := config.Load(config.LoadOptions{
		File: "", // defaults, environment and flags only
		Env:  func(k string) (string, bool) { v, ok := env[k]; return v, ok },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(c.Listen, c.SP.EntityID)
	// Output: 127.0.0.1:9443 https://sp.example.com/saml/metadata
}

func ExampleWatch() {
	dir, _ := os.MkdirTemp("", "samlkeyd-example")
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "samlkeyd.yaml")
	_ = os.WriteFile(file, []byte("listen: 127.0.0.1:9001\n"), 0o600)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan struct{})
	changed := make(chan *config.Config)
	go func() {
		_ = config.Watch(ctx, config.WatchOptions{
			File:     file,
			Ready:    func() { close(ready) },
			OnChange: func(c *config.Config) { changed <- c },
			OnError:  func(err error) { fmt.Println("rejected:", err) },
		})
	}()
	<-ready
	_ = os.WriteFile(file+".new", []byte("listen: 127.0.0.1:9002\n"), 0o600)
	_ = os.Rename(file+".new", file)
	fmt.Println((<-changed).Listen)
	// Output: 127.0.0.1:9002
}
