package boltstore_test

import (
	"bytes"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

func BenchmarkGet(b *testing.B) { sessiontest.BenchGet(b, open(b, b.TempDir())) }

// BenchmarkRotate includes bbolt's fsync on every commit, which dominates:
// one goroutine, so every rotation commits alone.
func BenchmarkRotate(b *testing.B) { sessiontest.BenchRotate(b, open(b, b.TempDir())) }

// BenchmarkRotateConcurrent64 rotates 64 sessions, each from its own
// goroutine, as 64 clients refreshing at once do, and reports rotations
// per second: "group-commit" is the store as it is (concurrent rotations
// share a commit and its fsync), "fsync-each" commits every rotation alone
// (WithCommitBatch(1)), as before group commit.
func BenchmarkRotateConcurrent64(b *testing.B) {
	for _, bc := range []struct {
		name string
		opts []boltstore.Option
	}{
		{"group-commit", nil},
		{"fsync-each", []boltstore.Option{boltstore.WithCommitBatch(1)}},
	} {
		b.Run(bc.name, func(b *testing.B) { benchRotateConcurrent(b, 64, bc.opts...) })
	}
}

func benchRotateConcurrent(b *testing.B, workers int, opts ...boltstore.Option) {
	s := open(b, b.TempDir(), opts...)
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

// BenchmarkBoltFloor is the bare bbolt beside which the store's Rotate is
// judged: a Put of a record-sized value (600 bytes) under each writer's own
// key, with no decoding, decision or index. "update" commits each write
// alone (an fsync each); "batch" is bbolt's DB.Batch at its default
// MaxBatchDelay of 10 ms and at 1 ms. With 1 writer it shows what
// DB.Batch's timer costs a lone client, the reason the store groups
// commits without one (commit.go).
func BenchmarkBoltFloor(b *testing.B) {
	for _, writers := range []int{1, 64} {
		for _, bc := range []struct {
			name  string
			delay time.Duration // 0: Update
		}{{"update", 0}, {"batch-10ms", 10 * time.Millisecond}, {"batch-1ms", time.Millisecond}} {
			b.Run(fmt.Sprintf("%s/writers=%d", bc.name, writers), func(b *testing.B) {
				benchBoltFloor(b, writers, bc.delay)
			})
		}
	}
}

func benchBoltFloor(b *testing.B, writers int, delay time.Duration) {
	db, err := bbolt.Open(filepath.Join(b.TempDir(), "floor.db"), 0o600, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if delay > 0 {
		db.MaxBatchDelay = delay
	}
	bucket := []byte("sessions")
	if err := db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
		b.Fatal(err)
	}
	write := db.Update
	if delay > 0 {
		write = db.Batch
	}
	value := bytes.Repeat([]byte("x"), 600)
	var left atomic.Int64
	left.Store(int64(b.N))
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		key := []byte(fmt.Sprintf("writer-%03d", w))
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := write(func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put(key, value) }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "writes/s")
}
