package config

import (
	"bytes"
	_ "embed"
	"errors"
	"fmt"
	"net"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"go.yaml.in/yaml/v3"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// EnvPrefix starts the environment variable of every key:
// SAMLKEYD_<PATH>, the path upper-cased with dots as underscores
// (sp.entity_id is SAMLKEYD_SP_ENTITY_ID).
const EnvPrefix = "SAMLKEYD_"

// Sentinel errors callers and tests branch on.
var (
	// ErrEmpty is a config file with no keys at all (empty, blank or only
	// comments). viper would read it as "no values" and silently fall back
	// to every default, which a truncated file must never do.
	ErrEmpty = errors.New("config file is empty")
	// ErrUnknownKey is a key the Config struct does not have, usually a typo.
	ErrUnknownKey = errors.New("unknown key")
)

// LoadOptions says where Load reads from. Later sources override earlier
// ones: built-in defaults, File, SAMLKEYD_* environment variables, Flags.
type LoadOptions struct {
	// File is the YAML config file; empty means defaults, environment and
	// flags only.
	File string
	// Flags are command-line flags named like keys with dashes
	// ("listen", "data", "database-url", "sp-entity-id"). Only flags the
	// user set (Changed) override; other flags are ignored.
	Flags *pflag.FlagSet
	// Env looks up an environment variable; nil is os.LookupEnv. An empty
	// value counts as unset, as in viper.
	Env func(string) (string, bool)
}

// Load reads the configuration from defaults, the file, the environment and
// flags (in viper's precedence), derives the SP URLs left empty from listen,
// and validates it. Every problem is returned at once, joined; Problems
// splits them. A fresh viper instance is used per call, so Load is safe to
// call from several goroutines.
func Load(o LoadOptions) (*Config, error) {
	var data []byte
	if o.File != "" {
		var err error
		if data, err = os.ReadFile(o.File); err != nil {
			return nil, fmt.Errorf("load config: %w", err)
		}
	}
	env := o.Env
	if env == nil {
		env = os.LookupEnv
	}
	c, err := load(data, o.File != "", env, o.Flags)
	if err != nil {
		if o.File == "" {
			return nil, fmt.Errorf("load config: %w", err)
		}
		return nil, fmt.Errorf("load config %q: %w", o.File, err)
	}
	return c, nil
}

// Parse is Load for the bytes of a YAML file, without environment or flags.
func Parse(data []byte) (*Config, error) {
	c, err := load(data, true, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("parse config: %w", err)
	}
	return c, nil
}

// Problems splits an error from Load, Parse or Validate into its problems,
// one per field (each a *FieldError where a field is to blame). An error
// that is not a list of problems is returned as the only one.
func Problems(err error) []error {
	for e := err; e != nil; e = errors.Unwrap(e) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			return j.Unwrap()
		}
	}
	if err == nil {
		return nil
	}
	return []error{err}
}

func load(data []byte, fromFile bool, env func(string) (string, bool), flags *pflag.FlagSet) (*Config, error) {
	v := viper.NewWithOptions()
	v.SetConfigType("yaml")
	if err := setDefaults(v); err != nil {
		return nil, err
	}
	var problems []error
	if fromFile {
		var raw any
		if err := yaml.Unmarshal(data, &raw); err != nil {
			return nil, err
		}
		if raw == nil {
			return nil, fmt.Errorf("%w: write at least one key (an empty file would silently reset every setting to its default)", ErrEmpty)
		}
		if _, ok := raw.(map[string]any); !ok {
			return nil, errors.New("the top level must be a mapping of keys, like listen: 127.0.0.1:8080")
		}
		problems = unknownKeys(problems, raw, reflect.TypeFor[Config](), "")
		if err := v.ReadConfig(bytes.NewReader(data)); err != nil {
			return nil, err
		}
	}
	leaves := leafKeys(reflect.TypeFor[Config](), "", nil)
	if env != nil {
		for _, key := range leaves {
			if val, ok := env(EnvName(key)); ok && val != "" {
				v.Set(key, val) // above the file; flags are set after and win
			}
		}
	}
	if flags != nil {
		byFlag := make(map[string]string, len(leaves))
		for _, key := range leaves {
			byFlag[FlagName(key)] = key
		}
		flags.Visit(func(f *pflag.Flag) { // only flags the user set
			key, ok := byFlag[f.Name]
			if !ok {
				return
			}
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				v.Set(key, sv.GetSlice())
				return
			}
			v.Set(key, f.Value.String())
		})
	}
	var c Config
	err := v.Unmarshal(&c, viper.DecodeHook(mapstructure.ComposeDecodeHookFunc(
		durationHook,
		listHook,
	)))
	if err != nil {
		problems = append(problems, decodeProblems(err)...)
	}
	// Validate what did decode too, so every problem is reported at once,
	// but not again a field whose value could not be decoded at all.
	derived := c.derive()
	found := Problems(c.Validate())
	// A wrong listen, or a base_url the user set and got wrong, is its own
	// problem; the URLs derived from it would only repeat it. A base_url
	// derived from a listen that is right is itself checked like any other.
	sourceBad := reported(problems, "listen") || reported(found, "listen") ||
		(!slices.Contains(derived, "sp.base_url") && reported(found, "sp.base_url"))
	for _, e := range found {
		fe, ok := e.(*FieldError)
		switch {
		case ok && reported(problems, fe.Field):
		case ok && sourceBad && derivedFrom(derived, fe.Field):
		default:
			problems = append(problems, e)
		}
	}
	if len(problems) > 0 {
		return nil, errors.Join(problems...)
	}
	return &c, nil
}

// reported says whether field, or a key path it lies in, has a problem.
func reported(problems []error, field string) bool {
	for _, e := range problems {
		if fe, ok := e.(*FieldError); ok &&
			(fe.Field == field || strings.HasPrefix(field, fe.Field+".") || strings.HasPrefix(field, fe.Field+"[")) {
			return true
		}
	}
	return false
}

// setDefaults registers every leaf of the embedded defaults file as a viper
// default.
func setDefaults(v *viper.Viper) error {
	var m map[string]any
	if err := yaml.Unmarshal(defaultsYAML, &m); err != nil {
		return fmt.Errorf("built-in defaults: %w", err)
	}
	var walk func(prefix string, m map[string]any)
	walk = func(prefix string, m map[string]any) {
		for k, val := range m {
			if sub, ok := val.(map[string]any); ok {
				walk(prefix+k+".", sub)
				continue
			}
			v.SetDefault(prefix+k, val)
		}
	}
	walk("", m)
	return nil
}

// derive fills the SP URLs left empty: base_url from listen, entity_id and
// the default ACS from base_url. It returns the key paths it is answerable
// for, filled or not: a listen address that does not parse leaves them
// empty, for Validate to report listen alone. Listen port 0 (any free port,
// for tests) gives URLs with port 0: set sp.base_url for anything an IdP
// reads.
func (c *Config) derive() (filled []string) {
	if c.SP.EntityID == "" {
		filled = append(filled, "sp.entity_id")
	}
	if len(c.SP.ACS) == 0 {
		filled = append(filled, "sp.acs")
	}
	// The metadata signer takes the URI; accept the short name here too.
	if uri, err := SignatureAlgorithmURI(c.SP.Metadata.SignatureAlgorithm); err == nil {
		c.SP.Metadata.SignatureAlgorithm = uri
	}
	if c.SP.BaseURL == "" {
		filled = append(filled, "sp.base_url")
		host, port, err := net.SplitHostPort(c.Listen)
		if err != nil {
			return filled
		}
		if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
			host = "localhost" // listening on every address: name this host
		}
		c.SP.BaseURL = "http://" + net.JoinHostPort(host, port)
	}
	base := strings.TrimRight(c.SP.BaseURL, "/")
	if c.SP.EntityID == "" {
		c.SP.EntityID = base + "/saml/metadata"
	}
	if len(c.SP.ACS) == 0 {
		c.SP.ACS = []Endpoint{{Binding: "post", Location: base + "/saml/acs", Index: 0, Default: true}}
	}
	c.SP.applyFederationDefaults()
	c.applyIdPSourceDefaults()
	return filled
}

// derivedFrom says whether field is, or lies in, one of the derived paths.
func derivedFrom(derived []string, field string) bool {
	for _, d := range derived {
		if field == d || strings.HasPrefix(field, d+".") || strings.HasPrefix(field, d+"[") {
			return true
		}
	}
	return false
}

// EnvName is the environment variable of a key path: EnvName("sp.entity_id")
// is "SAMLKEYD_SP_ENTITY_ID".
func EnvName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// FlagName is the flag name of a key path: FlagName("database_url") is
// "database-url", FlagName("sp.entity_id") is "sp-entity-id".
func FlagName(key string) string {
	return strings.NewReplacer(".", "-", "_", "-").Replace(key)
}

// Keys returns the key paths that environment variables and flags can set:
// every scalar, duration or list-of-scalars key outside a list of records
// (list items such as idps[0].name are set in the file only).
func Keys() []string { return leafKeys(reflect.TypeFor[Config](), "", nil) }

func leafKeys(t reflect.Type, prefix string, out []string) []string {
	for i := range t.NumField() {
		f := t.Field(i)
		if tagName(f) == "-" {
			continue // parsed by Validate, not read
		}
		key := prefix + tagName(f)
		ft := f.Type
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch {
		case ft.Kind() == reflect.Struct:
			out = leafKeys(ft, key+".", out)
		case ft.Kind() == reflect.Map, ft.Kind() == reflect.Slice && elemKind(ft) == reflect.Struct:
			// records and free-form maps: file only
		default:
			out = append(out, key)
		}
	}
	return out
}

func elemKind(t reflect.Type) reflect.Kind {
	e := t.Elem()
	if e.Kind() == reflect.Pointer {
		e = e.Elem()
	}
	return e.Kind()
}

func tagName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("mapstructure"), ",")
	return name
}

// unknownKeys reports every key of raw (as decoded from YAML) that t has no
// field for, with a suggestion when a field name is close.
func unknownKeys(out []error, raw any, t reflect.Type, path string) []error {
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Struct:
		m, ok := raw.(map[string]any)
		if !ok {
			return out // a type mismatch; the decoder reports it
		}
		fields := make(map[string]reflect.Type, t.NumField())
		names := make([]string, 0, t.NumField())
		for i := range t.NumField() {
			n := tagName(t.Field(i))
			if n == "-" {
				continue
			}
			fields[n] = t.Field(i).Type
			names = append(names, n)
		}
		for _, k := range sortedKeys(m) {
			ft, ok := fields[k]
			if !ok {
				err := ErrUnknownKey
				if s := closest(k, names); s != "" {
					err = fmt.Errorf("%w (did you mean %s?)", ErrUnknownKey, s)
				}
				out = append(out, &FieldError{Field: joinPath(path, k), Err: err})
				continue
			}
			out = unknownKeys(out, m[k], ft, joinPath(path, k))
		}
	case reflect.Slice:
		l, ok := raw.([]any)
		if !ok {
			return out
		}
		for i, item := range l {
			out = unknownKeys(out, item, t.Elem(), fmt.Sprintf("%s[%d]", path, i))
		}
	}
	return out
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// closest returns the name within edit distance 2 of s, or "".
func closest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(strings.ToLower(s), n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// durationHook decodes durations from strings with a unit ("48h", "90m").
// A bare number is refused: mapstructure would read 3600 as 3.6 µs.
func durationHook(from, to reflect.Type, data any) (any, error) {
	if to != reflect.TypeFor[time.Duration]() {
		return data, nil
	}
	switch from.Kind() {
	case reflect.String:
		s := strings.TrimSpace(data.(string))
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a duration: write a number with a unit, like 48h, 30m or 10s (days are not a unit: 7 days is 168h)", s)
		}
		return d, nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Float32, reflect.Float64:
		if reflect.ValueOf(data).IsZero() {
			return time.Duration(0), nil
		}
		return nil, fmt.Errorf("%v has no unit: write a duration like 48h, 30m or 10s", data)
	}
	return data, nil
}

// listHook splits a comma-separated string (from the environment or a
// flag) into a list of any element type: SAMLKEYD_ALERTS_THRESHOLDS=720h,24h.
func listHook(from, to reflect.Type, data any) (any, error) {
	if from.Kind() != reflect.String || to.Kind() != reflect.Slice || to.Elem().Kind() == reflect.Uint8 {
		return data, nil
	}
	s := strings.TrimSpace(data.(string))
	if s == "" {
		return []string{}, nil
	}
	parts := strings.Split(s, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts, nil
}

// decodeProblems turns mapstructure's errors into field errors.
func decodeProblems(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		if de, ok := e.(*mapstructure.DecodeError); ok {
			out = append(out, &FieldError{Field: de.Name(), Err: decodeCause(de.Unwrap())})
			return
		}
		if u := errors.Unwrap(e); u != nil {
			walk(u)
			return
		}
		out = append(out, e)
	}
	walk(err)
	return out
}

// decodeCause turns mapstructure's wording into the file's: what was
// expected and what was found.
func decodeCause(err error) error {
	var pe *mapstructure.ParseError
	if errors.As(err, &pe) {
		if pe.Expected.Kind() == reflect.Bool {
			return fmt.Errorf("%q is not true or false", fmt.Sprint(pe.Value))
		}
		return fmt.Errorf("%q is not %s", fmt.Sprint(pe.Value), kindName(pe.Expected.Type()))
	}
	var ue *mapstructure.UnconvertibleTypeError
	if errors.As(err, &ue) {
		return fmt.Errorf("must be %s, not %s", kindName(ue.Expected.Type()), kindName(reflect.TypeOf(ue.Value)))
	}
	return err
}

// kindName names a type as the YAML file shows it.
func kindName(t reflect.Type) string {
	if t == nil {
		return "null"
	}
	if t == reflect.TypeFor[time.Duration]() {
		return "a duration"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "a mapping"
	}
	return t.String()
}
