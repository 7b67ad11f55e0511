package boltstore

import (
	"bytes"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// BenchmarkCommitterPut is BenchmarkBoltFloor's bare Put (bench_test.go)
// through the store's group commit, beside bbolt's own Update and Batch
// there: with 1 writer it must cost what Update does (no timer), with 64
// it reports the writes per second and how many share a commit.
func BenchmarkCommitterPut(b *testing.B) {
	for _, writers := range []int{1, 64} {
		b.Run(fmt.Sprintf("writers=%d", writers), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			bucket := []byte("floor")
			if err := s.db.Update(func(tx *bbolt.Tx) error { _, err := tx.CreateBucket(bucket); return err }); err != nil {
				b.Fatal(err)
			}
			var commits, shared atomic.Int64
			s.commits.attempted = func(n int) { commits.Add(1); shared.Add(int64(n)) }
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
						if err := s.write(b.Context(), func(tx *bbolt.Tx) error { return tx.Bucket(bucket).Put(key, value) }); err != nil {
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
			b.ReportMetric(float64(shared.Load())/float64(max(commits.Load(), 1)), "writes/commit")
		})
	}
}
