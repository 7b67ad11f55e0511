package boltstore_test

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

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
	// Each case turns the record as stored (binary) into what a damaged
	// or tampered file holds.
	is := func(v string) func([]byte) []byte { return func([]byte) []byte { return []byte(v) } }
	values := []struct {
		name  string
		value func(stored []byte) []byte
	}{
		{"garbage", is("\x00\xffnot json")},
		{"empty", is("")},
		{"unknown-encoding", func(b []byte) []byte { return append([]byte{3}, b[1:]...) }},
		{"binary-truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"binary-cut-in-half", func(b []byte) []byte { return b[:len(b)/2] }},
		{"binary-trailing-byte", func(b []byte) []byte { return append(bytes.Clone(b), 0) }},
		{"binary-length-past-end", func(b []byte) []byte { // the user id's length: 65535
			return append([]byte{b[0], 0xff, 0xff, 0x03}, b[2:]...)
		}},
		{"json-truncated", is(`{"v":1,"u":"alice","c":"2099-`)},
		{"json-future-version", is(`{"v":2,"u":"alice"}`)},
		{"json-wrong-types", is(`{"v":1,"u":7,"rh":"%%%"}`)},
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
			corrupt(t, dir, "sessions", r.ID, tc.value(stored(t, dir, "sessions", r.ID)))
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
