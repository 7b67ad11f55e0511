package sessiontest

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// BenchRotate measures Store.Rotate: one session rotated again and again,
// with the hashes made beforehand so only the store is measured. Every
// backend's BenchmarkRotate calls it, so their numbers compare.
func BenchRotate(b *testing.B, s session.Store) {
	b.Helper()
	ctx := b.Context()
	r := NewRecord("bench", 0)
	if err := s.Create(ctx, r); err != nil {
		b.Fatal(err)
	}
	hashes := make([][]byte, 1024)
	for i := range hashes {
		hashes[i] = NewHash()
	}
	cur := r.RefreshHash
	now := Base
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		next := hashes[i%len(hashes)]
		now = now.Add(time.Microsecond)
		out, _, err := s.Rotate(ctx, r.ID, session.RotateRequest{
			Presented: cur, Next: next, Now: now, Grace: 10 * time.Second,
			IdleExpiresAt: now.Add(24 * time.Hour), RevokeHold: time.Hour,
		})
		if err != nil || out != session.Rotated {
			b.Fatalf("Rotate = %v, %v", out, err)
		}
		cur = next
	}
}

// BenchGet measures Store.Get of one session.
func BenchGet(b *testing.B, s session.Store) {
	b.Helper()
	r := NewRecord("bench", 0)
	if err := s.Create(b.Context(), r); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Get(b.Context(), r.ID); err != nil {
			b.Fatal(err)
		}
	}
}
