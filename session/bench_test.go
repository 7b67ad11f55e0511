package session_test

import (
	"testing"

	"github.com/sessiond/sessiond/session"
)

// BenchmarkVerify is the hot path: an access token checked on a request.
// "uncached" pays the signature check every time (the floor for that is
// token's BenchmarkFloor); "cached" is a token seen before, which costs a
// SHA-256 of the token, a map read and the revoked-set check.
func BenchmarkVerify(b *testing.B) {
	for _, tc := range []struct {
		name  string
		cache int
	}{{"uncached", -1}, {"cached", 0}} {
		b.Run(tc.name, func(b *testing.B) {
			f := newFixture(b)
			m := f.manager(b, func(c *session.Config) { c.VerifyCacheSize = tc.cache })
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
