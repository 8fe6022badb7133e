package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

func TestValueNeverPrints(t *testing.T) {
	const sentinel = "hunter2-SENTINEL"
	v := FromString(sentinel)
	type holder struct {
		Name string
		Pass Value
		Ptr  *Value
	}
	h := holder{Name: "x", Pass: v, Ptr: &v}

	var logBuf bytes.Buffer
	slog.New(slog.NewJSONHandler(&logBuf, nil)).Info("m", "pass", v, "holder", h)
	js, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	ym, err := yaml.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"%v": fmt.Sprintf("%v", h), "%+v": fmt.Sprintf("%+v", h), "%#v": fmt.Sprintf("%#v", h),
		"%s": fmt.Sprintf("%s", v), "%x": fmt.Sprintf("%x", v), "%q": fmt.Sprintf("%q", v),
		"json": string(js), "yaml": string(ym), "slog": logBuf.String(),
	}
	for name, out := range outputs {
		if strings.Contains(out, sentinel) || !strings.Contains(out, "secret") {
			t.Errorf("%s output = %q: want %q and no secret", name, out, masked)
		}
	}
	if string(v.Reveal()) != sentinel {
		t.Fatalf("Reveal = %q", v.Reveal())
	}
}

func TestZeroAndEqual(t *testing.T) {
	a, b := FromString("abc"), FromString("abc")
	if !a.Equal(b) || a.Equal(FromString("abd")) {
		t.Fatal("Equal wrong")
	}
	a.Zero()
	if !bytes.Equal(a.Reveal(), []byte{0, 0, 0}) {
		t.Fatalf("Zero left %v", a.Reveal())
	}
	if !(Value{}).Empty() || b.Empty() {
		t.Fatal("Empty wrong")
	}
}
