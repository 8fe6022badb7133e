package store_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/samlkeyd/samlkeyd/sp"
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

// Replicas sharing one store refuse each other's replays: the store is the
// shared layer of an sp.LayeredReplayCache, behind each replica's memory.
func ExampleStore_RecordReplay() {
	dir, err := os.MkdirTemp("", "samlkeyd-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := store.Open(ctx, store.Options{DataDir: filepath.Join(dir, "data"), NoBaseKeystores: true})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	replica := func() *sp.LayeredReplayCache {
		return &sp.LayeredReplayCache{Fast: sp.NewMemoryReplayCache(10000), Shared: s.ReplayCache()}
	}
	a, b := replica(), replica()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, r := range []*sp.LayeredReplayCache{a, b} {
		seen, err := r.Record(ctx, "corp\x00_assertion-1", now.Add(5*time.Minute), now)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("seen:", seen)
	}
	n, _ := s.PurgeReplays(ctx, now.Add(5*time.Minute))
	fmt.Println("purged:", n)
	// Output:
	// seen: false
	// seen: true
	// purged: 1
}
