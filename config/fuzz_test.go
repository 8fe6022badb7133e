package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
)

// FuzzParse: any bytes give a config or an error, never a panic, and a
// config that parses survives Marshal and Parse unchanged.
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
