package boltstore

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
)

// batchOp is one write queued into a shared commit, with what its caller
// must hear and what the store must hold afterwards.
type batchOp struct {
	name  string
	run   func(ctx context.Context) error // the call; its error is checked by want
	want  error                           // nil, or the sentinel the call must wrap
	check func(t *testing.T)              // the stored state afterwards
}

// TestOneBatchManyOutcomes queues writes of different sessions behind a
// commit that is held open, so they all run in the next transaction, and
// checks that each caller hears its own outcome and each write that was
// acknowledged is applied exactly once (Version up by exactly one), while
// the refusals (a version conflict, a deadline passed, a missing session,
// a taken id, a cancelled call) change nothing. A reuse in the batch
// deletes its session and records its revocation, committed with the
// others and published once. In the "one failing" case a corrupt record
// makes one function fail inside the transaction: the batch rolls back and
// runs again without it, so the functions before it run twice, and still
// each write is applied once and the failing call alone gets ErrStore.
func TestOneBatchManyOutcomes(t *testing.T) {
	for _, withFailure := range []bool{false, true} {
		name := "all-answers"
		if withFailure {
			name = "one-failing"
		}
		t.Run(name, func(t *testing.T) {
			testOneBatch(t, withFailure)
		})
	}
}

func testOneBatch(t *testing.T, withFailure bool) {
	ctx := t.Context()
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var (
		amu      sync.Mutex
		attempts []int
	)
	s.commits.attempted = func(n int) { amu.Lock(); attempts = append(attempts, n); amu.Unlock() }

	var (
		fmu    sync.Mutex
		events = map[string]int{}
	)
	sub, unsub := context.WithCancel(ctx)
	defer unsub()
	if err := s.SubscribeRevocations(sub, func(r session.Revocation) {
		fmu.Lock()
		events[r.SessionID]++
		fmu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}

	mk := func(user string) *session.Record {
		t.Helper()
		r := sessiontest.NewRecord(user, 0)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	get := func(t *testing.T, id string) *session.Record {
		t.Helper()
		r, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("Get(%s): %v", id, err)
		}
		return r
	}
	rotate := func(r *session.Record, presented []byte, next []byte, deadline time.Time) func(context.Context) error {
		return func(ctx context.Context) error {
			now := sessiontest.Base.Add(time.Minute)
			out, _, err := s.Rotate(ctx, r.ID, session.RotateRequest{
				Presented: presented, Next: next, NextChild: sessiontest.NewHash(), Now: now,
				Grace: 10 * time.Second, IdleExpiresAt: now.Add(24 * time.Hour), RevokeHold: time.Hour,
				Deadline: deadline,
			})
			if err == nil && out != session.Rotated {
				return errors.New("outcome " + out.String() + ", want rotated")
			}
			return err
		}
	}
	unchanged := func(r *session.Record) func(t *testing.T) {
		return func(t *testing.T) {
			got := get(t, r.ID)
			if got.Version != r.Version || !bytesEqual(got.RefreshHash, r.RefreshHash) {
				t.Errorf("refused write changed the session: version %d -> %d", r.Version, got.Version)
			}
		}
	}
	rotatedOnce := func(r *session.Record, next []byte) func(t *testing.T) {
		return func(t *testing.T) {
			got := get(t, r.ID)
			if got.Version != r.Version+1 || !bytesEqual(got.RefreshHash, next) || !bytesEqual(got.PrevRefreshHash, r.RefreshHash) {
				t.Errorf("rotation applied %d times (version %d -> %d), hashes moved on: %v",
					got.Version-r.Version, r.Version, got.Version, !bytesEqual(got.RefreshHash, next))
			}
		}
	}
	gone := func(id string, revoked bool) func(t *testing.T) {
		return func(t *testing.T) {
			if _, err := s.Get(ctx, id); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("Get of a removed session = %v, want ErrNotFound", err)
			}
			revs, err := s.Revocations(ctx, sessiontest.Base)
			if err != nil {
				t.Fatal(err)
			}
			has := slices.ContainsFunc(revs, func(r session.Revocation) bool { return r.SessionID == id })
			if has != revoked {
				t.Errorf("revocation recorded = %v, want %v", has, revoked)
			}
		}
	}

	var (
		ops        []batchOp
		revokedIDs []string // the revocations the batch must publish, once each
	)
	for i := range 3 {
		r, next := mk("rot"), sessiontest.NewHash()
		ops = append(ops, batchOp{name: "rotate-" + string(rune('a'+i)), run: rotate(r, r.RefreshHash, next, time.Time{}), check: rotatedOnce(r, next)})
	}
	{
		r := mk("upd")
		stale := r.Clone()
		stale.Version = 7
		ops = append(ops, batchOp{name: "update-conflict", run: func(ctx context.Context) error { return s.Update(ctx, stale.Clone()) },
			want: session.ErrConflict, check: unchanged(r)})
	}
	{
		r := mk("upd")
		c := r.Clone()
		c.IP = "198.51.100.9"
		ops = append(ops, batchOp{name: "update", run: func(ctx context.Context) error { return s.Update(ctx, c.Clone()) },
			check: func(t *testing.T) {
				if got := get(t, r.ID); got.Version != r.Version+1 || got.IP != c.IP {
					t.Errorf("update: version %d -> %d, ip %q", r.Version, got.Version, got.IP)
				}
			}})
	}
	{
		r := mk("thief")
		ops = append(ops, batchOp{name: "rotate-reused", run: func(ctx context.Context) error {
			now := sessiontest.Base.Add(time.Minute)
			out, _, err := s.Rotate(ctx, r.ID, session.RotateRequest{
				Presented: sessiontest.NewHash(), Next: sessiontest.NewHash(), Now: now,
				Grace: 10 * time.Second, IdleExpiresAt: now.Add(time.Hour), RevokeHold: time.Hour,
			})
			if err == nil && out != session.Reused {
				return errors.New("outcome " + out.String() + ", want reused")
			}
			return err
		}, check: gone(r.ID, true)})
		revokedIDs = append(revokedIDs, r.ID)
	}
	{
		r := mk("late")
		ops = append(ops, batchOp{name: "rotate-deadline-passed", run: rotate(r, r.RefreshHash, sessiontest.NewHash(), time.Now().Add(-time.Second)),
			want: session.ErrDeadline, check: unchanged(r)})
	}
	if withFailure {
		r := mk("corrupt")
		if err := s.db.Update(func(tx *bbolt.Tx) error {
			return tx.Bucket(bucketSessions).Put([]byte(r.ID), []byte("\x00not a record"))
		}); err != nil {
			t.Fatal(err)
		}
		ops = append(ops, batchOp{name: "rotate-corrupt", run: rotate(r, r.RefreshHash, sessiontest.NewHash(), time.Time{}), want: session.ErrStore,
			check: func(t *testing.T) {}})
	}
	{
		missing := sessiontest.NewRecord("nobody", 0)
		ops = append(ops, batchOp{name: "rotate-missing", run: rotate(missing, missing.RefreshHash, sessiontest.NewHash(), time.Time{}),
			want: session.ErrNotFound, check: gone(missing.ID, false)})
	}
	{
		r := mk("taken")
		dup := sessiontest.NewRecord("other", 0)
		dup.ID = r.ID
		ops = append(ops, batchOp{name: "create-taken", run: func(ctx context.Context) error { return s.Create(ctx, dup) },
			want: session.ErrExists, check: func(t *testing.T) {
				if got := get(t, r.ID); got.UserID != "taken" || got.Version != 1 {
					t.Errorf("create over a taken id changed it: %+v", got)
				}
			}})
	}
	{
		r := sessiontest.NewRecord("login", 0)
		ops = append(ops, batchOp{name: "create", run: func(ctx context.Context) error { return s.Create(ctx, r.Clone()) },
			check: func(t *testing.T) {
				if got := get(t, r.ID); got.Version != 1 {
					t.Errorf("created session has version %d", got.Version)
				}
			}})
	}
	{
		r := mk("logout")
		ops = append(ops, batchOp{name: "delete", run: func(ctx context.Context) error {
			ok, err := s.Delete(ctx, r.ID, sessiontest.Base.Add(time.Hour))
			if err == nil && !ok {
				return errors.New("delete found nothing")
			}
			return err
		}, check: gone(r.ID, true)})
		revokedIDs = append(revokedIDs, r.ID)
	}
	{
		a, b, keep := mk("everywhere"), mk("everywhere"), mk("everywhere")
		ops = append(ops, batchOp{name: "delete-user", run: func(ctx context.Context) error {
			ids, err := s.DeleteUser(ctx, "everywhere", keep.ID, sessiontest.Base.Add(time.Hour))
			if err == nil && len(ids) != 2 {
				return errors.New("delete-user removed the wrong sessions")
			}
			return err
		}, check: func(t *testing.T) {
			gone(a.ID, true)(t)
			gone(b.ID, true)(t)
			unchanged(keep)(t)
		}})
		revokedIDs = append(revokedIDs, a.ID, b.ID)
	}
	cancelled, cancel := context.WithCancel(ctx)
	{
		r := mk("gave-up")
		c := r.Clone()
		c.IP = "203.0.113.1"
		ops = append(ops, batchOp{name: "update-cancelled", run: func(context.Context) error { return s.Update(cancelled, c) },
			want: context.Canceled, check: unchanged(r)})
	}
	amu.Lock()
	attempts = nil // forget the setup
	amu.Unlock()

	// Hold a commit open so that every op below queues for the next one.
	hold, held := make(chan struct{}), make(chan struct{})
	holder := make(chan error, 1)
	go func() {
		holder <- s.commits.do(ctx, func(*bbolt.Tx) error { close(held); <-hold; return nil })
	}()
	<-held
	errs := make([]error, len(ops))
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { errs[i] = op.run(ctx) })
		waitQueued(t, s, i+1) // one at a time: the batch runs them in this order
	}
	cancel() // the last one gives up while it waits
	close(hold)
	wg.Wait()
	if err := <-holder; err != nil {
		t.Fatal(err)
	}

	for i, op := range ops {
		switch {
		case op.want == nil && errs[i] != nil:
			t.Errorf("%s: %v", op.name, errs[i])
		case op.want != nil && !errors.Is(errs[i], op.want):
			t.Errorf("%s = %v, want %v", op.name, errs[i], op.want)
		}
		t.Run(op.name, op.check)
	}
	amu.Lock()
	got := slices.Clone(attempts)
	amu.Unlock()
	n := len(ops) - 1   // the cancelled one never runs
	want := []int{1, n} // the holder, then every op in one transaction
	if withFailure {
		want = []int{1, n, n - 1} // then again without the failing one
	}
	if !slices.Equal(got, want) {
		t.Errorf("transactions ran with %v functions, want %v", got, want)
	}

	// Every revocation was published once, after its commit: a sentinel
	// published last tells when the feed has delivered the rest.
	sentinel := mk("sentinel")
	if _, err := s.Delete(ctx, sentinel.ID, sessiontest.Base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		fmu.Lock()
		done := events[sentinel.ID] > 0
		fmu.Unlock()
		if done || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	fmu.Lock()
	defer fmu.Unlock()
	delete(events, sentinel.ID)
	if len(events) != len(revokedIDs) {
		t.Errorf("revocations published for %d sessions, want %d (reuse, delete, delete-user)", len(events), len(revokedIDs))
	}
	for _, id := range revokedIDs {
		if events[id] != 1 {
			t.Errorf("revocation of %s published %d times, want once", id, events[id])
		}
	}
}

// waitQueued waits until n writes wait behind the commit in progress.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		s.commits.mu.Lock()
		got := len(s.commits.queue)
		s.commits.mu.Unlock()
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d writes queued after 10 s, want %d", got, n)
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func bytesEqual(a, b []byte) bool { return string(a) == string(b) }
