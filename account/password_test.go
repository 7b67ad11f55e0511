package account_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/account"
)

func TestValidatePassword(t *testing.T) {
	tests := []struct {
		name string
		pw   string
		ok   bool
	}{
		{"8 ASCII", "abcdefgh", true},
		{"7 ASCII", "abcdefg", false},
		{"empty", "", false},
		{"no composition rules", "aaaaaaaa", true},
		{"spaces allowed", "correct horse battery staple", true},
		{"8 runes, 24 bytes", strings.Repeat("パ", 8), true},
		{"7 runes, 21 bytes", strings.Repeat("パ", 7), false},
		{"7 emoji are 28 bytes but 7 characters", strings.Repeat("🔑", 7), false},
		{"128 characters", strings.Repeat("x", 128), true},
		{"128 multibyte characters", strings.Repeat("é", 128), true},
		{"129 characters", strings.Repeat("x", 129), false},
		{"invalid UTF-8", "abcdefgh\xff", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := account.ValidatePassword(tt.pw)
			if tt.ok && err != nil {
				t.Fatalf("ValidatePassword: %v, want ok", err)
			}
			if !tt.ok && !errors.Is(err, account.ErrInvalidPassword) {
				t.Fatalf("ValidatePassword: %v, want ErrInvalidPassword", err)
			}
		})
	}
}
