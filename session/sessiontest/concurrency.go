package sessiontest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// testConcurrency mixes every operation from many goroutines (run it under
// -race) and then checks the store is consistent: every listed session
// exists and belongs to that user, every existing session is listed once.
func testConcurrency(t *testing.T, s session.Store) {
	const (
		workers = 8
		ops     = 40
	)
	users := []string{"u0", "u1", "u2", "u3"}
	var (
		mu      sync.Mutex
		owner   = map[string]string{} // id -> user, of every session created
		created []string
	)
	pick := func(rng *rand.Rand) string {
		mu.Lock()
		defer mu.Unlock()
		if len(created) == 0 {
			return NewID()
		}
		return created[rng.IntN(len(created))]
	}
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for i := range ops {
				if err := randomOp(ctx, s, rng, w*ops+i, users, pick, func(r *session.Record) {
					mu.Lock()
					owner[r.ID] = r.UserID
					created = append(created, r.ID)
					mu.Unlock()
				}); err != nil {
					t.Errorf("worker %d op %d: %v", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	live := 0
	for _, user := range users {
		rs, err := s.ListUser(ctx, user)
		if err != nil {
			t.Fatal(err)
		}
		listed := map[string]*session.Record{}
		for _, r := range rs {
			if _, dup := listed[r.ID]; dup {
				t.Errorf("ListUser(%s) lists %s twice", user, r.ID)
			}
			listed[r.ID] = r
			if owner[r.ID] != user || r.UserID != user {
				t.Errorf("ListUser(%s) lists %s of %q", user, r.ID, owner[r.ID])
			}
			got, err := s.Get(ctx, r.ID)
			if err != nil {
				t.Errorf("listed session %s: Get: %v", r.ID, err)
				continue
			}
			if err := sameRecord(got, r); err != nil || got.Version != r.Version {
				t.Errorf("listed %s differs from Get: %v (version %d vs %d)", r.ID, err, r.Version, got.Version)
			}
		}
		for id, u := range owner {
			if u != user {
				continue
			}
			_, err := s.Get(ctx, id)
			switch {
			case err == nil && listed[id] == nil:
				t.Errorf("session %s exists but ListUser(%s) misses it", id, user)
			case errors.Is(err, session.ErrNotFound) && listed[id] != nil:
				t.Errorf("session %s is gone but still listed", id)
			case err != nil && !errors.Is(err, session.ErrNotFound):
				t.Errorf("Get(%s): %v", id, err)
			}
		}
		live += len(rs)
	}
	// Everything left dies by the end of time; the indexes agree.
	n, err := s.DeleteExpired(ctx, Base.Add(365*24*time.Hour))
	if err != nil || n != live {
		t.Fatalf("final DeleteExpired = %d, %v; want %d", n, err, live)
	}
	for _, user := range users {
		if rs, err := s.ListUser(ctx, user); err != nil || len(rs) != 0 {
			t.Fatalf("ListUser(%s) after sweeping all = %v, %v", user, ids(rs), err)
		}
	}
}

// randomOp does one random operation and returns an error if the store
// answered something the contract does not allow.
func randomOp(ctx context.Context, s session.Store, rng *rand.Rand, seq int, users []string,
	pick func(*rand.Rand) string, onCreate func(*session.Record)) error {
	user := users[rng.IntN(len(users))]
	now := Base.Add(time.Duration(seq) * time.Millisecond)
	switch rng.IntN(7) {
	case 0, 1:
		r := NewRecord(user, time.Duration(seq)*time.Microsecond)
		if err := s.Create(ctx, r); err != nil {
			return fmt.Errorf("store.Create: %w", err)
		}
		onCreate(r)
	case 2:
		r, err := s.Get(ctx, pick(rng))
		if errors.Is(err, session.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store.Get: %w", err)
		}
		if r.Version < 1 {
			return fmt.Errorf("store.Get: Version %d", r.Version)
		}
	case 3:
		r, err := s.Get(ctx, pick(rng))
		if errors.Is(err, session.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store.Get: %w", err)
		}
		r.IP = fmt.Sprintf("192.0.2.%d", seq%256)
		r.LastSeenAt = now
		if err := s.Update(ctx, r); err != nil && !errors.Is(err, session.ErrConflict) && !errors.Is(err, session.ErrNotFound) {
			return fmt.Errorf("store.Update: %w", err)
		}
	case 4:
		id := pick(rng)
		r, err := s.Get(ctx, id)
		if errors.Is(err, session.ErrNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store.Get: %w", err)
		}
		out, got, err := s.Rotate(ctx, id, session.RotateRequest{
			Presented: r.RefreshHash, Next: NewHash(), Now: now, Grace: grace,
			IdleExpiresAt: now.Add(24 * time.Hour), RevokeHold: hold,
		})
		switch {
		case errors.Is(err, session.ErrNotFound):
		case err != nil:
			return fmt.Errorf("store.Rotate: %w", err)
		case out == session.Rotated && (got == nil || got.ID != id):
			return fmt.Errorf("store.Rotate returned %v", got)
		case out != session.Rotated && out != session.GraceReplay && out != session.Reused:
			return fmt.Errorf("store.Rotate outcome %v", out)
		}
	case 5:
		if rng.IntN(4) == 0 {
			if _, err := s.DeleteUser(ctx, user, pick(rng), now.Add(hold)); err != nil {
				return fmt.Errorf("DeleteUser: %w", err)
			}
		} else if _, err := s.Delete(ctx, pick(rng), now.Add(hold)); err != nil {
			return fmt.Errorf("store.Delete: %w", err)
		}
	case 6:
		rs, err := s.ListUser(ctx, user)
		if err != nil {
			return fmt.Errorf("ListUser: %w", err)
		}
		for i, r := range rs {
			if r.UserID != user {
				return fmt.Errorf("ListUser(%s) returned a session of %s", user, r.UserID)
			}
			if i > 0 && r.CreatedAt.Before(rs[i-1].CreatedAt) {
				return fmt.Errorf("ListUser(%s) not oldest first", user)
			}
		}
	}
	return nil
}

func testContext(t *testing.T, s session.Store) {
	live := t.Context()
	dead, cancel := context.WithCancel(live)
	cancel()

	existing := NewRecord("u", 0)
	mustCreate(t, s, existing)
	fresh := NewRecord("u", time.Minute)
	far := Base.Add(365 * 24 * time.Hour)

	cases := []struct {
		name string
		op   func(ctx context.Context) error
	}{
		{"create", func(ctx context.Context) error { return s.Create(ctx, fresh.Clone()) }},
		{"get", func(ctx context.Context) error { _, err := s.Get(ctx, existing.ID); return err }},
		{"update", func(ctx context.Context) error {
			r := existing.Clone()
			r.IP = "203.0.113.1"
			return s.Update(ctx, r)
		}},
		{"rotate", func(ctx context.Context) error {
			_, _, err := s.Rotate(ctx, existing.ID, rotateReq(existing.RefreshHash, NewHash(), Base.Add(time.Minute)))
			return err
		}},
		{"rotate-reuse", func(ctx context.Context) error {
			_, _, err := s.Rotate(ctx, existing.ID, rotateReq(NewHash(), NewHash(), Base.Add(time.Minute)))
			return err
		}},
		{"delete", func(ctx context.Context) error { _, err := s.Delete(ctx, existing.ID, far); return err }},
		{"delete-user", func(ctx context.Context) error { _, err := s.DeleteUser(ctx, "u", "", far); return err }},
		{"list-user", func(ctx context.Context) error { _, err := s.ListUser(ctx, "u"); return err }},
		{"revocations", func(ctx context.Context) error { _, err := s.Revocations(ctx, Base); return err }},
		{"delete-expired", func(ctx context.Context) error { _, err := s.DeleteExpired(ctx, far); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.op(dead); !errors.Is(err, context.Canceled) {
				t.Fatalf("with a cancelled context: %v, want an error wrapping context.Canceled", err)
			}
			// Nothing changed.
			got := mustGet(t, s, existing.ID)
			mustSame(t, got, existing)
			if got.Version != 1 {
				t.Fatalf("Version = %d, want 1", got.Version)
			}
			wantGone(t, s, fresh.ID)
			if rs, err := s.ListUser(live, "u"); err != nil || !slices.Equal(ids(rs), []string{existing.ID}) {
				t.Fatalf("ListUser = %v, %v", ids(rs), err)
			}
			if revs := revocationsAt(t, s, Base); len(revs) != 0 {
				t.Fatalf("revocations recorded: %v", revs)
			}
		})
	}
}
