package session_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

// clock is an injected clock the tests move by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	store *memstore.Store
	keys  *token.KeyRing
	clock *clock
	logs  *bytes.Buffer
	cfg   session.Config
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	c := newClock()
	keys, err := token.NewKeyRing(token.EdDSA, c.Now())
	if err != nil {
		t.Fatal(err)
	}
	refKey := make([]byte, 32)
	rand.Read(refKey)
	logs := &bytes.Buffer{}
	f := &fixture{store: memstore.New(), keys: keys, clock: c, logs: logs}
	f.cfg = session.Config{
		Store: f.store, Keys: keys, Issuer: "https://issuer.test", Audience: "api.test",
		RefreshKey: refKey, Now: c.Now, RevocationPoll: -1,
		Audit: audit.New(slog.New(slog.NewJSONHandler(&lockedWriter{w: logs}, nil)), bytes.Repeat([]byte{7}, 32)),
	}
	return f
}

type lockedWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func (f *fixture) manager(t testing.TB, mod func(*session.Config)) *session.Manager {
	t.Helper()
	cfg := f.cfg
	if mod != nil {
		mod(&cfg)
	}
	m, err := session.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

var ctx = context.Background()

func login(t testing.TB, m *session.Manager, user string) *session.Tokens {
	t.Helper()
	tk, err := m.Login(ctx, user, session.Meta{IP: "192.0.2.1", UserAgent: "test/1", AuthMethod: "password"})
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestLoginVerify(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	a := login(t, m, "alice")
	b := login(t, m, "alice")
	if a.Session.ID == b.Session.ID || a.RefreshToken == b.RefreshToken {
		t.Fatal("two logins share a session id or refresh token")
	}
	if len(a.Session.ID) != 22 {
		t.Fatalf("session id %q is not 128 bits of base64url", a.Session.ID)
	}
	id, err := m.Verify(ctx, a.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if id.SessionID != a.Session.ID || id.UserID != "alice" {
		t.Fatalf("identity %+v", id)
	}
	if got, want := a.AccessExpiresAt, f.clock.Now().Add(session.DefaultAccessTTL); !got.Equal(want) {
		t.Fatalf("access token expires at %v, want %v", got, want)
	}
	// Verify reads no store: it works with the store emptied behind its back
	// (only revocation, fed separately, may stop it).
	sess, err := m.Get(ctx, a.Session.ID)
	if err != nil || sess.AuthMethod != "password" || sess.IP != "192.0.2.1" {
		t.Fatalf("Get: %+v %v", sess, err)
	}
}

func TestVerifyRejects(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	a := login(t, m, "alice")
	otherKeys, _ := token.NewKeyRing(token.EdDSA, f.clock.Now())
	forged, _ := otherKeys.Sign(token.Claims{Issuer: "https://issuer.test", Subject: "alice", Audience: []string{"api.test"},
		ExpiresAt: f.clock.Now().Add(time.Minute), IssuedAt: f.clock.Now(), ID: "x", SessionID: a.Session.ID})
	wrongAud, _ := f.keys.Sign(token.Claims{Issuer: "https://issuer.test", Subject: "alice", Audience: []string{"other"},
		ExpiresAt: f.clock.Now().Add(time.Minute), IssuedAt: f.clock.Now(), ID: "x", SessionID: a.Session.ID})
	parts := strings.Split(a.AccessToken, ".")
	tampered := parts[0] + "." + parts[1] + "x." + parts[2]
	for name, tok := range map[string]string{
		"empty": "", "garbage": "not-a-token", "other key": forged, "wrong audience": wrongAud,
		"tampered payload": tampered, "refresh token as access token": a.RefreshToken,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := m.Verify(ctx, tok); !errors.Is(err, session.ErrInvalidToken) {
				t.Fatalf("Verify = %v, want ErrInvalidToken", err)
			}
		})
	}
	t.Run("expired", func(t *testing.T) {
		f.clock.Advance(session.DefaultAccessTTL + session.MaxLeeway + time.Second)
		if _, err := m.Verify(ctx, a.AccessToken); !errors.Is(err, session.ErrInvalidToken) || !errors.Is(err, token.ErrExpired) {
			t.Fatalf("Verify of an expired token = %v", err)
		}
	})
}

func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	a := login(t, m, "alice")

	f.clock.Advance(time.Minute)
	r1, err := m.Refresh(ctx, a.RefreshToken, session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if r1.RefreshToken == a.RefreshToken || r1.Session.ID != a.Session.ID {
		t.Fatal("refresh did not rotate within the same session")
	}
	if _, err := m.Verify(ctx, r1.AccessToken); err != nil {
		t.Fatal(err)
	}
	if !r1.Session.LastSeenAt.Equal(f.clock.Now()) {
		t.Fatalf("last seen %v not updated to %v", r1.Session.LastSeenAt, f.clock.Now())
	}

	// Within the grace window the parent gets the very same child.
	f.clock.Advance(session.DefaultRefreshGrace - time.Second)
	again, err := m.Refresh(ctx, a.RefreshToken, session.Meta{})
	if err != nil {
		t.Fatalf("replay within grace: %v", err)
	}
	if again.RefreshToken != r1.RefreshToken {
		t.Fatal("replay within grace got a different child: the session forked")
	}

	// The child keeps working and rotates on.
	r2, err := m.Refresh(ctx, r1.RefreshToken, session.Meta{})
	if err != nil {
		t.Fatal(err)
	}

	// After the window, presenting the parent again is theft.
	f.clock.Advance(session.DefaultRefreshGrace)
	_, err = m.Refresh(ctx, r1.RefreshToken, session.Meta{})
	if !errors.Is(err, session.ErrReused) || !errors.Is(err, session.ErrInvalidToken) {
		t.Fatalf("reuse after grace = %v, want ErrReused", err)
	}
	// The whole session is dead: its newest refresh token and every access
	// token already issued are refused.
	if _, err := m.Refresh(ctx, r2.RefreshToken, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
		t.Fatalf("child of a stolen token still refreshes: %v", err)
	}
	for _, at := range []string{a.AccessToken, r1.AccessToken, r2.AccessToken} {
		if _, err := m.Verify(ctx, at); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("access token of a revoked session: %v", err)
		}
	}
	if _, err := m.Get(ctx, a.Session.ID); err == nil {
		t.Fatal("session still readable after reuse")
	}
	// An audit event names the reuse, with no raw session id or token.
	logs := f.logs.String()
	if !strings.Contains(logs, string(audit.ReuseDetected)) {
		t.Fatalf("no reuse audit event in %s", logs)
	}
	for _, secret := range []string{a.Session.ID, a.RefreshToken, r1.RefreshToken, a.AccessToken} {
		if strings.Contains(logs, secret) {
			t.Fatalf("a session id or token leaked into the logs")
		}
	}
}

func TestRefreshRejectsGarbageBeforeStore(t *testing.T) {
	f := newFixture(t)
	counting := &countingStore{Store: f.store}
	m := f.manager(t, func(c *session.Config) { c.Store = counting })
	a := login(t, m, "alice")
	before := counting.reads.Load()
	flip := []byte(a.RefreshToken)
	flip[10] ^= 1
	for name, tok := range map[string]string{
		"empty": "", "junk": "hello", "flipped char": string(flip),
		"no prefix": strings.TrimPrefix(a.RefreshToken, token.RefreshPrefix), "truncated": a.RefreshToken[:len(a.RefreshToken)-1],
		"access token": a.AccessToken,
	} {
		if _, err := m.Refresh(ctx, tok, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	if got := counting.reads.Load(); got != before {
		t.Fatalf("malformed refresh tokens caused %d store calls", got-before)
	}
	// A well-formed token for a session that does not exist is refused too.
	raw := make([]byte, 16)
	rand.Read(raw)
	ghost, _ := token.NewRefreshToken(f.cfg.RefreshKey, raw)
	if _, err := m.Refresh(ctx, ghost, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
		t.Fatalf("ghost session: %v", err)
	}
}

type countingStore struct {
	session.Store
	reads atomic.Int64
}

func (c *countingStore) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	c.reads.Add(1)
	return c.Store.Rotate(ctx, id, req)
}

func (c *countingStore) Get(ctx context.Context, id string) (*session.Record, error) {
	c.reads.Add(1)
	return c.Store.Get(ctx, id)
}

func TestTimeouts(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, f *fixture, m *session.Manager)
	}{
		{"idle timeout ends an unused session", func(t *testing.T, f *fixture, m *session.Manager) {
			a := login(t, m, "alice")
			f.clock.Advance(time.Hour + time.Second)
			if _, err := m.Refresh(ctx, a.RefreshToken, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
				t.Fatalf("refresh after idle timeout: %v", err)
			}
			if _, err := m.Get(ctx, a.Session.ID); !errors.Is(err, session.ErrExpired) {
				t.Fatalf("Get after idle timeout: %v", err)
			}
		}},
		{"activity keeps a session alive until the absolute lifetime", func(t *testing.T, f *fixture, m *session.Manager) {
			a := login(t, m, "alice")
			rt := a.RefreshToken
			for elapsed := time.Duration(0); elapsed < 3*time.Hour-30*time.Minute; elapsed += 30 * time.Minute {
				f.clock.Advance(30 * time.Minute)
				tk, err := m.Refresh(ctx, rt, session.Meta{})
				if err != nil {
					t.Fatalf("refresh at +%v: %v", elapsed, err)
				}
				if tk.AccessExpiresAt.After(a.Session.AbsExpiresAt) {
					t.Fatalf("access token outlives the session: %v > %v", tk.AccessExpiresAt, a.Session.AbsExpiresAt)
				}
				rt = tk.RefreshToken
			}
			f.clock.Advance(31 * time.Minute)
			if _, err := m.Refresh(ctx, rt, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
				t.Fatalf("refresh past the absolute lifetime: %v", err)
			}
		}},
		{"access token never outlives its session", func(t *testing.T, f *fixture, m *session.Manager) {
			a := login(t, m, "alice")
			rt := a.RefreshToken
			for range 5 { // to +150 min
				f.clock.Advance(30 * time.Minute)
				tk, err := m.Refresh(ctx, rt, session.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				rt = tk.RefreshToken
			}
			f.clock.Advance(25 * time.Minute) // 5 min before the absolute end
			tk, err := m.Refresh(ctx, rt, session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if !tk.AccessExpiresAt.Equal(a.Session.AbsExpiresAt) {
				t.Fatalf("access token expires %v, want the session's end %v", tk.AccessExpiresAt, a.Session.AbsExpiresAt)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			m := f.manager(t, func(c *session.Config) {
				c.Policy = session.Policy{IdleTimeout: time.Hour, AbsoluteTimeout: 3 * time.Hour}
			})
			tc.run(t, f, m)
		})
	}
}

// waitRevoked waits for the store's change feed to reach m. It waits for an
// event, with a generous bound; it asserts nothing about timing.
func waitRevoked(t *testing.T, m *session.Manager, id string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !m.Revoked(id) {
		if time.Now().After(deadline) {
			t.Fatal("revocation never reached the other node")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSessionCap(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, func(c *session.Config) { c.Policy.MaxSessionsPerUser = 2 })
	first := login(t, m, "alice")
	f.clock.Advance(time.Second)
	second := login(t, m, "alice")
	f.clock.Advance(time.Second)
	third := login(t, m, "alice")
	list, err := m.List(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 2 || list[0].ID != second.Session.ID || list[1].ID != third.Session.ID {
		t.Fatalf("after 3 logins with a cap of 2: %d sessions", len(list))
	}
	if _, err := m.Verify(ctx, first.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("the oldest session was not revoked: %v", err)
	}
}

type prefs struct {
	Theme string `json:"theme"`
	Count int    `json:"count"`
}

func TestAppData(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, func(c *session.Config) { c.Policy.MaxDataBytes = 256 })
	a := login(t, m, "alice")
	id := a.Session.ID

	if _, err := m.Update(ctx, id, func(s *session.Session) error {
		return s.Set("prefs", prefs{Theme: "dark", Count: 1})
	}); err != nil {
		t.Fatal(err)
	}
	s, err := m.Get(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	p, ok, err := session.Get[prefs](s, "prefs")
	if err != nil || !ok || p != (prefs{"dark", 1}) {
		t.Fatalf("Get[prefs] = %+v %v %v", p, ok, err)
	}
	if _, ok, _ := session.Get[prefs](s, "missing"); ok {
		t.Fatal("missing key reported present")
	}
	if _, _, err := session.Get[int](s, "prefs"); err == nil {
		t.Fatal("decoding into the wrong type succeeded")
	}

	t.Run("too large is refused and changes nothing", func(t *testing.T) {
		_, err := m.Update(ctx, id, func(s *session.Session) error {
			return s.Set("blob", strings.Repeat("x", 300))
		})
		if !errors.Is(err, session.ErrDataTooLarge) {
			t.Fatalf("Update = %v", err)
		}
		s, _ := m.Get(ctx, id)
		if _, ok, _ := session.Get[string](s, "blob"); ok {
			t.Fatal("refused data was written")
		}
	})
	t.Run("an error from fn writes nothing", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := m.Update(ctx, id, func(s *session.Session) error {
			s.Delete("prefs")
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatal(err)
		}
		s, _ := m.Get(ctx, id)
		if _, ok, _ := session.Get[prefs](s, "prefs"); !ok {
			t.Fatal("a failed update was written")
		}
	})
	t.Run("concurrent updates lose nothing", func(t *testing.T) {
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 10 {
					if _, err := m.Update(ctx, id, func(s *session.Session) error {
						p, _, err := session.Get[prefs](s, "prefs")
						if err != nil {
							return err
						}
						p.Count++
						return s.Set("prefs", p)
					}); err != nil {
						t.Error(err)
					}
				}
			})
		}
		wg.Wait()
		s, _ := m.Get(ctx, id)
		p, _, _ := session.Get[prefs](s, "prefs")
		if p.Count != 41 {
			t.Fatalf("count = %d after 40 increments from 1", p.Count)
		}
	})
	t.Run("an in-flight request never writes a revoked session back", func(t *testing.T) {
		_, err := m.Update(ctx, id, func(s *session.Session) error {
			// The user logs out while this request is running.
			if err := m.Logout(ctx, id); err != nil {
				t.Fatal(err)
			}
			return s.Set("late", true)
		})
		if !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("Update of a session revoked meanwhile = %v, want ErrNotFound", err)
		}
		if _, err := f.store.Get(ctx, id); !errors.Is(err, session.ErrNotFound) {
			t.Fatalf("the revoked session is back in the store: %v", err)
		}
		if _, err := m.Update(ctx, id, func(s *session.Session) error { return nil }); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("Update after logout = %v", err)
		}
	})
}

func TestSweep(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, func(c *session.Config) { c.Policy = session.Policy{IdleTimeout: time.Hour} })
	old := login(t, m, "alice")
	f.clock.Advance(50 * time.Minute)
	fresh := login(t, m, "alice")
	f.clock.Advance(20 * time.Minute)
	n, err := m.Sweep(ctx)
	if err != nil || n != 1 {
		t.Fatalf("Sweep = %d, %v; want 1 expired session removed", n, err)
	}
	if _, err := f.store.Get(ctx, old.Session.ID); !errors.Is(err, session.ErrNotFound) {
		t.Fatalf("expired session still stored: %v", err)
	}
	if _, err := f.store.Get(ctx, fresh.Session.ID); err != nil {
		t.Fatalf("live session swept: %v", err)
	}
}

func TestConfigRefused(t *testing.T) {
	f := newFixture(t)
	tests := map[string]func(*session.Config){
		"no store":          func(c *session.Config) { c.Store = nil },
		"no keys":           func(c *session.Config) { c.Keys = nil },
		"no issuer":         func(c *session.Config) { c.Issuer = "" },
		"short refresh key": func(c *session.Config) { c.RefreshKey = make([]byte, 16) },
		"access ttl > 1h":   func(c *session.Config) { c.Policy.AccessTTL = 2 * time.Hour },
		"grace > 1m":        func(c *session.Config) { c.Policy.RefreshGrace = 5 * time.Minute },
		"leeway > 60s":      func(c *session.Config) { c.Leeway = 2 * time.Minute },
		"data cap > 64KiB":  func(c *session.Config) { c.Policy.MaxDataBytes = 1 << 20 },
	}
	for name, mod := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := f.cfg
			mod(&cfg)
			if _, err := session.New(ctx, cfg); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestAuditNeverLogsIDs(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	a := login(t, m, "alice")
	r, _ := m.Refresh(ctx, a.RefreshToken, session.Meta{})
	_ = m.Logout(ctx, a.Session.ID)
	var lines int
	for line := range strings.SplitSeq(strings.TrimSpace(f.logs.String()), "\n") {
		lines++
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Fatalf("audit line is not JSON: %s", line)
		}
	}
	if lines < 3 {
		t.Fatalf("want login, refresh and logout events, got %d lines", lines)
	}
	for _, secret := range []string{a.Session.ID, a.RefreshToken, r.RefreshToken, a.AccessToken, r.AccessToken} {
		if strings.Contains(f.logs.String(), secret) {
			t.Fatal("a raw id or token is in the audit log")
		}
	}
}

func TestUnknownKeyReloadsRingOnce(t *testing.T) {
	f := newFixture(t)
	// Another node rotated the shared ring: it signs with a key this node
	// has not loaded yet.
	other, err := token.NewKeyRing(token.EdDSA, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	var reloads int
	m := f.manager(t, func(c *session.Config) {
		c.ReloadKeys = func(context.Context) error {
			reloads++
			f.keys.Replace(other)
			return nil
		}
	})
	a := login(t, m, "alice") // signed with the old key, before the reload
	claims := token.Claims{Issuer: "https://issuer.test", Subject: "alice", Audience: []string{"api.test"},
		ExpiresAt: f.clock.Now().Add(time.Minute), IssuedAt: f.clock.Now(), ID: "j1", SessionID: a.Session.ID}
	fresh, _ := other.Sign(claims)
	if _, err := m.Verify(ctx, fresh); err != nil {
		t.Fatalf("a token of the rotated ring: %v", err)
	}
	if reloads != 1 {
		t.Fatalf("%d reloads, want 1", reloads)
	}
	// Forged tokens with unknown kids do not turn into a reload each.
	stranger, _ := token.NewKeyRing(token.EdDSA, f.clock.Now())
	for range 5 {
		forged, _ := stranger.Sign(claims)
		if _, err := m.Verify(ctx, forged); !errors.Is(err, token.ErrUnknownKey) {
			t.Fatalf("forged: %v", err)
		}
	}
	if reloads != 1 {
		t.Fatalf("unknown kids caused %d reloads within a second", reloads)
	}
	f.clock.Advance(2 * time.Second)
	forged, _ := stranger.Sign(claims)
	_, _ = m.Verify(ctx, forged)
	if reloads != 2 {
		t.Fatalf("after a second, reloads = %d, want 2", reloads)
	}
}

// TestAppDataRefusesNUL: app data that not every backend can store as
// given (a NUL, a key that is not UTF-8) is refused with ErrInvalidData.
func TestAppDataRefusesNUL(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, nil)
	a := login(t, m, "alice")
	for name, set := range map[string]func(*session.Session) error{
		"NUL in a value": func(s *session.Session) error { return s.Set("k", "a\x00b") },
		"NUL in a key":   func(s *session.Session) error { return s.Set("k\x00", 1) },
		"key not UTF-8":  func(s *session.Session) error { return s.Set("k\xff", 1) },
	} {
		_, err := m.Update(ctx, a.Session.ID, set)
		if !errors.Is(err, session.ErrInvalidData) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

// reuseButUnrecorded is a store whose reuse handling fails halfway, as a
// Redis Cluster's can: the session is unusable but its revocation was not
// recorded.
type reuseButUnrecorded struct{ session.Store }

func (s reuseButUnrecorded) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	out, rec, err := s.Store.Rotate(ctx, id, req)
	if out == session.Reused {
		return out, nil, errors.Join(session.ErrStore, errors.New("revocation log unreachable"))
	}
	return out, rec, err
}

func TestReuseWithUnrecordedRevocationStillRefusesTokens(t *testing.T) {
	f := newFixture(t)
	m := f.manager(t, func(c *session.Config) { c.Store = reuseButUnrecorded{f.store} })
	a := login(t, m, "alice")
	child, err := m.Refresh(ctx, a.RefreshToken, session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Refresh(ctx, child.RefreshToken, session.Meta{}); err != nil { // the child is used
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if _, err := m.Refresh(ctx, a.RefreshToken, session.Meta{}); !errors.Is(err, session.ErrReused) {
		t.Fatalf("reuse with a failing revocation log = %v, want ErrReused", err)
	}
	if _, err := m.Verify(ctx, a.AccessToken); !errors.Is(err, session.ErrRevoked) {
		t.Fatalf("this node still accepts the access token: %v", err)
	}
}

// deadlineSpy passes rotations on and keeps the last one's deadline.
type deadlineSpy struct {
	session.Store
	mu       sync.Mutex
	deadline time.Time
}

func (s *deadlineSpy) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	s.mu.Lock()
	s.deadline = req.Deadline
	s.mu.Unlock()
	return s.Store.Rotate(ctx, id, req)
}

// A refresh hands its context's deadline to the store, which refuses to act
// after it (the conformance suite holds every backend to that); without a
// deadline the request carries none.
func TestRefreshCarriesTheDeadline(t *testing.T) {
	f := newFixture(t)
	spy := &deadlineSpy{Store: f.store}
	m := f.manager(t, func(c *session.Config) { c.Store = spy })
	a := login(t, m, "alice")
	dctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	want, _ := dctx.Deadline()
	r, err := m.Refresh(dctx, a.RefreshToken, session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if !spy.deadline.Equal(want) {
		t.Fatalf("RotateRequest.Deadline = %v, want the context's %v", spy.deadline, want)
	}
	if _, err := m.Refresh(ctx, r.RefreshToken, session.Meta{}); err != nil {
		t.Fatal(err)
	}
	if !spy.deadline.IsZero() {
		t.Fatalf("RotateRequest.Deadline = %v without a context deadline, want zero", spy.deadline)
	}
}
