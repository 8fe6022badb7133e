package config_test

import (
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/samlkeyd/samlkeyd/config"
)

// TestConfigurationDoc: docs/configuration.md has a row for every key of the
// Config struct and of the built-in defaults (the key's dotted path, list
// items as [], in backticks in the first cell of a "| key | …" table), and no
// row for a key the config does not have.
func TestConfigurationDoc(t *testing.T) {
	const path = "../docs/configuration.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	documented := documentedKeys(string(data))
	known := map[string]bool{}
	for _, p := range structPaths(reflect.TypeFor[config.Config](), "") {
		known[p] = true
	}
	defaults, err := os.ReadFile("defaults.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var raw any
	if err := yaml.Unmarshal(defaults, &raw); err != nil {
		t.Fatal(err)
	}
	rawPaths(raw, "", known)
	for _, p := range slices.Sorted(maps.Keys(known)) {
		if !documented[p] {
			t.Errorf("%s: key %s is not documented: add a row whose first cell is `%s` to a | key | table", path, p, p)
		}
	}
	for _, p := range slices.Sorted(maps.Keys(documented)) {
		if !known[p] {
			t.Errorf("%s: documents %s, which is not a config key", path, p)
		}
	}
}

// TestDocumentedKeys pins the parser the doc test relies on.
func TestDocumentedKeys(t *testing.T) {
	doc := "# Title `not.a.key`\n\n| key | type |\n| --- | --- |\n| `a.b`, `a.c[].d` | x `e` |\n\n" +
		"| route | what |\n| --- | --- |\n| `GET /x` | y |\n\n| key | meaning |\n|---|---|\n| `f` | `g` |\ntext `h`\n"
	got := slices.Sorted(maps.Keys(documentedKeys(doc)))
	if want := []string{"a.b", "a.c[].d", "f"}; !slices.Equal(got, want) {
		t.Errorf("documentedKeys = %q, want %q", got, want)
	}
}

var backticked = regexp.MustCompile("`([^`]+)`")

// documentedKeys returns the backticked names in the first cell of the rows
// of every Markdown table whose header's first cell is "key".
func documentedKeys(doc string) map[string]bool {
	out := map[string]bool{}
	inKeyTable, header := false, false
	for line := range strings.Lines(doc) {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "|") {
			inKeyTable, header = false, false
			continue
		}
		cells := strings.Split(strings.Trim(line, "|"), "|")
		first := strings.TrimSpace(cells[0])
		switch {
		case !header: // a table's first row is its header
			header, inKeyTable = true, first == "key"
		case !inKeyTable, strings.Trim(first, "-: ") == "":
		default:
			for _, m := range backticked.FindAllStringSubmatch(first, -1) {
				out[m[1]] = true
			}
		}
	}
	return out
}
