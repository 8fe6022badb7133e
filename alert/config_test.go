package alert

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
)

func TestSinksFrom(t *testing.T) {
	dir := t.TempDir()
	hmacFile := filepath.Join(dir, "hmac")
	pwFile := filepath.Join(dir, "pw")
	empty := filepath.Join(dir, "empty")
	for p, s := range map[string]string{hmacFile: "hook-key\n", pwFile: "s3cret\r\n", empty: "\n"} {
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	hook := &config.Webhook{URL: "https://hooks.example.org/samlkeyd", HMACSecretFile: hmacFile}
	mail := &config.SMTP{Addr: "mail.example.org:587", From: "samlkeyd@example.org", To: []string{"ops@example.org"}, Username: "alerts", PasswordFile: pwFile}
	for _, tc := range []struct {
		name      string
		c         *config.Alerts
		wantSinks string
		wantErr   string
	}{
		{"none", nil, "log", ""},
		{"both", &config.Alerts{Webhook: hook, SMTP: mail}, "log,webhook,smtp", ""},
		{"missing secret file", &config.Alerts{Webhook: &config.Webhook{URL: hook.URL, HMACSecretFile: filepath.Join(dir, "nope")}}, "", "alerts.webhook.hmac_secret_file: read"},
		{"empty secret file", &config.Alerts{Webhook: &config.Webhook{URL: hook.URL, HMACSecretFile: empty}}, "", "file is empty"},
		{"bad url", &config.Alerts{Webhook: &config.Webhook{URL: "hooks.example.org"}}, "", "alerts.webhook: webhook url"},
		{"password without username", &config.Alerts{SMTP: &config.SMTP{Addr: mail.Addr, From: mail.From, To: mail.To, PasswordFile: pwFile}}, "", "without username"},
		{"no recipients", &config.Alerts{SMTP: &config.SMTP{Addr: mail.Addr, From: mail.From}}, "", "alerts.smtp: smtp to: no recipients"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sinks, err := SinksFrom(tc.c, nil, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("SinksFrom = %v, want error containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, s := range sinks {
				names = append(names, s.Name)
			}
			if got := strings.Join(names, ","); got != tc.wantSinks {
				t.Fatalf("sinks %s, want %s", got, tc.wantSinks)
			}
			for _, s := range sinks {
				switch n := s.Notifier.(type) {
				case *Webhook:
					if string(n.o.Secret.Reveal()) != "hook-key" {
						t.Errorf("webhook secret not read from %s", hmacFile)
					}
				case *SMTP:
					if string(n.o.Password.Reveal()) != "s3cret" {
						t.Errorf("smtp password not read from %s", pwFile)
					}
				}
			}
		})
	}
}
