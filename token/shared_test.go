package token_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

// mapStore is a minimal in-memory RingStore, a test double for the real
// stores (which run their own tests).
type mapStore struct {
	mu       sync.Mutex
	blob     []byte
	version  uint64
	saves    int
	failNext int // number of SaveKeyRing calls to fail with a conflict
}

func (s *mapStore) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.blob), s.version, nil
}

func (s *mapStore) SaveKeyRing(ctx context.Context, blob []byte, prev uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failNext > 0 {
		s.failNext--
		s.version++ // someone else saved
		return token.ErrRingConflict
	}
	if prev != s.version {
		return token.ErrRingConflict
	}
	s.blob, s.version = bytes.Clone(blob), prev+1
	s.saves++
	return nil
}

var master = bytes.Repeat([]byte{0x5a}, 32)

func kids(r *token.KeyRing) []string {
	var out []string
	for _, k := range r.Keys(t0) {
		out = append(out, k.ID)
	}
	return out
}

func TestLoadOrCreateConverges(t *testing.T) {
	s := &mapStore{}
	ctx := context.Background()
	const nodes = 8
	rings := make([]*token.KeyRing, nodes)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range nodes {
		wg.Go(func() {
			<-start
			r, err := token.LoadOrCreateKeyRing(ctx, s, master, token.EdDSA, t0)
			if err != nil {
				t.Errorf("node %d: %v", i, err)
				return
			}
			rings[i] = r
		})
	}
	close(start)
	wg.Wait()
	if t.Failed() {
		return
	}
	if s.saves != 1 {
		t.Errorf("store saved %d times, want 1", s.saves)
	}
	want := kids(rings[0])
	tok := mustSign(t, rings[0], testClaims())
	for i, r := range rings {
		if got := kids(r); len(got) != 1 || got[0] != want[0] {
			t.Errorf("node %d has keys %v, want %v", i, got, want)
		}
		if _, err := verifierFor(r, t0).Verify(tok); err != nil {
			t.Errorf("node %d cannot verify node 0's token: %v", i, err)
		}
	}
	// A later start loads the same ring.
	again, err := token.LoadOrCreateKeyRing(ctx, s, master, token.ES256, t0)
	if err != nil || kids(again)[0] != want[0] {
		t.Fatalf("reload: %v %v", kids(again), err)
	}
	// A wrong master key is a clear error, not a new ring.
	if _, err := token.LoadOrCreateKeyRing(ctx, s, bytes.Repeat([]byte{1}, 32), token.EdDSA, t0); !errors.Is(err, token.ErrSealed) {
		t.Fatalf("wrong master: %v, want ErrSealed", err)
	}
}

func TestRotateSharedAndReload(t *testing.T) {
	s := &mapStore{}
	ctx := context.Background()
	a, err := token.LoadOrCreateKeyRing(ctx, s, master, token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := token.LoadOrCreateKeyRing(ctx, s, master, token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	oldTok := mustSign(t, a, testClaims())

	now := t0.Add(time.Minute)
	if _, err := token.RotateShared(ctx, s, a, master, token.EdDSA, now, 0, 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(a.Keys(now)) != 2 {
		t.Fatalf("a after rotation: %+v", a.Keys(now))
	}
	newTok := mustSign(t, a, claimsAt(now))
	if _, err := verifierFor(b, now).Verify(newTok); !errors.Is(err, token.ErrUnknownKey) {
		t.Fatalf("b before reload: %v, want ErrUnknownKey", err)
	}
	if err := token.ReloadShared(ctx, s, b, master); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{oldTok, newTok} {
		if _, err := verifierFor(b, now).Verify(tok); err != nil {
			t.Errorf("b after reload: %v", err)
		}
	}

	// b rotates from a stale view: RotateShared loads the latest first, so
	// nothing a did is lost.
	if _, err := token.RotateShared(ctx, s, b, master, token.ES256, now.Add(time.Minute), 0, 20*time.Minute); err != nil {
		t.Fatal(err)
	}
	if len(b.Keys(now)) != 3 {
		t.Fatalf("b after its rotation: %+v", b.Keys(now))
	}
	if err := token.ReloadShared(ctx, s, a, master); err != nil {
		t.Fatal(err)
	}
	if got, want := kids(a), kids(b); len(got) != 3 || got[0] != want[0] {
		t.Fatalf("a = %v, b = %v", got, want)
	}

	// A rotation long after drops keys already retired.
	late := now.Add(2 * time.Hour)
	if _, err := token.RotateShared(ctx, s, a, master, token.EdDSA, late, 0, time.Minute); err != nil {
		t.Fatal(err)
	}
	if n := len(a.Keys(late)); n != 2 {
		t.Fatalf("after late rotation: %d keys, want 2 (new + just retired)", n)
	}
}

func TestRotateSharedRetriesConflicts(t *testing.T) {
	s := &mapStore{}
	ctx := context.Background()
	r, err := token.LoadOrCreateKeyRing(ctx, s, master, token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	before := kids(r)
	s.failNext = 2
	if _, err := token.RotateShared(ctx, s, r, master, token.EdDSA, t0, 0, time.Minute); err != nil {
		t.Fatalf("RotateShared with two conflicts: %v", err)
	}
	if kids(r)[0] == before[0] {
		t.Error("not rotated")
	}
	s.failNext = 100
	before = kids(r)
	_, err = token.RotateShared(ctx, s, r, master, token.EdDSA, t0, 0, time.Minute)
	if !errors.Is(err, token.ErrRingConflict) {
		t.Fatalf("endless conflicts: %v, want ErrRingConflict", err)
	}
	if kids(r)[0] != before[0] {
		t.Error("ring changed although the save failed")
	}
}

func TestReloadSharedEmpty(t *testing.T) {
	r, _ := token.NewKeyRing(token.EdDSA, t0)
	if err := token.ReloadShared(context.Background(), &mapStore{}, r, master); err == nil {
		t.Fatal("ReloadShared from an empty store succeeded")
	}
}

// Two nodes share a ring through the store. One rotates with a
// publish-ahead; the other reloads on its schedule, more often than the
// publish-ahead. At every instant both sign with the same key, old before
// the activation and new from it, with no store write at activation, and
// reloads on either side of that instant change nothing.
func TestNodesSwitchSigningKeyTogether(t *testing.T) {
	ctx := context.Background()
	s := &mapStore{}
	a, err := token.LoadOrCreateKeyRing(ctx, s, master, token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := token.LoadOrCreateKeyRing(ctx, s, master, token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := activeKID(t, a)
	const ahead, reloadEvery = 30 * time.Second, 10 * time.Second
	rotatedAt := t0.Add(time.Hour + 100*time.Millisecond)
	p, err := token.RotateShared(ctx, s, a, master, token.EdDSA, rotatedAt, ahead, retain)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Pending || !p.ActivatesAt.Equal(t0.Add(time.Hour+31*time.Second)) {
		t.Fatalf("RotateShared = %+v", p)
	}
	saves := s.saves
	instants := []time.Time{p.ActivatesAt.Add(-time.Nanosecond), p.ActivatesAt, p.ActivatesAt.Add(time.Nanosecond)}
	for d := time.Duration(0); d <= ahead+2*reloadEvery; d += 250 * time.Millisecond {
		instants = append(instants, rotatedAt.Add(d))
	}
	slices.SortFunc(instants, time.Time.Compare)
	nextReload := rotatedAt.Add(reloadEvery)
	for _, now := range instants {
		if !now.Before(nextReload) {
			for _, r := range []*token.KeyRing{a, b} {
				if err := token.ReloadShared(ctx, s, r, master); err != nil {
					t.Fatal(err)
				}
			}
			nextReload = nextReload.Add(reloadEvery)
		}
		want := oldKID
		if !now.Before(p.ActivatesAt) {
			want = p.ID
		}
		tokA, tokB := mustSign(t, a, claimsAt(now)), mustSign(t, b, claimsAt(now))
		if ka, kb := kidOf(t, tokA), kidOf(t, tokB); ka != want || kb != want {
			t.Fatalf("at %v node a signs with %s, node b with %s; want %s (old %s, new %s)", now, ka, kb, want, oldKID, p.ID)
		}
		if _, err := verifierFor(b, now).Verify(tokA); err != nil {
			t.Fatalf("at %v node b refuses node a's token: %v", now, err)
		}
		if _, err := verifierFor(a, now).Verify(tokB); err != nil {
			t.Fatalf("at %v node a refuses node b's token: %v", now, err)
		}
		if b.NeedsRotation(now, 24*time.Hour, ahead) {
			t.Fatalf("at %v node b wants to rotate again", now)
		}
	}
	if s.saves != saves {
		t.Errorf("the store was written %d times after the rotation; activation must need no write", s.saves-saves)
	}
}

// Nodes whose schedules fire at the same tick publish one pending key: the
// later one finds it in the store and adopts it.
func TestSchedulesFiringTogetherPublishOneKey(t *testing.T) {
	ctx := context.Background()
	s := &mapStore{}
	const nodes = 4
	rings := make([]*token.KeyRing, nodes)
	for i := range rings {
		r, err := token.LoadOrCreateKeyRing(ctx, s, master, token.EdDSA, t0)
		if err != nil {
			t.Fatal(err)
		}
		rings[i] = r
	}
	now := t0.Add(30 * 24 * time.Hour)
	got := make([]token.KeyInfo, nodes)
	var wg sync.WaitGroup
	for i, r := range rings {
		wg.Go(func() {
			k, err := token.RotateShared(ctx, s, r, master, token.ES256, now, time.Minute, retain)
			if err != nil {
				t.Errorf("node %d: %v", i, err)
			}
			got[i] = k
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for i, r := range rings {
		if got[i].ID != got[0].ID || !got[i].Pending {
			t.Errorf("node %d rotated to %+v, node 0 to %+v", i, got[i], got[0])
		}
		if k, w := kidsAt(r, now), kidsAt(rings[0], now); !slices.Equal(k, w) || len(k) != 2 {
			t.Errorf("node %d holds %v, node 0 %v", i, k, w)
		}
	}
	if s.saves != 2 {
		t.Errorf("store saved %d times, want 2 (creation, one rotation)", s.saves)
	}
}
