package token

import (
	"bytes"
	"fmt"
)

// MaxClaimNameLen is the longest application claim name, in bytes.
const MaxClaimNameLen = 64

// reservedClaims are the names no application claim may take, in lower
// case (the comparison ignores case: golang-jwt and other verifiers match
// claim names case-insensitively, so "Sub" could stand in for "sub"):
//   - RFC 7519 §4.1: iss sub aud exp nbf iat jti;
//   - what sessiond issues or RFC 9068 and OpenID Connect define for
//     access and ID tokens, which verifiers read with a meaning of their
//     own: sid client_id auth_time amr acr azp nonce at_hash c_hash, the
//     confirmation and delegation claims cnf act may_act (RFC 7800, RFC
//     8693), and typ;
//   - active: the member of an RFC 7662 introspection answer that says
//     whether the token is valid, which a claim merged into that answer
//     must not shadow.
//
// scope is deliberately not reserved: it is the usual application claim of
// RFC 9068 §2.2.3, and sessiond issues no scope of its own.
var reservedClaims = map[string]bool{
	"iss": true, "sub": true, "aud": true, "exp": true, "nbf": true, "iat": true, "jti": true,
	"sid": true, "client_id": true, "auth_time": true, "amr": true, "acr": true, "azp": true,
	"nonce": true, "at_hash": true, "c_hash": true, "cnf": true, "act": true, "may_act": true,
	"typ": true, "active": true,
}

// secretWords are the parts of a name that make it look like a secret,
// looked for in the lower-cased name.
var secretWords = [][]byte{
	[]byte("password"), []byte("passwd"), []byte("pwd"), []byte("secret"), []byte("token"),
	[]byte("credential"), []byte("apikey"), []byte("api_key"), []byte("privatekey"), []byte("private_key"),
}

// joinedSecretWords are looked for in the lower-cased name without its
// separators (_ . : / -), so "pass-word" or "api.key" are caught too. pwd
// is not among them: three letters met across a separator are too often an
// accident.
var joinedSecretWords = [][]byte{
	[]byte("password"), []byte("passwd"), []byte("secret"), []byte("token"),
	[]byte("credential"), []byte("apikey"), []byte("privatekey"),
}

// CheckClaimName reports whether name may be the name of an application
// claim, configured by the operator and carried in Claims.Extra. If not,
// the error wraps ErrClaimName and says why. A name must:
//   - be 1 to MaxClaimNameLen characters of A-Z a-z 0-9 _ . : / -, the
//     first a letter. ':' and '/' are allowed for collision-resistant names
//     (RFC 7519 §4.2), such as "https://example.com/roles" or
//     "urn:example:tenant"; nothing that needs escaping in JSON is;
//   - not be, in any letter case, a registered claim (iss sub aud exp nbf
//     iat jti) or one sessiond, RFC 9068, OpenID Connect or RFC 7662
//     introspection give a meaning to (sid client_id auth_time amr acr azp
//     nonce at_hash c_hash cnf act may_act typ active); scope is allowed;
//   - not look like a secret: contain, in any letter case, password,
//     passwd, pwd, secret, token, credential, apikey, api_key, privatekey
//     or private_key, also across separators ("Pass-Word", "api.key").
//     Anyone holding an access token can read its claims.
func CheckClaimName(name string) error {
	bad := func(why string, args ...any) error {
		return fmt.Errorf("%w: %q: %s", ErrClaimName, clip([]byte(name)), fmt.Sprintf(why, args...))
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxClaimNameLen:
		return bad("%d bytes, the limit is %d", len(name), MaxClaimNameLen)
	case !isLetter(name[0]):
		return bad("must start with a letter")
	}
	var lbuf, jbuf [MaxClaimNameLen]byte
	lower, joined := lbuf[:0], jbuf[:0]
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case isLetter(c) || c >= '0' && c <= '9':
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			lower = append(lower, c)
			joined = append(joined, c)
		case c == '_' || c == '.' || c == ':' || c == '/' || c == '-':
			lower = append(lower, c)
		case c >= 0x80:
			return bad("byte %#x is not allowed (only A-Z a-z 0-9 _ . : / -)", c)
		default:
			return bad("character %q is not allowed (only A-Z a-z 0-9 _ . : / -)", rune(c))
		}
	}
	if reservedClaims[string(lower)] {
		return bad("reserved claim name %q", string(lower))
	}
	for _, w := range secretWords {
		if bytes.Contains(lower, w) {
			return bad("looks like a secret (%q)", string(w))
		}
	}
	for _, w := range joinedSecretWords {
		if bytes.Contains(joined, w) {
			return bad("looks like a secret (%q)", string(w))
		}
	}
	return nil
}

// CheckClaimNames checks every name with CheckClaimName, and that no two
// of them are the same name in any letter case (a token carrying both
// "role" and "Role" would mean different things to verifiers that match
// names case-insensitively). The error wraps ErrClaimName.
func CheckClaimNames(names []string) error {
	seen := make(map[string]string, len(names))
	for _, n := range names {
		if err := CheckClaimName(n); err != nil {
			return err
		}
		l := asciiLower(n)
		if prev, dup := seen[l]; dup {
			if prev == n {
				return fmt.Errorf("%w: %q listed twice", ErrClaimName, n)
			}
			return fmt.Errorf("%w: %q and %q differ only in letter case", ErrClaimName, prev, n)
		}
		seen[l] = n
	}
	return nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
