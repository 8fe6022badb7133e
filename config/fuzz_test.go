package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
)

// FuzzParse: any bytes give a config or an error, never a panic; a config
// that parses has every parsed value filled and survives Marshal and Parse
// unchanged.
func FuzzParse(f *testing.F) {
	files, err := filepath.Glob("testdata/*/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, "../examples/samlkeyd.yaml")
	for _, path := range files {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := config.Parse(data)
		if err != nil {
			return
		}
		for i, ck := range c.Checks {
			if ck.ParsedSchedule == nil {
				t.Fatalf("checks[%d] %q loaded without its parsed schedule", i, ck.Schedule)
			}
		}
		for _, r := range []*config.RotationPolicy{c.Rotation.Signing, c.Rotation.Encryption} {
			if r != nil && r.ParsedSchedule == nil {
				t.Fatalf("rotation %q loaded without its parsed schedule", r.Schedule)
			}
		}
		for i, idp := range c.IdPs {
			if len(idp.ParsedFetchers) != len(idp.MetadataFetchers) {
				t.Fatalf("idps[%d]: %d fetchers parsed from %q", i, len(idp.ParsedFetchers), idp.MetadataFetchers)
			}
		}
		out, err := config.Marshal(c)
		if err != nil {
			t.Fatalf("Marshal of a parsed config: %v", err)
		}
		c2, err := config.Parse(out)
		if err != nil {
			t.Fatalf("Parse(Marshal(Parse(x))): %v\ninput:\n%s\nmarshalled:\n%s", err, data, out)
		}
		out2, err := config.Marshal(c2)
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != string(out2) {
			t.Fatalf("round trip changed the config:\n%s\nthen:\n%s", out, out2)
		}
	})
}
