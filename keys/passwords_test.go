package keys

import (
	"errors"
	"testing"

	"github.com/samlkeyd/samlkeyd/secret"
)

func TestPKCS12KeysUseStorePassword(t *testing.T) {
	store, other, none := secret.New([]byte("store-pass")), secret.New([]byte("other-pass")), secret.Value{}
	tests := []struct {
		name           string
		format         Format
		keyPass        secret.Value
		wantErr        error
		afterStoreCopy bool // after a store password change, the key password is the new store password
	}{
		{"pkcs12 no key password", FormatPKCS12, none, nil, true},
		{"pkcs12 key password = store password", FormatPKCS12, store, nil, true},
		{"pkcs12 other key password", FormatPKCS12, other, ErrPKCS12KeyPassword, true},
		{"jks no key password", FormatJKS, none, nil, true},
		{"jks own key password", FormatJKS, other, nil, false},
	}
	newStore := secret.New([]byte("new-store"))
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.format.CheckKeyPassword(store, tt.keyPass); !errors.Is(err, tt.wantErr) {
				t.Errorf("CheckKeyPassword = %v, want %v", err, tt.wantErr)
			}
			got := tt.format.KeyPasswordAfterStoreChange(tt.keyPass, newStore)
			if got.Equal(newStore) != tt.afterStoreCopy || (!tt.afterStoreCopy && !got.Equal(tt.keyPass)) {
				t.Errorf("KeyPasswordAfterStoreChange kept the wrong password (follows store: %v)", got.Equal(newStore))
			}
		})
	}
	ks := &Keystore{Format: FormatPKCS12}
	if _, err := ks.Marshal(store, other); !errors.Is(err, ErrPKCS12KeyPassword) {
		t.Errorf("Marshal PKCS#12 with another key password: %v", err)
	}
}
