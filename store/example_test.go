package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/samlkeyd/samlkeyd/store"
)

// Open a fresh SQLite store: it migrates, creates its master key and the
// base system keystores, and points the two keystore properties at them.
func ExampleOpen() {
	dir, err := os.MkdirTemp("", "samlkeyd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{DataDir: filepath.Join(dir, "data")})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	for _, p := range []string{store.PropSigningKeystore, store.PropEncryptionKeystore} {
		id, _, err := s.Property(ctx, p)
		if err != nil {
			log.Fatal(err)
		}
		r, err := s.Record(ctx, id)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s = %s (%s, alias %s)\n", p, id, r.Name, r.Alias)
	}
	// Output:
	// glide.authenticate.sso.saml2.keystore = 3685fc22930212003c5537ae867ffb91 (SAML 2.0 Keystore_Key2048_SHA256, alias saml2sp)
	// glide.authenticate.sso.saml2.encryption.keystore = a2918fa7628c360857c3cfa6ac3b5858 (SAML 2.0 Keystore_Key2048_SHA256_Encryption, alias saml2sp)
}
