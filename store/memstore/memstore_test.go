package memstore_test

import (
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/memstore"
)

func TestConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		s := memstore.New()
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestConformanceZeroValue(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store { return new(memstore.Store) })
}

func BenchmarkGet(b *testing.B) {
	s := memstore.New()
	r := sessiontest.NewRecord("u", 0)
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

func BenchmarkRotate(b *testing.B) {
	s := memstore.New()
	r := sessiontest.NewRecord("u", 0)
	if err := s.Create(b.Context(), r); err != nil {
		b.Fatal(err)
	}
	// Precomputed hashes so the benchmark measures the store alone.
	hashes := make([][]byte, 1024)
	for i := range hashes {
		hashes[i] = sessiontest.NewHash()
	}
	cur := r.RefreshHash
	now := sessiontest.Base
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		next := hashes[i%len(hashes)]
		i++
		now = now.Add(time.Microsecond)
		out, _, err := s.Rotate(b.Context(), r.ID, session.RotateRequest{
			Presented: cur, Next: next, Now: now, Grace: 10 * time.Second,
			IdleExpiresAt: now.Add(time.Hour), RevokeHold: time.Hour,
		})
		if err != nil || out != session.Rotated {
			b.Fatalf("Rotate = %v, %v", out, err)
		}
		cur = next
	}
}
