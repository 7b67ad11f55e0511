package memstore_test

import (
	"testing"

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

func BenchmarkGet(b *testing.B) { sessiontest.BenchGet(b, memstore.New()) }

func BenchmarkRotate(b *testing.B) { sessiontest.BenchRotate(b, memstore.New()) }
