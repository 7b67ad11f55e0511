package account_test

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sessiond/sessiond/account"
)

func TestNormalizeEmail(t *testing.T) {
	// addr returns an address of exactly n bytes: a 64-byte local part and
	// a domain of short labels.
	addr := func(n int) string {
		d := n - 65
		s := strings.Repeat("a", 64) + "@" + strings.Repeat("b.", (d-1)/2) + strings.Repeat("c", d-2*((d-1)/2))
		if len(s) != n {
			t.Fatalf("test setup: addr(%d) has %d bytes", n, len(s))
		}
		return s
	}
	tests := []struct {
		name, in, want string // want "" means ErrInvalidEmail
	}{
		{"plain", "alice@example.com", "alice@example.com"},
		{"trimmed", " \t alice@example.com\r\n", "alice@example.com"},
		{"domain lowercased", "alice@EXAMPLE.Com", "alice@example.com"},
		{"local part lowercased too", "Alice.Smith+Tag@Example.COM", "alice.smith+tag@example.com"},
		{"unicode local part", "Ünïcode@example.com", "ünïcode@example.com"},
		{"digits and hyphen in domain", "x@mail-1.example-2.org", "x@mail-1.example-2.org"},
		{"single label domain", "root@localhost", "root@localhost"},
		{"punycode domain", "x@xn--bcher-kva.example", "x@xn--bcher-kva.example"},
		{"254 bytes", addr(254), addr(254)},

		{"empty", "", ""},
		{"only spaces", "   ", ""},
		{"no at", "alice.example.com", ""},
		{"two ats", "alice@bob@example.com", ""},
		{"empty local", "@example.com", ""},
		{"empty domain", "alice@", ""},
		{"inner space", "alice smith@example.com", ""},
		{"inner tab", "alice@exa\tmple.com", ""},
		{"NUL", "alice\x00@example.com", ""},
		{"newline (header injection)", "alice@example.com\nBcc: x@y.z", ""},
		{"DEL", "alice\x7f@example.com", ""},
		{"no-break space", "alice\u00a0@example.com", ""},
		{"invalid UTF-8", "al\xffice@example.com", ""},
		{"non-ASCII domain", "alice@bücher.example", ""},
		{"address literal", "alice@[192.0.2.1]", ""},
		{"underscore in domain", "alice@ex_ample.com", ""},
		{"leading dot in domain", "alice@.example.com", ""},
		{"trailing dot in domain", "alice@example.com.", ""},
		{"double dot in domain", "alice@example..com", ""},
		{"label starts with hyphen", "alice@-example.com", ""},
		{"label ends with hyphen", "alice@example-.com", ""},
		{"label of 64 bytes", "alice@" + strings.Repeat("a", 64) + ".com", ""},
		{"local part of 65 bytes", strings.Repeat("a", 65) + "@example.com", ""},
		{"255 bytes", addr(255), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := account.NormalizeEmail(tt.in)
			if tt.want == "" {
				if !errors.Is(err, account.ErrInvalidEmail) {
					t.Fatalf("NormalizeEmail(%q) = %q, %v; want ErrInvalidEmail", tt.in, got, err)
				}
				if got != "" {
					t.Errorf("NormalizeEmail(%q) returned %q alongside an error", tt.in, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("NormalizeEmail(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzNormalizeEmail(f *testing.F) {
	for _, s := range []string{"alice@example.com", " A@B.C ", "a@b@c", "İ@x.y", "\u212a@x.y", "a@xn--p1ai", "a\x00@b", "ǅ@x.y"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := account.NormalizeEmail(in)
		if err != nil {
			if !errors.Is(err, account.ErrInvalidEmail) {
				t.Fatalf("error %v does not wrap ErrInvalidEmail", err)
			}
			return
		}
		if len(got) > account.MaxEmailLen || !utf8.ValidString(got) || strings.Count(got, "@") != 1 {
			t.Fatalf("NormalizeEmail(%q) = %q: too long, invalid UTF-8 or not one @", in, got)
		}
		if got != strings.ToLower(got) {
			t.Fatalf("NormalizeEmail(%q) = %q is not lowercase", in, got)
		}
		again, err := account.NormalizeEmail(got)
		if err != nil || again != got {
			t.Fatalf("not idempotent: %q -> %q -> %q, %v", in, got, again, err)
		}
	})
}
