// Package sessiontest is the conformance suite of session.Store: the one
// statement of its semantics that every backend (memory, bbolt, Redis,
// Redis Cluster, PostgreSQL) runs unchanged against the real thing.
//
// A backend's test calls Run with a constructor that returns a fresh, empty
// store and registers its own cleanup:
//
//	func TestConformance(t *testing.T) {
//		sessiontest.Run(t, func(t *testing.T) session.Store {
//			s, err := boltstore.Open(t.TempDir())
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The manager-* cases (manager.go) run session.Manager on the store: two
// Managers on one store are two nodes, so they state what a Manager
// promises only as far as its store keeps the contract (concurrent
// refreshes never fork a session; a client that lost a refresh's answer
// keeps its session; a revocation reaches the other nodes; a
// re-authentication undoes no concurrent write and never brings back a
// revoked session).
//
// The rotate cases (rotate.go) state refresh rotation (session.Decide): the
// current token rotates; its parent gets the same child again within the
// grace window, and also later for as long as its child has never been
// used, unless the parent was itself handed out twice; anything else is
// theft (the session deleted, its revocation recorded). A rotation whose
// RotateRequest.Deadline has passed by the store's own clock changes
// nothing and fails with session.ErrDeadline, whatever it presents; those
// cases set the deadline in the past, the one use of the wall clock in
// judging an outcome.
//
// Every time in the suite is explicit: a fixed base time plus offsets. The
// suite reads the wall clock only to bound its wait for an event that must
// arrive (a revocation through the feed) and to set deadlines, never to
// judge expiry or speed.
// The base time lies in the future so that backends which also expire
// records by wall-clock TTL (Redis) keep the suite's sessions alive, and
// every time has microsecond granularity because PostgreSQL keeps no more.
package sessiontest

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
)

// Base is the fixed time the suite's clocks start from.
var Base = time.Date(2099, time.March, 14, 15, 9, 26, 535897000, time.UTC)

// eventWait bounds how long the feed and manager cases wait for an event
// that must arrive. It is generous: it only matters when the store is broken.
const eventWait = 10 * time.Second

// Run runs the conformance suite. newStore must return a fresh, empty
// store for each call and register its own cleanup with t.Cleanup.
func Run(t *testing.T, newStore func(t *testing.T) session.Store) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s session.Store)
	}{
		{"missing", testMissing},
		{"create-get", testCreateGet},
		{"update-cas", testUpdateCAS},
		{"rotate", testRotate},
		{"rotate-concurrent", testRotateConcurrent},
		{"expiry", testExpiry},
		{"revoke", testRevoke},
		{"list", testList},
		{"list-page", testListPage},
		{"feed", testFeed},
		{"concurrency", testConcurrency},
		{"context", testContext},
		{"large-data", testLargeData},
		{"keyring", testKeyRing},
		{"count", testCount},
		{"manager-refresh-concurrent", testManagerRefreshConcurrent},
		{"manager-refresh-lost-answer", testManagerRefreshLostAnswer},
		{"manager-revocation", testManagerRevocation},
		{"manager-metadata", testManagerMetadata},
		{"manager-app-data", testManagerAppData},
		{"manager-reauthenticate", testManagerReauthenticate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, newStore(t))
		})
	}
}

// NewID returns a random session id shaped like the Manager's: 128 bits,
// base64url, 22 characters.
func NewID() string {
	return base64.RawURLEncoding.EncodeToString(randBytes(16))
}

// NewHash returns the SHA-256 of a fresh random refresh token.
func NewHash() []byte {
	h := sha256.Sum256(randBytes(32))
	return h[:]
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b) // never returns an error (crypto/rand, Go 1.24+)
	return b
}

// NewRecord returns a valid record of userID created at Base+created, with
// a 24 h idle and 7 d absolute expiry from then, and a fresh refresh hash.
func NewRecord(userID string, created time.Duration) *session.Record {
	at := Base.Add(created)
	return &session.Record{
		ID:            NewID(),
		UserID:        userID,
		CreatedAt:     at,
		LastSeenAt:    at,
		IdleExpiresAt: at.Add(24 * time.Hour),
		AbsExpiresAt:  at.Add(7 * 24 * time.Hour),
		IP:            "192.0.2.7",
		UserAgent:     "sessiontest/1.0",
		AuthMethod:    "password",
		RefreshHash:   NewHash(),

		NextRefreshHash: NewHash(),

		ClientID: "sessiontest-client",
		AuthTime: at,
		AMR:      []string{"pwd", "otp"},
		Claims: map[string]json.RawMessage{
			"role":   json.RawMessage(`"admin"`),
			"tenant": json.RawMessage(`{"id":42,"name":"acme"}`),
		},
	}
}

func mustCreate(t *testing.T, s session.Store, r *session.Record) {
	t.Helper()
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatalf("Create(%s): %v", r.ID, err)
	}
}

func mustGet(t *testing.T, s session.Store, id string) *session.Record {
	t.Helper()
	r, err := s.Get(t.Context(), id)
	if err != nil {
		t.Fatalf("Get(%s): %v", id, err)
	}
	return r
}

func wantGone(t *testing.T, s session.Store, id string) {
	t.Helper()
	if r, err := s.Get(t.Context(), id); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("Get(%s) = %v, %v; want ErrNotFound", id, r, err)
	}
}

// sameRecord reports how got differs from want, ignoring Version. Times
// are compared with Equal, hashes with bytes.Equal (nil and empty are the
// same) and Data by JSON meaning (a backend may normalise its spelling).
func sameRecord(got, want *session.Record) error {
	var diffs []string
	str := func(name, g, w string) {
		if g != w {
			diffs = append(diffs, fmt.Sprintf("%s = %q, want %q", name, g, w))
		}
	}
	tm := func(name string, g, w time.Time) {
		if !g.Equal(w) {
			diffs = append(diffs, fmt.Sprintf("%s = %v, want %v", name, g, w))
		}
	}
	hash := func(name string, g, w []byte) {
		if !bytes.Equal(g, w) {
			diffs = append(diffs, fmt.Sprintf("%s = %x, want %x", name, g, w))
		}
	}
	str("ID", got.ID, want.ID)
	str("UserID", got.UserID, want.UserID)
	tm("CreatedAt", got.CreatedAt, want.CreatedAt)
	tm("LastSeenAt", got.LastSeenAt, want.LastSeenAt)
	tm("IdleExpiresAt", got.IdleExpiresAt, want.IdleExpiresAt)
	tm("AbsExpiresAt", got.AbsExpiresAt, want.AbsExpiresAt)
	str("IP", got.IP, want.IP)
	str("UserAgent", got.UserAgent, want.UserAgent)
	str("AuthMethod", got.AuthMethod, want.AuthMethod)
	hash("RefreshHash", got.RefreshHash, want.RefreshHash)
	hash("PrevRefreshHash", got.PrevRefreshHash, want.PrevRefreshHash)
	hash("NextRefreshHash", got.NextRefreshHash, want.NextRefreshHash)
	tm("RotatedAt", got.RotatedAt, want.RotatedAt)
	if got.RefreshReissued != want.RefreshReissued {
		diffs = append(diffs, fmt.Sprintf("RefreshReissued = %v, want %v", got.RefreshReissued, want.RefreshReissued))
	}
	if got.PrevRefreshReissued != want.PrevRefreshReissued {
		diffs = append(diffs, fmt.Sprintf("PrevRefreshReissued = %v, want %v", got.PrevRefreshReissued, want.PrevRefreshReissued))
	}
	if err := sameData(got.Data, want.Data); err != nil {
		diffs = append(diffs, err.Error())
	}
	str("ClientID", got.ClientID, want.ClientID)
	tm("AuthTime", got.AuthTime, want.AuthTime)
	if !slices.Equal(got.AMR, want.AMR) {
		diffs = append(diffs, fmt.Sprintf("AMR = %q, want %q", got.AMR, want.AMR))
	}
	if err := sameData(got.Claims, want.Claims); err != nil {
		diffs = append(diffs, "claims: "+err.Error())
	}
	if len(diffs) > 0 {
		return errors.New(strings.Join(diffs, "; "))
	}
	return nil
}

func sameData(got, want map[string]json.RawMessage) error {
	if len(got) != len(want) {
		return fmt.Errorf("record.Data has %d keys, want %d", len(got), len(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return fmt.Errorf("record.Data[%q] missing", k)
		}
		var gv, wv any
		if err := json.Unmarshal(g, &gv); err != nil {
			return fmt.Errorf("record.Data[%q] = %q is not JSON: %v", k, g, err)
		}
		if err := json.Unmarshal(w, &wv); err != nil {
			return fmt.Errorf("want Data[%q] = %q is not JSON: %v", k, w, err)
		}
		if !reflect.DeepEqual(gv, wv) {
			return fmt.Errorf("record.Data[%q] = %s, want %s", k, g, w)
		}
	}
	return nil
}

func mustSame(t *testing.T, got, want *session.Record) {
	t.Helper()
	if err := sameRecord(got, want); err != nil {
		t.Fatal(err)
	}
}

func ids(rs []*session.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.ID
	}
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

// revocationsAt returns Revocations(now) as a map from id to Until.
func revocationsAt(t *testing.T, s session.Store, now time.Time) map[string]time.Time {
	t.Helper()
	revs, err := s.Revocations(t.Context(), now)
	if err != nil {
		t.Fatalf("Revocations: %v", err)
	}
	m := make(map[string]time.Time, len(revs))
	for _, r := range revs {
		if _, dup := m[r.SessionID]; dup {
			t.Fatalf("Revocations lists %s twice", r.SessionID)
		}
		m[r.SessionID] = r.Until
	}
	return m
}

func wantRevoked(t *testing.T, s session.Store, now time.Time, id string, until time.Time) {
	t.Helper()
	got, ok := revocationsAt(t, s, now)[id]
	if !ok {
		t.Fatalf("Revocations(%v) does not list %s", now, id)
	}
	if !got.Equal(until) {
		t.Fatalf("revocation of %s until %v, want %v", id, got, until)
	}
}

func wantNotRevoked(t *testing.T, s session.Store, now time.Time, id string) {
	t.Helper()
	if until, ok := revocationsAt(t, s, now)[id]; ok {
		t.Fatalf("Revocations(%v) lists %s (until %v), want not", now, id, until)
	}
}
