package boltstore_test

import (
	"testing"

	"github.com/sessiond/sessiond/session/sessiontest"
)

func BenchmarkGet(b *testing.B) { sessiontest.BenchGet(b, open(b, b.TempDir())) }

// BenchmarkRotate includes bbolt's fsync on every commit, which dominates.
func BenchmarkRotate(b *testing.B) { sessiontest.BenchRotate(b, open(b, b.TempDir())) }
