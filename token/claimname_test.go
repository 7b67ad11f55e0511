package token_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/token"
)

func TestCheckClaimName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		why  string // part of the error message when refused
	}{
		// Allowed: plain, namespaced, and what issue 9 configures.
		{"role", true, ""},
		{"tenant", true, ""},
		{"scope", true, ""},
		{"Scope", true, ""},
		{"roles", true, ""},
		{"groups", true, ""},
		{"username", true, ""},
		{"email", true, ""},
		{"x", true, ""},
		{"R2", true, ""},
		{"org_id", true, ""},
		{"org.id", true, ""},
		{"org-id", true, ""},
		{"urn:example:tenant", true, ""},
		{"https://example.com/roles", true, ""},
		{strings.Repeat("a", token.MaxClaimNameLen), true, ""},

		// Shape.
		{"", false, "empty"},
		{strings.Repeat("a", token.MaxClaimNameLen+1), false, "65 bytes, the limit is 64"},
		{"1role", false, "must start with a letter"},
		{"_role", false, "must start with a letter"},
		{"-role", false, "must start with a letter"},
		{"/roles", false, "must start with a letter"},
		{":role", false, "must start with a letter"},
		{".role", false, "must start with a letter"},
		{"ro le", false, "' ' is not allowed"},
		{"role\x00", false, `'\x00' is not allowed`},
		{"role\n", false, `'\n' is not allowed`},
		{`ro"le`, false, `'"' is not allowed`},
		{`ro\le`, false, `'\\' is not allowed`},
		{"rôle", false, "byte 0xc3 is not allowed"},
		{"https://example.com/roles?x=1", false, "'?' is not allowed"},
		{"https://example.com/roles#x", false, "'#' is not allowed"},
		{"role+admin", false, "'+' is not allowed"},
		{"role@x", false, "'@' is not allowed"},
		{"role,tenant", false, "',' is not allowed"},

		// Registered (RFC 7519 §4.1), in any letter case.
		{"iss", false, `reserved claim name "iss"`},
		{"sub", false, `reserved claim name "sub"`},
		{"aud", false, `reserved claim name "aud"`},
		{"exp", false, `reserved claim name "exp"`},
		{"nbf", false, `reserved claim name "nbf"`},
		{"iat", false, `reserved claim name "iat"`},
		{"jti", false, `reserved claim name "jti"`},
		{"Sub", false, `reserved claim name "sub"`},
		{"EXP", false, `reserved claim name "exp"`},
		{"nBf", false, `reserved claim name "nbf"`},
		// RFC 9068, OpenID Connect, what sessiond issues.
		{"sid", false, `reserved claim name "sid"`},
		{"client_id", false, `reserved claim name "client_id"`},
		{"Client_ID", false, `reserved claim name "client_id"`},
		{"auth_time", false, `reserved claim name "auth_time"`},
		{"amr", false, `reserved claim name "amr"`},
		{"AMR", false, `reserved claim name "amr"`},
		{"acr", false, `reserved claim name "acr"`},
		{"azp", false, `reserved claim name "azp"`},
		{"nonce", false, `reserved claim name "nonce"`},
		{"at_hash", false, `reserved claim name "at_hash"`},
		{"c_hash", false, `reserved claim name "c_hash"`},
		{"cnf", false, `reserved claim name "cnf"`},
		{"act", false, `reserved claim name "act"`},
		{"may_act", false, `reserved claim name "may_act"`},
		{"typ", false, `reserved claim name "typ"`},
		{"Typ", false, `reserved claim name "typ"`},
		// RFC 7662: would shadow the introspection answer's verdict.
		{"active", false, `reserved claim name "active"`},
		{"Active", false, `reserved claim name "active"`},
		// Near misses of reserved names are ordinary names.
		{"subject", true, ""},
		{"client", true, ""},
		{"client-id", true, ""},
		{"issuer", true, ""},

		// Looks like a secret, anywhere in the name, in any case.
		{"password", false, `looks like a secret ("password")`},
		{"db_password_hash", false, `looks like a secret ("password")`},
		{"PassWord", false, `looks like a secret ("password")`},
		{"pass-word", false, `looks like a secret ("password")`},
		{"passwd", false, `looks like a secret ("passwd")`},
		{"pwd", false, `looks like a secret ("pwd")`},
		{"user_pwd", false, `looks like a secret ("pwd")`},
		{"secret", false, `looks like a secret ("secret")`},
		{"client_secret", false, `looks like a secret ("secret")`},
		{"SECRET_sauce", false, `looks like a secret ("secret")`},
		{"sec.ret", false, `looks like a secret ("secret")`},
		{"token", false, `looks like a secret ("token")`},
		{"refresh_token", false, `looks like a secret ("token")`},
		{"idToken", false, `looks like a secret ("token")`},
		{"credential", false, `looks like a secret ("credential")`},
		{"aws_credentials", false, `looks like a secret ("credential")`},
		{"apikey", false, `looks like a secret ("apikey")`},
		{"ApiKey", false, `looks like a secret ("apikey")`},
		{"api_key", false, `looks like a secret ("api_key")`},
		{"api-key", false, `looks like a secret ("apikey")`},
		{"api.key", false, `looks like a secret ("apikey")`},
		{"https://example.com/api/key", false, `looks like a secret ("apikey")`},
		{"private_key", false, `looks like a secret ("private_key")`},
		{"privateKey", false, `looks like a secret ("privatekey")`},
		{"private-key", false, `looks like a secret ("privatekey")`},
		{"tokens_left", false, `looks like a secret ("token")`}, // even if it is not one
		{"https://example.com/token", false, `looks like a secret ("token")`},
		// pwd split by a separator is not taken for a secret.
		{"stop_wd", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := token.CheckClaimName(tt.name)
			if tt.ok {
				if err != nil {
					t.Fatalf("CheckClaimName(%q) = %v, want nil", tt.name, err)
				}
				return
			}
			if !errors.Is(err, token.ErrClaimName) {
				t.Fatalf("CheckClaimName(%q) = %v, want ErrClaimName", tt.name, err)
			}
			if errors.Is(err, token.ErrMalformed) {
				t.Errorf("a claim name is not a token: %v wraps ErrMalformed", err)
			}
			if !strings.Contains(err.Error(), tt.why) {
				t.Errorf("CheckClaimName(%q) = %q, want it to say %q", tt.name, err, tt.why)
			}
		})
	}
}

func TestCheckClaimNames(t *testing.T) {
	tests := []struct {
		names []string
		want  string // "" for accepted, else part of the error
	}{
		{nil, ""},
		{[]string{"role"}, ""},
		{[]string{"role", "tenant", "scope"}, ""},
		{[]string{"role", "https://example.com/roles"}, ""},
		{[]string{"role", "role"}, `"role" listed twice`},
		{[]string{"role", "tenant", "Role"}, `"role" and "Role" differ only in letter case`},
		{[]string{"role", "sub"}, `reserved claim name "sub"`},
		{[]string{"role", "password"}, "looks like a secret"},
		{[]string{"role", ""}, "empty"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.names, ","), func(t *testing.T) {
			err := token.CheckClaimNames(tt.names)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("CheckClaimNames(%q) = %v", tt.names, err)
				}
				return
			}
			if !errors.Is(err, token.ErrClaimName) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("CheckClaimNames(%q) = %v, want ErrClaimName saying %q", tt.names, err, tt.want)
			}
		})
	}
}
