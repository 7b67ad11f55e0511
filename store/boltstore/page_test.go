package boltstore_test

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

// TestOpenBuildsPageIndex: a data directory written before the
// sessions_by_user_created index existed gets it on Open, so its sessions
// are listed a page at a time like new ones.
func TestOpenBuildsPageIndex(t *testing.T) {
	dir := t.TempDir()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i := range 5 {
		r := sessiontest.NewRecord("old", time.Duration(i)*time.Minute)
		if err := s.Create(t.Context(), r); err != nil {
			t.Fatal(err)
		}
		want = append(want, r.ID)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// What an older sessiond left behind: no such bucket.
	db, err := bbolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(tx *bbolt.Tx) error { return tx.DeleteBucket([]byte("sessions_by_user_created")) }); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s = open(t, dir)
	var got []string
	var pos session.PageCursor
	for {
		rs, err := s.ListUserPage(t.Context(), "old", pos, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			got = append(got, r.ID)
			pos = session.CursorOf(r)
		}
		if len(rs) < 2 {
			break
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after reopening: pages list %v, want %v", got, want)
	}
}
