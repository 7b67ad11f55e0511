package boltstore_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

// legacyRecord is a session record exactly as sessiond wrote it before
// records were binary: JSON, encoding version 1, every field set.
const legacyRecord = `{"v":1,"u":"user-42","c":"2026-11-30T08:15:42.123456Z","l":"2026-11-30T08:16:42.123456Z",` +
	`"ie":"2026-12-01T08:15:42.123456Z","ae":"2026-12-30T08:15:42.123456Z","ip":"203.0.113.7",` +
	`"ua":"Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0","am":"password","rh":"AQIDBA==","ph":"BQY=","nh":"Bw==",` +
	`"ra":"2026-11-30T08:16:42.123456Z","pi":true,"ci":"web","at":"2026-11-30T08:15:42.123456Z","amr":["pwd","otp"],` +
	`"cl":{"org":{"id":9},"role":"admin"},"d":{"cart":[1,2,"<b>"]},"n":3}`

// stored returns the bytes the store keeps under key in bucket.
func stored(t *testing.T, dir, bucket, key string) []byte {
	t.Helper()
	db, err := bbolt.Open(filepath.Join(dir, boltstore.FileName), 0o600, &bbolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var v []byte
	if err := db.View(func(tx *bbolt.Tx) error {
		v = bytes.Clone(tx.Bucket([]byte(bucket)).Get([]byte(key)))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestLegacyRecordsAreReadAndRewritten: a store written by an earlier
// sessiond (JSON records) is read as it was, field by field, serves a
// refresh, and the rotated record is stored in the binary form, which
// reads back the same.
func TestLegacyRecordsAreReadAndRewritten(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 30, 8, 15, 42, 123456000, time.UTC)
	want := &session.Record{
		ID: "legacy-session", UserID: "user-42", CreatedAt: at, LastSeenAt: at.Add(time.Minute),
		IdleExpiresAt: at.Add(24 * time.Hour), AbsExpiresAt: at.Add(30 * 24 * time.Hour),
		IP: "203.0.113.7", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/133.0", AuthMethod: "password",
		RefreshHash: []byte{1, 2, 3, 4}, PrevRefreshHash: []byte{5, 6}, NextRefreshHash: []byte{7},
		RotatedAt: at.Add(time.Minute), PrevRefreshReissued: true,
		ClientID: "web", AuthTime: at, AMR: []string{"pwd", "otp"},
		Claims:  map[string]json.RawMessage{"role": json.RawMessage(`"admin"`), "org": json.RawMessage(`{"id":9}`)},
		Data:    map[string]json.RawMessage{"cart": json.RawMessage(`[1,2,"<b>"]`)},
		Version: 3,
	}
	// Its index entries, as that sessiond made them: create the same
	// session, then put the legacy bytes in place of its record.
	c := *want
	c.Version = 0
	if err := s.Create(ctx, &c); err != nil {
		t.Fatal(err)
	}
	s.Close()
	corrupt(t, dir, "sessions", want.ID, []byte(legacyRecord))
	s = open(t, dir)

	got, err := s.Get(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("legacy record read as\n%+v\nwant\n%+v", got, want)
	}
	if l, err := s.ListUser(ctx, "user-42"); err != nil || len(l) != 1 || !reflect.DeepEqual(l[0], want) {
		t.Fatalf("ListUser = %v, %v", l, err)
	}

	next := []byte{9, 9, 9}
	now := at.Add(2 * time.Hour)
	o, r, err := s.Rotate(ctx, want.ID, session.RotateRequest{
		Presented: want.RefreshHash, Next: next, Now: now, Grace: time.Second,
		IdleExpiresAt: now.Add(24 * time.Hour), RevokeHold: time.Hour,
	})
	if err != nil || o != session.Rotated {
		t.Fatalf("Rotate of the legacy record = %v, %v", o, err)
	}
	s.Close()
	v := stored(t, dir, "sessions", want.ID)
	if len(v) == 0 || v[0] != 2 {
		t.Fatalf("the rotated record is stored as %q, want the binary form (first byte 2)", v)
	}
	if len(v) >= len(legacyRecord) {
		t.Errorf("binary record is %d bytes, the JSON one %d", len(v), len(legacyRecord))
	}
	s = open(t, dir)
	again, err := s.Get(ctx, want.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(again, r) {
		t.Fatalf("binary record read back as\n%+v\nRotate returned\n%+v", again, r)
	}
	if !bytes.Equal(again.RefreshHash, next) || !bytes.Equal(again.PrevRefreshHash, want.RefreshHash) ||
		!again.RotatedAt.Equal(now) || again.UserAgent != want.UserAgent || string(again.Claims["org"]) != `{"id":9}` ||
		string(again.Data["cart"]) != `[1,2,"<b>"]` || again.Version != 4 {
		t.Fatalf("the rotated record lost or garbled fields: %+v", again)
	}
}

// TestUnencodableRecordChangesNothing: a record the store cannot write
// (app data that is not JSON, a time past year 9999) is refused as the
// caller's fault, not as a store failure, and changes nothing stored.
func TestUnencodableRecordChangesNothing(t *testing.T) {
	ctx := t.Context()
	for _, tc := range []struct {
		name string
		bad  func(r *session.Record)
	}{
		{"data not JSON", func(r *session.Record) { r.Data = map[string]json.RawMessage{"k": json.RawMessage("{nope")} }},
		{"claim not JSON", func(r *session.Record) { r.Claims = map[string]json.RawMessage{"k": json.RawMessage("")} }},
		{"time after year 9999", func(r *session.Record) { r.AbsExpiresAt = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t, t.TempDir())
			good := sessiontest.NewRecord("alice", 0)
			if err := s.Create(ctx, good); err != nil {
				t.Fatal(err)
			}
			before, err := s.Get(ctx, good.ID)
			if err != nil {
				t.Fatal(err)
			}
			fresh := sessiontest.NewRecord("alice", time.Second)
			tc.bad(fresh)
			if err := s.Create(ctx, fresh); err == nil || errors.Is(err, session.ErrStore) {
				t.Errorf("Create = %v, want an error that is not ErrStore", err)
			}
			if _, err := s.Get(ctx, fresh.ID); !errors.Is(err, session.ErrNotFound) {
				t.Errorf("the refused session was stored: %v", err)
			}
			changed := *good
			tc.bad(&changed)
			if err := s.Update(ctx, &changed); err == nil || errors.Is(err, session.ErrStore) {
				t.Errorf("Update = %v, want an error that is not ErrStore", err)
			}
			got, err := s.Get(ctx, good.ID)
			if err != nil || !reflect.DeepEqual(got, before) {
				t.Errorf("the stored session changed:\n%+v\nwas\n%+v (%v)", got, before, err)
			}
		})
	}
}
