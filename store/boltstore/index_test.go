package boltstore_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

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
// the user, user page and expiry indexes hold exactly one right entry per session.
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
		byUser, byExpiry, byUserTime := map[string]bool{}, map[string]bool{}, map[string]bool{}
		tx.Bucket([]byte("sessions_by_user")).ForEach(func(k, _ []byte) error { byUser[string(k)] = true; return nil })
		tx.Bucket([]byte("sessions_by_user_created")).ForEach(func(k, _ []byte) error { byUserTime[string(k)] = true; return nil })
		tx.Bucket([]byte("sessions_by_expiry")).ForEach(func(k, _ []byte) error { byExpiry[string(k)] = true; return nil })
		err := tx.Bucket([]byte("sessions")).ForEach(func(k, v []byte) error {
			n++
			r, err := parseStored(v)
			if err != nil {
				return fmt.Errorf("session %s: %w", k, err)
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
			tk := string(binary.AppendUvarint(nil, uint64(len(r.UserID)))) + r.UserID +
				string(binary.BigEndian.AppendUint64(nil, uint64(r.Created.UnixNano()))) + string(k)
			if !byUserTime[tk] {
				t.Errorf("session %s missing from the user page index", k)
			}
			delete(byUserTime, tk)
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
		for k := range byUserTime {
			t.Errorf("stale user page index entry %q", k)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// storedFields are the fields of a stored record the indexes derive from.
type storedFields struct {
	UserID                  string
	Created, LastSeen, Idle time.Time
	Abs                     time.Time
}

// parseStored reads them from a record in the binary form (first byte 2;
// see encodeRecord), independently of the store's own decoder.
func parseStored(v []byte) (storedFields, error) {
	var r storedFields
	if len(v) == 0 || v[0] != 2 {
		return r, fmt.Errorf("not a binary record: % x", v[:min(len(v), 8)])
	}
	v = v[1:]
	n, w := binary.Uvarint(v)
	if w <= 0 || uint64(len(v)-w) < n {
		return r, errors.New("bad user id")
	}
	r.UserID, v = string(v[w:w+int(n)]), v[w+int(n):]
	for _, t := range []*time.Time{&r.Created, &r.LastSeen, &r.Idle, &r.Abs} {
		sec, w := binary.Varint(v)
		if w <= 0 {
			return r, errors.New("bad time")
		}
		ns, w2 := binary.Uvarint(v[w:])
		if w2 <= 0 {
			return r, errors.New("bad time")
		}
		*t, v = time.Unix(sec, int64(ns)), v[w+w2:]
	}
	return r, nil
}
