package httpauth_test

import (
	"net/http/httptest"
	"net/netip"
	"testing"

	"github.com/sessiond/sessiond/httpauth"
)

// FuzzClientIP feeds arbitrary X-Forwarded-For headers and peers to
// ClientIP. The answer is an address or "", never a piece of the header
// that is not one; with no trusted proxy, or from an untrusted peer, the
// header is ignored.
func FuzzClientIP(f *testing.F) {
	f.Add("10.0.0.1:4000", "203.0.113.7, 10.0.0.2")
	f.Add("[::1]:80", "1.2.3.4, ::ffff:10.0.0.9, garbage")
	f.Add("198.51.100.9:1", "fe80::1%eth0")
	f.Add("10.0.0.1:4000", "")
	trusted, err := httpauth.ParseTrusted("10.0.0.0/8, ::1")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		r.Header.Set("X-Forwarded-For", xff)
		plain := httpauth.ClientIP{}.Of(r)
		behind := httpauth.ClientIP{Trusted: trusted}.Of(r)
		for _, got := range []string{plain, behind} {
			if got == "" {
				continue
			}
			if _, err := netip.ParseAddr(got); err != nil {
				t.Fatalf("ClientIP %q is not an address (peer %q, X-Forwarded-For %q)", got, remote, xff)
			}
		}
		r.Header.Del("X-Forwarded-For")
		if peer := (httpauth.ClientIP{}).Of(r); plain != peer {
			t.Fatalf("without trusted proxies the header changed the answer: %q vs %q", plain, peer)
		}
		if untrusted := (httpauth.ClientIP{Trusted: trusted}).Of(r); plain != "" {
			if a, _ := netip.ParseAddr(plain); !trustedAddr(trusted, a) && behind != untrusted {
				t.Fatalf("an untrusted peer's header was believed: %q vs %q", behind, untrusted)
			}
		}
	})
}

func trustedAddr(ps []netip.Prefix, a netip.Addr) bool {
	for _, p := range ps {
		if p.Contains(a.Unmap()) {
			return true
		}
	}
	return false
}
