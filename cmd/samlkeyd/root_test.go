package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogLevelSources runs a command with log_level from each source and
// looks for a debug line on stderr: --log-level, else SAMLKEYD_LOG_LEVEL,
// else the config file, else info.
func TestLogLevelSources(t *testing.T) {
	dir := t.TempDir()
	debugFile := filepath.Join(dir, "debug.yaml")
	if err := os.WriteFile(debugFile, []byte("log_level: debug\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		env       string
		args      []string
		wantDebug bool
	}{
		{"default", "", nil, false},
		{"environment", "debug", nil, true},
		{"file", "", []string{"--config", debugFile}, true},
		{"environment over file", "warn", []string{"--config", debugFile}, false},
		{"flag over environment", "debug", []string{"--log-level", "info"}, false},
		{"flag", "", []string{"--log-level", "debug"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("SAMLKEYD_LOG_LEVEL", tc.env) // empty counts as unset
			var out, errb bytes.Buffer
			root := newApp(strings.NewReader(""), &out, &errb).root()
			args := append(append([]string{}, tc.args...), "--data", filepath.Join(dir, "data"), "migrate")
			root.SetArgs(args)
			if err := root.Execute(); err != nil {
				t.Fatalf("samlkeyd %s: %v\n%s", strings.Join(args, " "), err, errb.String())
			}
			debug := strings.Contains(errb.String(), "level=DEBUG")
			if debug != tc.wantDebug {
				t.Errorf("samlkeyd %s: debug line printed = %v, want %v; stderr:\n%s", strings.Join(args, " "), debug, tc.wantDebug, errb.String())
			}
			if tc.wantDebug && !strings.Contains(errb.String(), `msg="store location" data=`+filepath.Join(dir, "data")) {
				t.Errorf("the debug line does not name the store:\n%s", errb.String())
			}
		})
	}
}

// TestLogLevelInvalidFromEnvironment: a wrong SAMLKEYD_LOG_LEVEL is a
// config error naming the key, not silently info.
func TestLogLevelInvalidFromEnvironment(t *testing.T) {
	t.Setenv("SAMLKEYD_LOG_LEVEL", "loud")
	_, err := cli(t, "--data", filepath.Join(t.TempDir(), "data"), "migrate")
	if err == nil || !strings.Contains(err.Error(), `log_level: "loud" is not a log level`) {
		t.Errorf("migrate with SAMLKEYD_LOG_LEVEL=loud: %v", err)
	}
}
