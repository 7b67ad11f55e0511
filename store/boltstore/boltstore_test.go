package boltstore_test

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

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

func TestReopenKeepsEverything(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	kept := sessiontest.NewRecord("alice", 0)
	revoked := sessiontest.NewRecord("alice", time.Minute)
	expired := sessiontest.NewRecord("bob", 0)
	expired.IdleExpiresAt = sessiontest.Base.Add(time.Hour)
	for _, r := range []*session.Record{kept, revoked, expired} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	until := sessiontest.Base.Add(time.Hour)
	if ok, err := s.Delete(ctx, revoked.ID, until); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	ring := []byte("sealed ring")
	if err := s.SaveKeyRing(ctx, ring, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	got, err := s.Get(ctx, kept.ID)
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got.UserID != kept.UserID || !bytes.Equal(got.RefreshHash, kept.RefreshHash) ||
		!got.CreatedAt.Equal(kept.CreatedAt) || got.Version != 1 {
		t.Fatalf("record after reopen = %+v", got)
	}
	if rs, err := s.ListUser(ctx, "alice"); err != nil || len(rs) != 1 || rs[0].ID != kept.ID {
		t.Fatalf("ListUser after reopen = %v, %v", rs, err)
	}
	revs, err := s.Revocations(ctx, sessiontest.Base)
	if err != nil || len(revs) != 1 || revs[0].SessionID != revoked.ID || !revs[0].Until.Equal(until) {
		t.Fatalf("Revocations after reopen = %v, %v", revs, err)
	}
	blob, v, err := s.LoadKeyRing(ctx)
	if err != nil || !bytes.Equal(blob, ring) || v != 1 {
		t.Fatalf("LoadKeyRing after reopen = %q, %d, %v", blob, v, err)
	}
	// The expiry index survived too.
	if n, err := s.DeleteExpired(ctx, sessiontest.Base.Add(2*time.Hour)); n != 1 || err != nil {
		t.Fatalf("DeleteExpired after reopen = %d, %v; want 1", n, err)
	}
}

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	s, err := boltstore.Open(dir, boltstore.WithLockTimeout(50*time.Millisecond))
	if err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if want := "data directory is in use by another sessiond"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	open(t, dir)
	tests := []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, boltstore.FileName), 0o600},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Fatalf("mode %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOpenTightensFileMode(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	path := filepath.Join(dir, boltstore.FileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("mode after reopen %v, want 0600", got)
	}
}

func TestOpenNotADatabase(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, boltstore.FileName), bytes.Repeat([]byte("junk"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(dir)
	if err == nil {
		s.Close()
		t.Fatal("Open of a junk file succeeded")
	}
	if !errors.Is(err, session.ErrStore) {
		t.Fatalf("Open of a junk file = %v, want ErrStore", err)
	}
}

// corrupt writes value under key in bucket, behind the store's back.
func corrupt(t *testing.T, dir, bucket, key string, value []byte) {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Update(func(tx *bbolt.Tx) error {
		return tx.Bucket([]byte(bucket)).Put([]byte(key), value)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestCorruptRecord(t *testing.T) {
	values := []struct {
		name  string
		value []byte
	}{
		{"garbage", []byte("\x00\xffnot json")},
		{"empty", []byte{}},
		{"truncated", []byte(`{"v":1,"u":"alice","c":"2099-`)},
		{"future-version", []byte(`{"v":2,"u":"alice"}`)},
		{"wrong-types", []byte(`{"v":1,"u":7,"rh":"%%%"}`)},
	}
	for _, tc := range values {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dir := t.TempDir()
			s, err := boltstore.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			r := sessiontest.NewRecord("alice", 0)
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			s.Close()
			corrupt(t, dir, "sessions", r.ID, tc.value)
			s = open(t, dir)

			ops := []struct {
				name string
				op   func() error
			}{
				{"get", func() error { _, err := s.Get(ctx, r.ID); return err }},
				{"list-user", func() error { _, err := s.ListUser(ctx, "alice"); return err }},
				{"update", func() error { return s.Update(ctx, r) }},
				{"rotate", func() error {
					_, _, err := s.Rotate(ctx, r.ID, session.RotateRequest{
						Presented: r.RefreshHash, Next: sessiontest.NewHash(), Now: sessiontest.Base,
						Grace: time.Second, IdleExpiresAt: sessiontest.Base.Add(time.Hour), RevokeHold: time.Hour,
					})
					return err
				}},
				{"delete", func() error { _, err := s.Delete(ctx, r.ID, sessiontest.Base); return err }},
				{"delete-user", func() error { _, err := s.DeleteUser(ctx, "alice", "", sessiontest.Base); return err }},
				{"delete-expired", func() error {
					_, err := s.DeleteExpired(ctx, sessiontest.Base.Add(365*24*time.Hour))
					return err
				}},
			}
			for _, op := range ops {
				if err := op.op(); !errors.Is(err, session.ErrStore) {
					t.Errorf("%s on a corrupt record = %v, want ErrStore", op.name, err)
				}
			}
		})
	}
}

func TestCorruptKeyRing(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	corrupt(t, dir, "keyring", "version", []byte("xyz"))
	s = open(t, dir)
	if _, _, err := s.LoadKeyRing(ctx); !errors.Is(err, session.ErrStore) {
		t.Fatalf("LoadKeyRing = %v, want ErrStore", err)
	}
	if err := s.SaveKeyRing(ctx, []byte("x"), 0); !errors.Is(err, session.ErrStore) {
		t.Fatalf("SaveKeyRing = %v, want ErrStore", err)
	}
}

func TestClosedStoreFailsClosed(t *testing.T) {
	ctx := t.Context()
	s, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Get(ctx, "x"); !errors.Is(err, session.ErrStore) {
		t.Fatalf("Get on a closed store = %v, want ErrStore", err)
	}
	if err := s.Create(ctx, sessiontest.NewRecord("u", 0)); !errors.Is(err, session.ErrStore) {
		t.Fatalf("Create on a closed store = %v, want ErrStore", err)
	}
}

func TestCreateRefusesBadID(t *testing.T) {
	s := open(t, t.TempDir())
	for _, id := range []string{"", "a\x00b"} {
		r := sessiontest.NewRecord("u", 0)
		r.ID = id
		if err := s.Create(t.Context(), r); err == nil {
			t.Errorf("Create(%q) succeeded", id)
		} else if errors.Is(err, session.ErrStore) {
			t.Errorf("Create(%q) = %v: a caller bug is not a store failure", id, err)
		}
	}
}

// User ids that are prefixes of each other, or contain NUL, stay apart in
// the user index.
func TestUserIndexPrefixes(t *testing.T) {
	ctx := t.Context()
	s := open(t, t.TempDir())
	users := []string{"a", "a\x00b", "a\x00", "ab", ""}
	want := map[string]string{}
	for _, u := range users {
		r := sessiontest.NewRecord(u, 0)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		want[u] = r.ID
	}
	for _, u := range users {
		rs, err := s.ListUser(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		if len(rs) != 1 || rs[0].ID != want[u] {
			t.Errorf("ListUser(%q) = %d records, want only %s", u, len(rs), want[u])
		}
	}
	gone, err := s.DeleteUser(ctx, "a", "", sessiontest.Base)
	if err != nil || len(gone) != 1 || gone[0] != want["a"] {
		t.Fatalf("DeleteUser(a) = %v, %v", gone, err)
	}
}

func BenchmarkGet(b *testing.B) { sessiontest.BenchGet(b, open(b, b.TempDir())) }

// BenchmarkRotate includes bbolt's fsync on every commit, which dominates.
func BenchmarkRotate(b *testing.B) { sessiontest.BenchRotate(b, open(b, b.TempDir())) }

// TestIndexesConsistent looks at the file itself after a mixed workload:
// every index entry names a session that exists and says the right thing
// about it, every session is indexed, and swept revocations are gone.
func TestIndexesConsistent(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := boltstore.Open(dir, boltstore.WithDeleteBatch(2))
	if err != nil {
		t.Fatal(err)
	}
	base := sessiontest.Base
	var rs []*session.Record
	for i := range 12 {
		r := sessiontest.NewRecord([]string{"a", "b", "c"}[i%3], time.Duration(i)*time.Minute)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	// Update: move the expiry and the owner.
	u := rs[0].Clone()
	u.IdleExpiresAt = base.Add(48 * time.Hour)
	u.UserID = "d"
	if err := s.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	// Rotate: moves the idle expiry.
	if _, _, err := s.Rotate(ctx, rs[1].ID, session.RotateRequest{
		Presented: rs[1].RefreshHash, Next: sessiontest.NewHash(), Now: base.Add(time.Hour),
		Grace: time.Second, IdleExpiresAt: base.Add(30 * time.Hour), RevokeHold: time.Hour,
	}); err != nil {
		t.Fatal(err)
	}
	// Reuse, delete, delete user: five revocations, all over by base+2h.
	if out, _, err := s.Rotate(ctx, rs[2].ID, session.RotateRequest{
		Presented: sessiontest.NewHash(), Next: sessiontest.NewHash(), Now: base, RevokeHold: time.Hour,
	}); out != session.Reused || err != nil {
		t.Fatalf("Rotate = %v, %v", out, err)
	}
	if _, err := s.Delete(ctx, rs[3].ID, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteUser(ctx, "a", rs[6].ID, base.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Delete(ctx, rs[4].ID, base.Add(48*time.Hour)); err != nil { // still running
		t.Fatal(err)
	}
	// Before the sweep: nothing stale in the indexes.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := checkIndexes(t, dir); n != 8 {
		t.Fatalf("%d sessions before the sweep, want 8", n)
	}
	s = open(t, dir, boltstore.WithDeleteBatch(2))
	// Sweep at base+25h: the sessions with a 24 h idle expiry die; the
	// updated and the rotated one live on.
	if _, err := s.DeleteExpired(ctx, base.Add(25*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if n := checkIndexes(t, dir); n != 2 {
		t.Fatalf("%d sessions after the sweep, want 2", n)
	}
	db, err := bbolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.View(func(tx *bbolt.Tx) error {
		for _, id := range []string{rs[0].ID, rs[1].ID} {
			if tx.Bucket([]byte("sessions")).Get([]byte(id)) == nil {
				t.Errorf("session %s was swept", id)
			}
		}
		if tx.Bucket([]byte("sessions_by_user")).Get([]byte("d\x00"+rs[0].ID)) == nil {
			t.Error("updated session is not indexed under its new user")
		}
		var byExpiry []string
		tx.Bucket([]byte("sessions_by_expiry")).ForEach(func(k, _ []byte) error { byExpiry = append(byExpiry, string(k[8:])); return nil })
		// Ordered by expiry: the rotated one (base+30h) before the updated one (base+48h).
		if len(byExpiry) != 2 || byExpiry[0] != rs[1].ID || byExpiry[1] != rs[0].ID {
			t.Errorf("expiry index: %q", byExpiry)
		}
		var revs []string
		tx.Bucket([]byte("revocations")).ForEach(func(k, _ []byte) error { revs = append(revs, string(k)); return nil })
		if len(revs) != 1 || revs[0] != rs[4].ID {
			t.Errorf("revocations left: %q, want only the running one", revs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// checkIndexes opens the closed store's file read-only and checks that
// the user and expiry indexes hold exactly one right entry per session.
// It returns the number of sessions.
func checkIndexes(t *testing.T, dir string) int {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n := 0
	err = db.View(func(tx *bbolt.Tx) error {
		byUser, byExpiry := map[string]bool{}, map[string]bool{}
		tx.Bucket([]byte("sessions_by_user")).ForEach(func(k, _ []byte) error { byUser[string(k)] = true; return nil })
		tx.Bucket([]byte("sessions_by_expiry")).ForEach(func(k, _ []byte) error { byExpiry[string(k)] = true; return nil })
		err := tx.Bucket([]byte("sessions")).ForEach(func(k, v []byte) error {
			n++
			var r struct {
				UserID string    `json:"u"`
				Idle   time.Time `json:"ie"`
				Abs    time.Time `json:"ae"`
			}
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			exp := r.Idle
			if r.Abs.Before(exp) {
				exp = r.Abs
			}
			uk := r.UserID + "\x00" + string(k)
			ek := string(binary.BigEndian.AppendUint64(nil, uint64(exp.UnixNano()))) + string(k)
			if !byUser[uk] {
				t.Errorf("session %s missing from the user index", k)
			}
			if !byExpiry[ek] {
				t.Errorf("session %s missing from the expiry index at %v", k, exp)
			}
			delete(byUser, uk)
			delete(byExpiry, ek)
			return nil
		})
		for k := range byUser {
			t.Errorf("stale user index entry %q", k)
		}
		for k := range byExpiry {
			t.Errorf("stale expiry index entry for %q", k[8:])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
