package token_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

// slowLoad is a RingStore whose next LoadKeyRing returns what was stored
// when it was called, but only once release is closed: a reload whose
// answer is delayed on the network.
type slowLoad struct {
	*mapStore
	hold    bool
	loaded  chan struct{}
	release chan struct{}
}

func (s *slowLoad) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	blob, ver, err := s.mapStore.LoadKeyRing(ctx)
	if s.hold {
		s.hold = false
		close(s.loaded)
		<-s.release
	}
	return blob, ver, err
}

// A reload that read the ring before a rotation but finishes after it must
// not put the older ring back: the node would sign again with the key the
// rotation retired, which other nodes drop once it is pruned.
func TestReloadNeverGoesBack(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := &mapStore{}
	r, err := token.LoadOrCreateKeyRing(ctx, base, master, token.EdDSA, now)
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowLoad{mapStore: base, hold: true, loaded: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() { done <- token.ReloadShared(ctx, slow, r, master) }()
	<-slow.loaded // the reload has read version 1
	if _, err := token.RotateShared(ctx, base, r, master, token.EdDSA, now.Add(time.Minute), 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	active := r.Keys(now)[0].ID
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := r.Keys(now)[0].ID; got != active {
		t.Fatalf("after a late reload the active key is %s, want the rotated %s", got, active)
	}
	// A reload that is not late still moves the ring forward.
	other, err := token.LoadOrCreateKeyRing(ctx, base, master, token.EdDSA, now)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.RotateShared(ctx, base, other, master, token.EdDSA, now.Add(2*time.Minute), 0, time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := token.ReloadShared(ctx, base, r, master); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Keys(now)[0].ID, other.Keys(now)[0].ID; got != want {
		t.Fatalf("reload did not pick up another node's rotation: active %s, want %s", got, want)
	}
}

// A store that was wiped and given a new ring (version 1 again) is still
// followed: versions only order views of one ring.
func TestReloadFollowsAResetStore(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	s := &mapStore{}
	r, err := token.LoadOrCreateKeyRing(ctx, s, master, token.EdDSA, now)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := token.RotateShared(ctx, s, r, master, token.EdDSA, now.Add(time.Duration(i+1)*time.Minute), 0, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	wiped := &mapStore{}
	fresh, err := token.LoadOrCreateKeyRing(ctx, wiped, master, token.EdDSA, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := token.ReloadShared(ctx, wiped, r, master); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Keys(now)[0].ID, fresh.Keys(now)[0].ID; got != want {
		t.Fatalf("after the store was reset the active key is %s, want the new ring's %s", got, want)
	}
}

// An immediate rotation (after a compromise) while a key is pending drops
// the pending key. A reload that read the ring with the pending key but
// finishes after that rotation must not bring it back: the node would
// drop the emergency key and sign with the compromised one, then with the
// dropped one.
func TestLateReloadAfterImmediateRotation(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	base := &mapStore{}
	r, err := token.LoadOrCreateKeyRing(ctx, base, master, token.EdDSA, now)
	if err != nil {
		t.Fatal(err)
	}
	pend, err := token.RotateShared(ctx, base, r, master, token.EdDSA, now.Add(time.Hour), 5*time.Minute, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	slow := &slowLoad{mapStore: base, hold: true, loaded: make(chan struct{}), release: make(chan struct{})}
	done := make(chan error)
	go func() { done <- token.ReloadShared(ctx, slow, r, master) }()
	<-slow.loaded // the reload has read the ring with the pending key
	emergency := now.Add(time.Hour + time.Minute)
	k, err := token.RotateShared(ctx, base, r, master, token.EdDSA, emergency, 0, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	close(slow.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for _, at := range []time.Time{emergency, pend.ActivatesAt, pend.ActivatesAt.Add(time.Hour)} {
		keys := r.Keys(at)
		if keys[0].ID != k.ID || !keys[0].Active {
			t.Fatalf("at %v after a late reload the keys are %+v, want %s active", at, keys, k.ID)
		}
		for _, key := range keys {
			if key.ID == pend.ID {
				t.Fatalf("the dropped pending key %s came back", pend.ID)
			}
		}
	}
}
