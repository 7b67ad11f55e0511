package node

import (
	neturl "net/url"
	"strings"
)

// RedactStoreURL hides the passwords of a store URL (see StoreURLSecrets)
// before it is printed, logged or put in an error.
func RedactStoreURL(u string) string {
	for _, secret := range StoreURLSecrets(u) {
		u = strings.ReplaceAll(u, secret, "xxxxx")
	}
	return u
}

// StoreURLSecrets returns the passwords in a store URL: the one of the user
// info (scheme://user:password@host) and the values of password query
// parameters (pgx accepts ?password= and ?sslpassword=), raw and decoded.
// Hand-written rather than net/url: redis-cluster://h1:p1,h2:p2 is not a
// URL net/url parses, and a malformed URL must be redacted all the same.
func StoreURLSecrets(u string) []string {
	_, rest, ok := strings.Cut(u, "://")
	if !ok {
		return nil
	}
	var out []string
	add := func(s string) {
		if len(s) >= 3 { // shorter would redact innocent text; no real password is
			out = append(out, s)
			if d, err := neturl.QueryUnescape(s); err == nil && d != s && len(d) >= 3 {
				out = append(out, d)
			}
		}
	}
	authority, _, _ := strings.Cut(rest, "/")
	authority, _, _ = strings.Cut(authority, "?")
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		if _, pw, ok := strings.Cut(authority[:at], ":"); ok {
			add(pw)
		}
	}
	if _, query, ok := strings.Cut(rest, "?"); ok {
		for kv := range strings.SplitSeq(query, "&") {
			k, v, _ := strings.Cut(kv, "=")
			if k = strings.ToLower(k); k == "password" || k == "sslpassword" {
				add(v)
			}
		}
	}
	return out
}

// redactErr is err with the passwords of url hidden, for a driver whose
// message may quote its URL. It keeps err's chain for errors.Is.
func redactErr(err error, url string) error {
	msg := err.Error()
	red := msg
	for _, secret := range StoreURLSecrets(url) {
		red = strings.ReplaceAll(red, secret, "xxxxx")
	}
	if red == msg {
		return err
	}
	return redactedError{msg: red, err: err}
}

// redactedError shows msg and unwraps to the original error.
type redactedError struct {
	msg string
	err error
}

func (e redactedError) Error() string { return e.msg }
func (e redactedError) Unwrap() error { return e.err }
