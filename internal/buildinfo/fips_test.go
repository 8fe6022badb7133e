package buildinfo

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/keys/fips/fipstest"
)

// TestReadFIPSMode: `samlkeyd version` says whether Go's FIPS 140-3 mode is
// on, in text and JSON, in a normal run and in a GODEBUG=fips140=on
// subprocess of it.
func TestReadFIPSMode(t *testing.T) {
	in := fipstest.InMode(t)
	i := Read()
	want := "off"
	if in {
		want = "on"
	}
	if i.FIPS140 != in || !strings.Contains(i.String(), ", FIPS 140-3 mode "+want+"\n") {
		t.Errorf("mode %s: Read() = %+v, String():\n%s", want, i, i)
	}
	b, err := json.Marshal(i)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"fips140_enabled":`+map[bool]string{true: "true", false: "false"}[in]) {
		t.Errorf("mode %s: JSON %s", want, b)
	}
}
