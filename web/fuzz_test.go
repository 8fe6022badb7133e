package web

import (
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/metadata"
)

// FuzzETagMatch feeds If-None-Match headers to the matcher: it must not
// panic, and a header listing the tag (with or without W/) must match.
func FuzzETagMatch(f *testing.F) {
	for _, s := range []string{`"abc"`, `W/"abc"`, `*`, `"x", "abc"`, `"`, `W/`, `,,, "a`, `garbage, "abc"`} {
		f.Add(s)
	}
	const etag = `"abc"`
	f.Fuzz(func(t *testing.T, h string) {
		metadata.ETagMatch([]string{h}, etag)
		if strings.ContainsAny(h, `"*`) {
			return
		}
		for _, listed := range []string{h + ", " + etag, etag + "," + h, "W/" + etag} {
			if !metadata.ETagMatch([]string{listed}, etag) {
				t.Errorf("%q does not match %s", listed, etag)
			}
		}
	})
}
