package lifecycle_test

import (
	"fmt"
	"time"

	"github.com/samlkeyd/samlkeyd/lifecycle"
	"github.com/samlkeyd/samlkeyd/store"
)

func ExampleDue() {
	p := lifecycle.Policy{Validity: 90 * 24 * time.Hour, RotateBefore: 30 * 24 * time.Hour,
		PublishFor: 7 * 24 * time.Hour, RetireAfter: 14 * 24 * time.Hour, MaxWait: 7 * 24 * time.Hour}
	now := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	keys := []lifecycle.Key{{ID: "k1", State: lifecycle.StateActive, NotAfter: now.Add(20 * 24 * time.Hour)}}
	fmt.Println(lifecycle.Due(keys, now, p, false).Kind)

	keys = append(keys, lifecycle.Key{ID: "k2", State: lifecycle.StateNext, PublishedAt: now})
	fmt.Println(lifecycle.Due(keys, now.Add(7*24*time.Hour), p, true).Kind)
	// Output:
	// generate_next
	// promote
}

func ExampleCaughtUp() {
	published := time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)
	fetches := []store.MetadataFetch{
		{IdP: "corp", At: published.Add(time.Hour), Fingerprints: []string{"aa", "nn"}},
		{IdP: "partner", At: published.Add(-time.Hour), Fingerprints: []string{"aa"}},
	}
	ok, behind := lifecycle.CaughtUp(fetches, "nn", published)
	fmt.Println(ok, behind)
	// Output:
	// false [partner]
}
