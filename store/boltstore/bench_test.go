package boltstore_test

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
)

func BenchmarkGet(b *testing.B) { sessiontest.BenchGet(b, open(b, b.TempDir())) }

// BenchmarkRotate includes bbolt's fsync on every commit, which dominates:
// one goroutine, so every rotation commits alone.
func BenchmarkRotate(b *testing.B) { sessiontest.BenchRotate(b, open(b, b.TempDir())) }

// BenchmarkRotateConcurrent64 rotates 64 sessions, each from its own
// goroutine, as 64 clients refreshing at once do: concurrent rotations
// share a commit (and its fsync). It reports rotations per second.
func BenchmarkRotateConcurrent64(b *testing.B) {
	benchRotateConcurrent(b, 64)
}

func benchRotateConcurrent(b *testing.B, workers int) {
	s := open(b, b.TempDir())
	ctx := b.Context()
	type client struct {
		id  string
		cur []byte
	}
	clients := make([]*client, workers)
	for i := range clients {
		r := sessiontest.NewRecord("bench", 0)
		if err := s.Create(ctx, r); err != nil {
			b.Fatal(err)
		}
		clients[i] = &client{id: r.ID, cur: r.RefreshHash}
	}
	hashes := make([][]byte, 1024)
	for i := range hashes {
		hashes[i] = sessiontest.NewHash()
	}
	// One goroutine per session (two on one session would take each
	// other for thieves); together they do b.N rotations.
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			now := sessiontest.Base
			for i := 0; left.Add(-1) >= 0; i++ {
				h := hashes[i%len(hashes)]
				now = now.Add(time.Microsecond)
				out, _, err := s.Rotate(ctx, c.id, session.RotateRequest{
					Presented: c.cur, Next: h, Now: now, Grace: 10 * time.Second,
					IdleExpiresAt: now.Add(24 * time.Hour), RevokeHold: time.Hour,
				})
				if err != nil || out != session.Rotated {
					b.Errorf("Rotate = %v, %v", out, err)
					return
				}
				c.cur = h
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "rotations/s")
}
