package account_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/account"
)

// testParams keep tests fast; they are still within Params.Validate.
var testParams = account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

func TestHashPasswordRoundTrip(t *testing.T) {
	phc, err := account.HashPassword("correct horse", testParams)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=64,t=1,p=1$") {
		t.Errorf("PHC string %q does not start with the expected header", phc)
	}
	tests := []struct {
		pw   string
		want bool
	}{
		{"correct horse", true},
		{"correct horsE", false},
		{"correct horse ", false},
		{"", false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%q", tt.pw), func(t *testing.T) {
			ok, err := account.CheckPassword(phc, tt.pw)
			if err != nil || ok != tt.want {
				t.Fatalf("CheckPassword = %v, %v; want %v", ok, err, tt.want)
			}
		})
	}
	again, err := account.HashPassword("correct horse", testParams)
	if err != nil {
		t.Fatalf("HashPassword: %v", err)
	}
	if again == phc {
		t.Error("two hashes of the same password are equal: salt not random")
	}
}

// TestCheckPasswordReferenceVectors checks interoperability with the
// reference implementation: vectors from phc-winner-argon2's src/test.c
// (password "password", salt "somesalt").
func TestCheckPasswordReferenceVectors(t *testing.T) {
	vectors := []string{
		"$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4",
		"$argon2id$v=19$m=256,t=2,p=2$c29tZXNhbHQ$bQk8UB/VmZZF4Oo79iDXuL5/0ttZwg2f/5U52iv1cDc",
		"$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
	}
	for _, v := range vectors {
		t.Run(v[:30], func(t *testing.T) {
			if ok, err := account.CheckPassword(v, "password"); err != nil || !ok {
				t.Errorf("CheckPassword(right password) = %v, %v; want true", ok, err)
			}
			if ok, err := account.CheckPassword(v, "passwore"); err != nil || ok {
				t.Errorf("CheckPassword(wrong password) = %v, %v; want false", ok, err)
			}
		})
	}
}

func TestCheckPasswordRefusesBadHashes(t *testing.T) {
	const salt, key = "c29tZXNhbHQ", "nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4"
	mk := func(head, params string) string { return head + params + "$" + salt + "$" + key }
	tests := []struct{ name, phc string }{
		{"empty", ""},
		{"garbage", "not a hash"},
		{"bcrypt", "$2b$10$abcdefghijklmnopqrstuuABCDEFGHIJKLMNOPQRSTUVWXYZ012"},
		{"argon2i", mk("$argon2i$v=19$", "m=256,t=2,p=1")},
		{"argon2d", mk("$argon2d$v=19$", "m=256,t=2,p=1")},
		{"old version", mk("$argon2id$v=16$", "m=256,t=2,p=1")},
		{"no version", "$argon2id$m=256,t=2,p=1$" + salt + "$" + key},
		{"params out of order", mk("$argon2id$v=19$", "t=2,m=256,p=1")},
		{"missing param", mk("$argon2id$v=19$", "m=256,t=2")},
		{"extra param", mk("$argon2id$v=19$", "m=256,t=2,p=1,k=1")},
		{"leading zero", mk("$argon2id$v=19$", "m=0256,t=2,p=1")},
		{"sign", mk("$argon2id$v=19$", "m=+256,t=2,p=1")},
		{"empty number", mk("$argon2id$v=19$", "m=,t=2,p=1")},
		{"overflow", mk("$argon2id$v=19$", "m=99999999999999999999,t=2,p=1")},
		{"memory over 1 GiB", mk("$argon2id$v=19$", "m=1048577,t=2,p=1")},
		{"memory 4 GiB", mk("$argon2id$v=19$", "m=4194304,t=2,p=1")},
		{"time over bound", mk("$argon2id$v=19$", "m=256,t=17,p=1")},
		{"time zero", mk("$argon2id$v=19$", "m=256,t=0,p=1")},
		{"threads zero", mk("$argon2id$v=19$", "m=256,t=2,p=0")},
		{"threads over bound", mk("$argon2id$v=19$", "m=4096,t=2,p=65")},
		{"threads over uint8", mk("$argon2id$v=19$", "m=8192,t=2,p=257")},
		{"memory under 8 per lane", mk("$argon2id$v=19$", "m=8,t=2,p=2")},
		{"padded base64", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ=$" + key},
		{"base64url alphabet", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$nf65EOgLrQMR_uIPnA4rEsF5h7TKyQwu9U1bMCHGi_4"},
		{"newline inside the salt", "$argon2id$v=19$m=256,t=2,p=1$c29tZX\nNhbHQ$" + key},
		{"carriage return inside the hash", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$nf65EOgLrQMR/uIPn\rA4rEsF5h7TKyQwu9U1bMCHGi/4"},
		{"trailing newline", mk("$argon2id$v=19$", "m=256,t=2,p=1") + "\n"},
		{"non-canonical base64 tail", "$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHR$" + key},
		{"salt too short", "$argon2id$v=19$m=256,t=2,p=1$c29tZQ$" + key},
		{"hash too short", "$argon2id$v=19$m=256,t=2,p=1$" + salt + "$nf65EOgLrQMR"},
		{"missing hash", "$argon2id$v=19$m=256,t=2,p=1$" + salt},
		{"trailing field", mk("$argon2id$v=19$", "m=256,t=2,p=1") + "$"},
		{"no leading $", mk("argon2id$v=19$", "m=256,t=2,p=1")},
	}
	record := account.RecordDerivations(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := account.CheckPassword(tt.phc, "password")
			if ok || !errors.Is(err, account.ErrInvalidHash) {
				t.Fatalf("CheckPassword(%q) = %v, %v; want ErrInvalidHash", tt.phc, ok, err)
			}
		})
	}
	if d := record(); len(d) != 0 {
		t.Errorf("refused hashes still ran %d argon2 computations", len(d))
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    account.Params
		ok   bool
	}{
		{"DefaultParams", account.DefaultParams, true},
		{"test params", testParams, true},
		{"zero", account.Params{}, false},
		{"memory 1 GiB", account.Params{Memory: 1 << 20, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, true},
		{"memory over 1 GiB", account.Params{Memory: 1<<20 + 1, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, false},
		{"memory under 8 KiB per lane", account.Params{Memory: 31, Time: 1, Threads: 4, SaltLen: 16, KeyLen: 32}, false},
		{"salt 7 bytes", account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 7, KeyLen: 32}, false},
		{"key 15 bytes", account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 15}, false},
		{"key 65 bytes", account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 65}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if tt.ok && err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if !tt.ok {
				if !errors.Is(err, account.ErrInvalidParams) {
					t.Fatalf("Validate: %v, want ErrInvalidParams", err)
				}
				if _, err := account.HashPassword("password", tt.p); !errors.Is(err, account.ErrInvalidParams) {
					t.Fatalf("HashPassword: %v, want ErrInvalidParams", err)
				}
			}
		})
	}
}

// FuzzParsePHC: whatever the stored string, parsing either refuses it with
// ErrInvalidHash or yields bounded parameters that format back to the same
// string (so each hash has exactly one accepted spelling).
func FuzzParsePHC(f *testing.F) {
	f.Add("$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4")
	f.Add("$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc")
	f.Add("$argon2id$v=19$m=0256,t=2,p=1$c29tZXNhbHQ$")
	f.Add("$argon2i$v=19$m=256,t=2,p=1$$")
	f.Add("$argon2id$v=19$m=256,t=2,p=1$c29tZXN\nhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4")
	f.Add("$argon2id$v=19$m=256,t=2,p=1$c29tZXNhbHQ$nf65EOgLrQMR/uIPnA4rEsF5h7TKyQwu9U1bMCHGi/4\r")
	f.Fuzz(func(t *testing.T, phc string) {
		p, salt, key, err := account.ParsePHC(phc)
		if err != nil {
			if !errors.Is(err, account.ErrInvalidHash) {
				t.Fatalf("error %v does not wrap ErrInvalidHash", err)
			}
			return
		}
		if err := p.Validate(); err != nil {
			t.Fatalf("accepted out-of-bounds params %+v: %v", p, err)
		}
		if int(p.SaltLen) != len(salt) || int(p.KeyLen) != len(key) {
			t.Fatalf("params %+v disagree with salt %d / key %d bytes", p, len(salt), len(key))
		}
		if again := account.FormatPHC(p, salt, key); again != phc {
			t.Fatalf("accepted non-canonical %q (canonical %q)", phc, again)
		}
	})
}

// BenchmarkHashPassword measures the cost of one signup or login under
// DefaultParams (64 MiB, t=3, p=4).
func BenchmarkHashPassword(b *testing.B) {
	for b.Loop() {
		if _, err := account.HashPassword("correct horse battery staple", account.DefaultParams); err != nil {
			b.Fatal(err)
		}
	}
}
