package sessiontest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

func testKeyRing(t *testing.T, s session.Store) {
	rs, ok := s.(token.RingStore)
	if !ok {
		t.Skip("store does not implement token.RingStore")
	}
	ctx := t.Context()
	load := func(t *testing.T, wantBlob []byte, wantVersion uint64) {
		t.Helper()
		blob, v, err := rs.LoadKeyRing(ctx)
		if err != nil {
			t.Fatalf("LoadKeyRing: %v", err)
		}
		if !bytes.Equal(blob, wantBlob) || v != wantVersion {
			t.Fatalf("LoadKeyRing = %q, %d; want %q, %d", blob, v, wantBlob, wantVersion)
		}
	}

	t.Run("cancelled", func(t *testing.T) {
		dead, cancel := context.WithCancel(ctx)
		cancel()
		if _, _, err := rs.LoadKeyRing(dead); !errors.Is(err, context.Canceled) {
			t.Fatalf("LoadKeyRing(cancelled) = %v, want context.Canceled", err)
		}
		if err := rs.SaveKeyRing(dead, []byte("x"), 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("SaveKeyRing(cancelled) = %v, want context.Canceled", err)
		}
		load(t, nil, 0)
	})
	t.Run("empty", func(t *testing.T) {
		blob, v, err := rs.LoadKeyRing(ctx)
		if blob != nil || v != 0 || err != nil {
			t.Fatalf("LoadKeyRing on an empty store = %q, %d, %v; want nil, 0, nil", blob, v, err)
		}
	})
	b1 := []byte("sealed ring one \x00\xff binary")
	t.Run("first-save", func(t *testing.T) {
		arg := bytes.Clone(b1)
		if err := rs.SaveKeyRing(ctx, arg, 0); err != nil {
			t.Fatalf("SaveKeyRing(prev 0): %v", err)
		}
		arg[0] = 'X' // the store kept its own copy
		load(t, b1, 1)
		got, _, _ := rs.LoadKeyRing(ctx)
		got[0] = 'Y' // and hands out copies
		load(t, b1, 1)
	})
	t.Run("stale", func(t *testing.T) {
		for _, prev := range []uint64{0, 2, 7} {
			err := rs.SaveKeyRing(ctx, []byte("intruder"), prev)
			if !errors.Is(err, token.ErrRingConflict) {
				t.Fatalf("SaveKeyRing(prev %d) with version 1 stored = %v, want ErrRingConflict", prev, err)
			}
		}
		load(t, b1, 1)
	})
	b2 := bytes.Repeat([]byte("two"), 10000) // rings grow with old keys
	t.Run("second-save", func(t *testing.T) {
		if err := rs.SaveKeyRing(ctx, b2, 1); err != nil {
			t.Fatalf("SaveKeyRing(prev 1): %v", err)
		}
		load(t, b2, 2)
	})
	t.Run("concurrent", func(t *testing.T) {
		for round := uint64(2); round < 5; round++ {
			const n = 16
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					errs[i] = rs.SaveKeyRing(ctx, fmt.Appendf(nil, "ring %d by %d", round+1, i), round)
				})
			}
			close(start)
			wg.Wait()
			winner := -1
			for i, err := range errs {
				switch {
				case err == nil && winner >= 0:
					t.Fatalf("version %d: savers %d and %d both won", round+1, winner, i)
				case err == nil:
					winner = i
				case !errors.Is(err, token.ErrRingConflict):
					t.Fatalf("saver %d: %v", i, err)
				}
			}
			if winner < 0 {
				t.Fatalf("version %d: no saver won", round+1)
			}
			load(t, fmt.Appendf(nil, "ring %d by %d", round+1, winner), round+1)
		}
	})
}
