package boltstore_test

import (
	"testing"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

func open(t testing.TB, dir string, opts ...boltstore.Option) *boltstore.Store {
	t.Helper()
	s, err := boltstore.Open(dir, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return open(t, t.TempDir())
	})
}

// A tiny batch size makes every DeleteExpired of the suite cross batch
// boundaries.
func TestConformanceSmallBatches(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return open(t, t.TempDir(), boltstore.WithDeleteBatch(3))
	})
}
