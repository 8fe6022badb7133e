package alert

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"

	"github.com/samlkeyd/samlkeyd/config"
	"github.com/samlkeyd/samlkeyd/secret"
)

// SinksFrom builds the sinks the config asks for: the log sink always, then
// the webhook and SMTP sinks when configured. Secret files (the webhook's
// hmac_secret_file, the SMTP password_file) are read with readFile (nil =
// os.ReadFile); one trailing newline is dropped.
func SinksFrom(c *config.Alerts, log *slog.Logger, readFile func(string) ([]byte, error)) ([]Sink, error) {
	if readFile == nil {
		readFile = os.ReadFile
	}
	sinks := []Sink{{Name: "log", Notifier: NewLogSink(log)}}
	if c == nil {
		return sinks, nil
	}
	if w := c.Webhook; w != nil {
		o := WebhookOptions{URL: w.URL, Timeout: w.Timeout}
		if w.HMACSecretFile != "" {
			s, err := readSecret(readFile, w.HMACSecretFile)
			if err != nil {
				return nil, fmt.Errorf("alerts.webhook.hmac_secret_file: %w", err)
			}
			o.Secret = s
		}
		hook, err := NewWebhook(o)
		if err != nil {
			return nil, fmt.Errorf("alerts.webhook: %w", err)
		}
		sinks = append(sinks, Sink{Name: "webhook", Notifier: hook})
	}
	if m := c.SMTP; m != nil {
		o := SMTPOptions{Addr: m.Addr, From: m.From, To: m.To, Username: m.Username}
		if m.PasswordFile != "" {
			s, err := readSecret(readFile, m.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("alerts.smtp.password_file: %w", err)
			}
			o.Password = s
		}
		if o.Username == "" && !o.Password.Empty() {
			return nil, fmt.Errorf("alerts.smtp: password_file %q without username", m.PasswordFile)
		}
		s, err := NewSMTP(o)
		if err != nil {
			return nil, fmt.Errorf("alerts.smtp: %w", err)
		}
		sinks = append(sinks, Sink{Name: "smtp", Notifier: s})
	}
	return sinks, nil
}

func readSecret(readFile func(string) ([]byte, error), path string) (secret.Value, error) {
	b, err := readFile(path)
	if err != nil {
		return secret.Value{}, fmt.Errorf("read %q: %w", path, err)
	}
	defer clear(b)
	t := bytes.TrimSuffix(bytes.TrimSuffix(b, []byte("\n")), []byte("\r"))
	if len(t) == 0 {
		return secret.Value{}, fmt.Errorf("read %q: file is empty", path)
	}
	return secret.New(t), nil
}
