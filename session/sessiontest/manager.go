package sessiontest

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// The Manager-level cases: what a session.Manager promises only as far as
// its store keeps the contract, run through Managers built with
// session.New on the store under test. Each Manager is a node; nodes on
// one store share its key ring and refresh key, as a deployment does.

// nodes builds Managers on one store. Their clocks stand still at Base, so
// nothing expires while a case runs, and RevocationPoll is off, so what one
// node learns of another's revocations comes by the store's change feed, or
// by the revocations New loads.
type nodes struct {
	cfg session.Config
}

func newNodes(t *testing.T, s session.Store) *nodes {
	t.Helper()
	keys, err := token.NewKeyRing(token.EdDSA, Base)
	if err != nil {
		t.Fatal(err)
	}
	return &nodes{cfg: session.Config{
		Store: s, Keys: keys, Issuer: "https://issuer.test", Audience: "api.test",
		RefreshKey: randBytes(32), Now: func() time.Time { return Base }, RevocationPoll: -1,
	}}
}

// start returns a new Manager (a node), closed when the test ends.
func (n *nodes) start(t *testing.T) *session.Manager {
	t.Helper()
	m, err := session.New(t.Context(), n.cfg)
	if err != nil {
		t.Fatalf("session.New: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func mustLogin(t *testing.T, m *session.Manager, user string) *session.Tokens {
	t.Helper()
	tk, err := m.Login(t.Context(), user, session.Meta{IP: "192.0.2.1", UserAgent: "sessiontest/1.0", AuthMethod: "password"})
	if err != nil {
		t.Fatalf("Login(%s): %v", user, err)
	}
	return tk
}

// waitRevoked waits until m knows the session id as revoked. It waits for
// an event, with a generous bound; it asserts nothing about how fast.
func waitRevoked(t *testing.T, m *session.Manager, id string) {
	t.Helper()
	deadline := time.Now().Add(eventWait)
	for !m.Revoked(id) {
		if time.Now().After(deadline) {
			t.Fatalf("the revocation of %s never reached the other node", id)
		}
		time.Sleep(time.Millisecond)
	}
}

// testManagerRefreshLostAnswer: a client whose refresh was applied but
// whose answer it never got (a dropped connection, an app killed before it
// saved the token) retries with the token it has, an hour later, and gets
// the same child; its session lives. Once that child has been used, the
// old token is theft. The calls carry a deadline, as a server's do.
func testManagerRefreshLostAnswer(t *testing.T, s session.Store) {
	n := newNodes(t, s)
	var offset atomic.Int64
	n.cfg.Now = func() time.Time { return Base.Add(time.Duration(offset.Load())) }
	node := n.start(t)
	refresh := func(rt string) (*session.Tokens, error) {
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		return node.Refresh(ctx, rt, session.Meta{IP: "192.0.2.1"})
	}
	login := mustLogin(t, node, "alice")
	lost, err := refresh(login.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	offset.Add(int64(time.Hour)) // far past the grace window
	retry, err := refresh(login.RefreshToken)
	if err != nil {
		t.Fatalf("retry an hour after a lost answer: %v; want the same child", err)
	}
	if retry.RefreshToken != lost.RefreshToken || retry.Session.ID != login.Session.ID {
		t.Fatal("retry after a lost answer got another child: the session forked")
	}
	if _, err := node.Verify(t.Context(), retry.AccessToken); err != nil {
		t.Fatalf("access token of the retry: %v", err)
	}
	offset.Add(int64(time.Hour))
	next, err := refresh(retry.RefreshToken)
	if err != nil {
		t.Fatalf("refresh of the recovered child: %v", err)
	}
	offset.Add(int64(time.Hour))
	if _, err := refresh(login.RefreshToken); !errors.Is(err, session.ErrReused) {
		t.Fatalf("parent after its child was used = %v, want ErrReused", err)
	}
	if _, err := refresh(next.RefreshToken); !errors.Is(err, session.ErrInvalidToken) {
		t.Fatalf("session after theft still refreshes: %v", err)
	}
}

// testManagerRefreshConcurrent: many requests refreshing one token at once,
// spread over two nodes (two tabs, a retried request), all get the same
// child; the session is never forked or mistaken for stolen.
func testManagerRefreshConcurrent(t *testing.T, s session.Store) {
	ctx := t.Context()
	n := newNodes(t, s)
	node := []*session.Manager{n.start(t), n.start(t)}
	login := mustLogin(t, node[0], "alice")
	const count = 32
	children := make([]string, count)
	errs := make([]error, count)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range count {
		wg.Go(func() {
			<-start
			tk, err := node[i%2].Refresh(ctx, login.RefreshToken, session.Meta{IP: "192.0.2.1"})
			if errs[i] = err; err == nil {
				children[i] = tk.RefreshToken
			}
		})
	}
	close(start)
	wg.Wait()
	for i := range count {
		if errs[i] != nil {
			t.Fatalf("refresh %d: %v", i, errs[i])
		}
		if children[i] != children[0] {
			t.Fatalf("refresh %d got another child than refresh 0: the session forked", i)
		}
	}
	if children[0] == login.RefreshToken {
		t.Fatal("refresh did not rotate the token")
	}
	if _, err := node[1].Get(ctx, login.Session.ID); err != nil {
		t.Fatalf("session after concurrent refreshes: %v", err)
	}
	if _, err := node[1].Refresh(ctx, children[0], session.Meta{}); err != nil {
		t.Fatalf("the one child does not work: %v", err)
	}
}

// testManagerRevocation: a revocation bites at once on the node that made
// it and, through the store's change feed, on another node that already
// verified (and cached) the session's access tokens; a node started later
// loads it from the store. A store without a feed can only pass the last.
func testManagerRevocation(t *testing.T, s session.Store) {
	ctx := t.Context()
	_, hasFeed := s.(session.RevocationFeed)
	n := newNodes(t, s)
	node1, node2 := n.start(t), n.start(t)
	a := mustLogin(t, node1, "alice")
	b := mustLogin(t, node1, "alice")
	c := mustLogin(t, node1, "alice")
	bob := mustLogin(t, node1, "bob")
	for _, tk := range []*session.Tokens{a, b, c, bob} {
		if _, err := node2.Verify(ctx, tk.AccessToken); err != nil { // warm node2's verify cache
			t.Fatal(err)
		}
	}
	// heard checks that the revocation of tk's session reached m by the feed.
	heard := func(t *testing.T, m *session.Manager, tk *session.Tokens) {
		t.Helper()
		if !hasFeed {
			t.Log("store has no revocation feed: only a node started later learns of it (restarted-node)")
			return
		}
		waitRevoked(t, m, tk.Session.ID)
		if _, err := m.Verify(ctx, tk.AccessToken); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("other node: Verify = %v, want ErrRevoked", err)
		}
	}

	t.Run("revoke-one", func(t *testing.T) {
		if err := node1.Revoke(ctx, a.Session.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := node1.Verify(ctx, a.AccessToken); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("same node: Verify = %v, want ErrRevoked", err)
		}
		heard(t, node2, a)
		if _, err := node2.Refresh(ctx, a.RefreshToken, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
			t.Fatalf("refresh of a revoked session: %v", err)
		}
	})
	t.Run("all-but-the-current-one", func(t *testing.T) {
		ids, err := node1.RevokeUser(ctx, "alice", c.Session.ID)
		if err != nil || len(ids) != 1 || ids[0] != b.Session.ID {
			t.Fatalf("RevokeUser = %v, %v; want [%s]", ids, err, b.Session.ID)
		}
		heard(t, node2, b)
		if _, err := node2.Verify(ctx, c.AccessToken); err != nil {
			t.Fatalf("the kept session: %v", err)
		}
		if _, err := node2.Verify(ctx, bob.AccessToken); err != nil {
			t.Fatalf("another user: %v", err)
		}
	})
	t.Run("everywhere", func(t *testing.T) {
		if _, err := node2.RevokeUser(ctx, "alice", ""); err != nil {
			t.Fatal(err)
		}
		heard(t, node1, c)
		list, err := node1.List(ctx, "alice")
		if err != nil || len(list) != 0 {
			t.Fatalf("List after logout everywhere = %d sessions, %v", len(list), err)
		}
	})
	t.Run("restarted-node", func(t *testing.T) {
		node3 := n.start(t)
		for _, tk := range []*session.Tokens{a, b, c} {
			if _, err := node3.Verify(ctx, tk.AccessToken); !errors.Is(err, session.ErrRevoked) {
				t.Fatalf("a node started after the revocation accepts a revoked token: %v", err)
			}
		}
		if _, err := node3.Verify(ctx, bob.AccessToken); err != nil {
			t.Fatal(err)
		}
	})
}

// testManagerMetadata: device metadata comes from request headers, which
// may carry any byte (obs-text), NUL, or a character cut in half. Login
// cleans it, and every store keeps what Login returned, so no client can
// turn its headers into a store failure (PostgreSQL's text refuses NUL and
// invalid UTF-8).
func testManagerMetadata(t *testing.T, s session.Store) {
	ctx := t.Context()
	m := newNodes(t, s).start(t)
	tests := []struct {
		name string
		meta session.Meta
	}{
		{"obs-text-ua", session.Meta{UserAgent: "Mozilla/5.0 \xff\xfe", IP: "192.0.2.1"}},
		{"split-rune-ua", session.Meta{UserAgent: strings.Repeat("a", 511) + "é"[:1]}},
		{"nul-ua", session.Meta{UserAgent: "curl\x00/8"}},
		{"nul-ip", session.Meta{IP: "192.0.2.1\x00"}},
		{"bad-auth-method", session.Meta{AuthMethod: "pass\xffword"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tk, err := m.Login(ctx, "alice", tt.meta)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			got, err := m.Get(ctx, tk.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range []string{got.UserAgent, got.IP, got.AuthMethod} {
				if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
					t.Fatalf("stored metadata %q", v)
				}
			}
			if got.UserAgent != tk.Session.UserAgent || got.IP != tk.Session.IP || got.AuthMethod != tk.Session.AuthMethod {
				t.Fatalf("stored %q %q %q, Login returned %q %q %q", got.UserAgent, got.IP, got.AuthMethod,
					tk.Session.UserAgent, tk.Session.IP, tk.Session.AuthMethod)
			}
		})
	}
}

// testManagerAppData: application data that one backend cannot keep
// (PostgreSQL's jsonb refuses NUL and unpaired UTF-16 surrogates, which a
// json.RawMessage can carry) is refused by the Manager with ErrInvalidData
// for every backend, rather than reach a store and come back as a store
// failure; what is accepted, every store keeps.
func testManagerAppData(t *testing.T, s session.Store) {
	ctx := t.Context()
	m := newNodes(t, s).start(t)
	tk := mustLogin(t, m, "alice")
	tests := []struct {
		name string
		raw  string
		ok   bool
	}{
		{"lone-high-surrogate", `"\ud800"`, false},
		{"lone-low-surrogate", `"a\uDC00b"`, false},
		{"reversed-pair", `"\udc00\ud800"`, false},
		{"high-then-other-escape", `"\ud800\n"`, false},
		{"nul", `{"x":"\u0000"}`, false},
		{"pair", `"\ud83d\ude00"`, true},
		{"escaped-backslash-then-u", `"\\ud800 \\u0000"`, true},
		{"plain", `{"cart":[1,2,3]}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := m.Update(ctx, tk.Session.ID, func(s *session.Session) error {
				return s.Set("k", json.RawMessage(tt.raw))
			})
			if !tt.ok {
				if !errors.Is(err, session.ErrInvalidData) {
					t.Fatalf("Update = %v, want ErrInvalidData", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Update: %v", err)
			}
			got, err := m.Get(ctx, tk.Session.ID)
			if err != nil {
				t.Fatal(err)
			}
			raw, ok, err := session.Get[json.RawMessage](got, "k")
			if err != nil || !ok {
				t.Fatalf("Get[k] = %v, %v", ok, err)
			}
			if err := sameData(map[string]json.RawMessage{"k": raw}, map[string]json.RawMessage{"k": json.RawMessage(tt.raw)}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
