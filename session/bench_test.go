package session_test

import (
	"testing"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// BenchmarkVerify is the hot path: an access token checked on a request.
// "uncached/ALG" pays the signature check every time, with a key of that
// algorithm (ES256 is what a sessiond server signs with by default; the
// floor for each is token's BenchmarkFloor/ALG); "cached" is a token seen
// before, which costs a SHA-256 of the token, a map read and the
// revoked-set check, whatever the algorithm.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name  string
		alg   token.Algorithm
		cache int
	}{
		{"uncached/ES256", token.ES256, -1},
		{"uncached/EdDSA", token.EdDSA, -1},
		{"uncached/RS256", token.RS256, -1},
		{"cached", token.ES256, 0},
	} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b)
			keys, err := token.NewKeyRing(tc.alg, f.clock.Now())
			if err != nil {
				b.Fatal(err)
			}
			m := f.manager(b, func(c *session.Config) { c.Keys, c.VerifyCacheSize = keys, tc.cache })
			tk := login(b, m, "alice")
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Verify(ctx, tk.AccessToken); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRefresh is a full rotation on the in-memory store.
func BenchmarkRefresh(b *testing.B) {
	f := newFixture(b)
	m := f.manager(b, nil)
	tk := login(b, m, "alice")
	rt := tk.RefreshToken
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		next, err := m.Refresh(ctx, rt, session.Meta{})
		if err != nil {
			b.Fatal(err)
		}
		rt = next.RefreshToken
	}
}
