package config_test

import (
	"strings"
	"testing"

	"github.com/samlkeyd/samlkeyd/config"
)

// TestRedactedSecretParameters: every parameter whose name holds password,
// passwd, passphrase, secret or token is masked, in URLs and key=value
// connection strings, whatever its case or encoding; other parameters keep
// their order and spelling. config print showed ?sslpassword= before.
func TestRedactedSecretParameters(t *testing.T) {
	tests := []struct{ in, want string }{
		{"postgres://u@db/x?sslpassword=s3cret&sslmode=require", "postgres://u@db/x?sslpassword=xxxxx&sslmode=require"},
		{"postgres://u:s3cret@db/x?sslmode=require&SSLPassword=s3cret&sslkey=%2Fetc%2Fk.pem", "postgres://u:xxxxx@db/x?sslmode=require&SSLPassword=xxxxx&sslkey=%2Fetc%2Fk.pem"},
		{"postgres://u@db/x?ssl%70assword=s3cret", "postgres://u@db/x?ssl%70assword=xxxxx"},
		{"postgres://u@db/x?password=a&password=b", "postgres://u@db/x?password=xxxxx&password=xxxxx"},
		{"https://hooks.example.com/x?api_token=s3cret&client_secret=s3cret&channel=ops", "https://hooks.example.com/x?api_token=xxxxx&client_secret=xxxxx&channel=ops"},
		{"postgres://u:s3cret@db:notaport/x", "postgres://u:xxxxx@db:notaport/x"},
		{"host=db sslpassword=s3cret sslmode=require", "host=db sslpassword=xxxxx sslmode=require"},
		{"host=db SSLPASSWORD = 's3 cret' user=u", "host=db SSLPASSWORD = xxxxx user=u"},
		{"host=db password='it\\'s s3cret' options='-c search_path=a' passphrase=s3cret", "host=db password=xxxxx options='-c search_path=a' passphrase=xxxxx"},
		{"host=db user=u dbname=x", "host=db user=u dbname=x"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c := &config.Config{DatabaseURL: tt.in}
			got := c.Redacted().DatabaseURL
			if got != tt.want {
				t.Errorf("Redacted(%q) = %q, want %q", tt.in, got, tt.want)
			}
			if strings.Contains(got, "s3") {
				t.Errorf("Redacted(%q) = %q shows the secret", tt.in, got)
			}
		})
	}
}
