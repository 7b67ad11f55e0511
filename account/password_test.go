package account_test

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

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

func TestValidateNewPassword(t *testing.T) {
	const (
		common = "is on a list of commonly used passwords"
		full   = "contains your email address"
		local  = "contains the part of your email address before the @"
		length = "must be at least 8 characters"
	)
	passphrase := "vivid otter marbles quince 71"
	random := make([]byte, 16)
	rand.Read(random)
	tests := []struct {
		name, pw, email string
		want            string // "" for accepted, else the reason the error gives
	}{
		{"password", "password", "ann@example.com", common},
		{"Password", "Password", "ann@example.com", common},
		{"PASSWORD", "PASSWORD", "ann@example.com", common},
		{"pAsSwOrD", "pAsSwOrD", "ann@example.com", common},
		{"12345678", "12345678", "ann@example.com", common},
		{"qwertyuiop", "qwertyuiop", "ann@example.com", common},
		{"QWERTYUIOP", "QWERTYUIOP", "ann@example.com", common},
		{"QwErTyUiOp", "QwErTyUiOp", "ann@example.com", common},
		{"a list entry with capitals, lowercased", "soso123aljg", "ann@example.com", common},
		{"a long list entry", "MomsAnalAdventure", "ann@example.com", common},
		{"short list entries fail on length first", "123456", "ann@example.com", length},
		{"a long random passphrase", passphrase, "ann@example.com", ""},
		{"random hex", hex.EncodeToString(random), "ann@example.com", ""},
		{"a list entry with more around it", "password is my password", "ann@example.com", ""},
		{"no email given", passphrase, "", ""},

		{"the whole email", "mail: alice@example.com!", "alice@example.com", full},
		{"the whole email, other case", "ALICE@EXAMPLE.COM", "alice@example.com", full},
		{"email given in capitals", "alice@example.com", " Alice@Example.COM ", full},
		{"the local part", "alice2024!!", "alice@example.com", local},
		{"the local part inside", "ms-alice-in-wonderland", "alice@example.com", local},
		{"the local part, other case", "ALICE in Wonderland", "alice@example.com", local},
		{"four characters are enough", "dave's secret garden", "dave@example.com", local},
		{"local part with a +tag", "alice+shop forever", "alice+shop@example.com", local},
		{"local part before its +tag", "alice rocks, 2024", "alice+shop@example.com", local},
		{"non-ASCII local part, case-folded", "JOSÉ hates mondays", "josé@example.com", local},
		{"a short +tag base is ignored", "al dente pasta night", "al+shop@example.com", ""},
		{"three characters are ignored", "bobsleigh kebab 9", "bob@example.com", ""},
		{"two characters are ignored", "jo jo jo, banana tree", "jo@example.com", ""},
		{"three non-ASCII characters are ignored", "zoëzoëzoë lemon", "zoë@example.com", ""},
		{"the domain alone is fine", "example.com rules ok", "alice@example.com", ""},
		{"email rules come before the list", "password", "password@example.com", local},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := account.ValidateNewPassword(tt.pw, tt.email)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("ValidateNewPassword(%q, %q): %v, want ok", tt.pw, tt.email, err)
				}
				return
			}
			if !errors.Is(err, account.ErrInvalidPassword) {
				t.Fatalf("ValidateNewPassword(%q, %q): %v, want ErrInvalidPassword", tt.pw, tt.email, err)
			}
			// The whole message is fixed text: it never echoes the
			// password or the email.
			if want := "account: invalid password: " + tt.want; err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}

// TestCommonPasswordList: the shipped list is the source's 100,000 entries
// unchanged (checksum in passwordlist/README.md), and every one of them
// that the length rule lets through is refused, in any case.
func TestCommonPasswordList(t *testing.T) {
	entries, err := account.ReadCommonPasswords()
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) < 100_000 {
		t.Fatalf("%d entries, want at least 100,000", len(entries))
	}
	sum := sha256.Sum256([]byte(strings.Join(entries, "\n") + "\n"))
	const want = "84f9f01da3323b41cdc030f89f7fab65bf76a7e0d5265acabb715c2b3795f148"
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("list checksum %s, want %s (update passwordlist/README.md with the file)", got, want)
	}
	if entries[0] != "123456" || entries[1] != "password" {
		t.Errorf("list starts %q, want the most common first", entries[:2])
	}
	long := 0
	for _, e := range entries {
		if utf8.RuneCountInString(e) < account.MinPasswordLen {
			continue
		}
		long++
		for _, v := range []string{e, strings.ToUpper(e), strings.ToLower(e)} {
			if err := account.ValidateNewPassword(v, "x@example.com"); !errors.Is(err, account.ErrInvalidPassword) {
				t.Fatalf("list entry %q accepted: %v", v, err)
			}
		}
	}
	n, size, err := account.CommonPasswordStats()
	if err != nil {
		t.Fatal(err)
	}
	// README and passwordlist/README.md state these numbers.
	if long != 39_330 || n != 38_452 {
		t.Errorf("%d entries of at least %d characters, %d once lowercased and deduplicated; README says 39,330 and 38,452", long, account.MinPasswordLen, n)
	}
	if size > 500_000 {
		t.Errorf("the list keeps %d bytes in memory, README says about 470 KB", size)
	}
	t.Logf("%d source entries, %d of at least %d characters, %d searched; %d bytes in memory", len(entries), long, account.MinPasswordLen, n, size)
}

func BenchmarkValidateNewPassword(b *testing.B) {
	for _, pw := range []string{"vivid otter marbles quince 71", "Qwertyuiop"} {
		b.Run(pw, func(b *testing.B) {
			account.ValidateNewPassword(pw, "ann@example.com") // load the list
			b.ReportAllocs()
			for b.Loop() {
				account.ValidateNewPassword(pw, "ann@example.com")
			}
		})
	}
}

// BenchmarkCommonPasswordsLoad measures what the first call of
// ValidateNewPassword pays once: decompressing and indexing the list.
func BenchmarkCommonPasswordsLoad(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := account.BuildCommonPasswordSet(); err != nil {
			b.Fatal(err)
		}
	}
}
