package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
)

func TestConfigValidate(t *testing.T) {
	good := filepath.Join(t.TempDir(), "samlkeyd.yaml")
	if err := os.WriteFile(good, []byte("listen: 127.0.0.1:9090\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		stdout  string
		err     string
		problem bool // exit status 1 via exitError
	}{
		{"defaults", nil, "config OK\n", "", false},
		{"good file", []string{"--config", good}, "config OK\n", "", false},
		// The example names a PostgreSQL host that does not exist: the
		// config alone is checked.
		{"example file", []string{"--config", "../../examples/samlkeyd.yaml", "--offline"}, "config OK\n", "", false},
		{"every problem listed", []string{"--config", "../../config/testdata/bad/many.yaml"},
			`log_level: "loud" is not a log level: use debug, info, warn or error
sp.metadata.valid_for: must be a positive duration, like 24h
idps[0].sso.location: must be an https URL (set allow_http: true only for tests)
idps[0].sign_logout_request: needs slo.location: there is no single logout endpoint to send signed requests to
api.tokens[0].sha256: must be 64 hex digits, the SHA-256 of the token (printf %s "$TOKEN" | sha256sum)
`, `config "../../config/testdata/bad/many.yaml" has 5 problems`, true},
		{"a flag is validated too", []string{"--config", good, "--log-level", "chatty"},
			"log_level: \"chatty\" is not a log level: use debug, info, warn or error\n", `config "` + good + `" has 1 problem`, true},
		{"empty file", []string{"--config", "../../config/testdata/bad/empty.yaml"}, "",
			`load config "../../config/testdata/bad/empty.yaml": config file is empty: write at least one key (an empty file would silently reset every setting to its default)`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := cli(t, append([]string{"config", "validate"}, tt.args...)...)
			if out != tt.stdout {
				t.Errorf("stdout:\n%s\nwant:\n%s", out, tt.stdout)
			}
			if errString(err) != tt.err {
				t.Errorf("error = %v, want %s", err, tt.err)
			}
			var ee *exitError
			if tt.problem && (!errors.As(err, &ee) || exitCode(err) != 1) {
				t.Errorf("exit code %d, want 1", exitCode(err))
			}
		})
	}
}

func TestConfigPrint(t *testing.T) {
	file := filepath.Join(t.TempDir(), "samlkeyd.yaml")
	if err := os.WriteFile(file, []byte("listen: 127.0.0.1:9090\ndata: /from/file\nlog_level: warn\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SAMLKEYD_SP_BASE_URL", "https://sp.example.com")
	out := mustCLI(t, "config", "print", "--config", file,
		"--database-url", "postgres://samlkeyd:hunter2@db.example.com/samlkeyd", "--data", "/from/flag")
	if strings.Contains(out, "hunter2") {
		t.Errorf("config print shows the database password:\n%s", out)
	}
	c, err := config.Parse([]byte(out))
	if err != nil {
		t.Fatalf("config print output does not parse: %v\n%s", err, out)
	}
	for _, tc := range []struct{ what, got, want string }{
		{"listen (file)", c.Listen, "127.0.0.1:9090"},
		{"data (flag over file)", c.Data, "/from/flag"},
		{"log_level (file; --log-level not given)", c.LogLevel, "warn"},
		{"database_url (flag, masked)", c.DatabaseURL, "postgres://samlkeyd:xxxxx@db.example.com/samlkeyd"},
		{"sp.entity_id (derived from env base_url)", c.SP.EntityID, "https://sp.example.com/saml/metadata"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %q, want %q", tc.what, tc.got, tc.want)
		}
	}
}
