package redisstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/redisstore"
	"github.com/sessiond/sessiond/token"
)

// failDeletes is a go-redis hook that makes every DEL issued by a Lua
// script call fail while armed, as a connection lost between the steps of
// a revocation would: the revocation is recorded, the session is not yet
// deleted. It matches the scripts by their text (EVAL) and by the
// NOSCRIPT fallback go-redis does for EVALSHA.
type failDeletes struct {
	armed atomic.Bool
	fired atomic.Int64 // how many commands it failed
}

func (h *failDeletes) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *failDeletes) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if h.armed.Load() && isDeleteScript(cmd) {
			h.fired.Add(1)
			err := errors.New("injected: connection lost")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *failDeletes) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if h.armed.Load() {
			for _, c := range cmds {
				if isDeleteScript(c) {
					h.fired.Add(1)
					err := errors.New("injected: connection lost")
					for _, c := range cmds {
						c.SetErr(err)
					}
					return err
				}
			}
		}
		return next(ctx, cmds)
	}
}

// isDeleteScript spots the script that deletes one session, run by
// EVALSHA or (when not cached) by EVAL of its text.
func isDeleteScript(cmd redis.Cmder) bool {
	args := cmd.Args()
	if len(args) < 2 {
		return false
	}
	name, _ := args[0].(string)
	arg, _ := args[1].(string)
	switch strings.ToLower(name) {
	case "evalsha":
		return arg == redisstore.DeleteScriptSHA
	case "eval":
		return redis.NewScript(arg).Hash() == redisstore.DeleteScriptSHA
	}
	return false
}

// A revocation that fails half-way (recorded, then the connection drops
// before the session is deleted) must leave the session dead for good.
// The revocation record is forgotten after an hour: had the session only
// been refused through it, its refresh token would work again then.
// "reuse" is theft detection: a rotated-out refresh token presented past
// the grace window, then the deletion fails; the thief's (or victim's)
// current refresh token must not come back to life either.
func TestRevokeInterruptedLeavesSessionDead(t *testing.T) {
	for _, scope := range []string{"one", "user", "reuse"} {
		t.Run(scope, func(t *testing.T) {
			s, _ := open(t, backends[0].url(t))
			hook := &failDeletes{}
			s.Client().AddHook(hook)
			var offset atomic.Int64
			now := func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			keys, err := token.NewKeyRing(token.EdDSA, now())
			if err != nil {
				t.Fatal(err)
			}
			refKey := make([]byte, 32)
			rand.Read(refKey)
			m, err := session.New(t.Context(), session.Config{
				Store: s, Keys: keys, Issuer: "https://issuer.test", Audience: "api.test",
				RefreshKey: refKey, RevocationPoll: -1, Now: now,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tk, err := m.Login(t.Context(), "alice", session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			live := tk.RefreshToken // the refresh token that must stay dead
			if scope == "reuse" {
				child, err := m.Refresh(t.Context(), tk.RefreshToken, session.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				// The child is used, so its parent is no longer valid.
				grandchild, err := m.Refresh(t.Context(), child.RefreshToken, session.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				live = grandchild.RefreshToken
				offset.Add(int64(time.Minute)) // past the grace window
			}
			hook.armed.Store(true)
			switch scope {
			case "one":
				err = m.Revoke(t.Context(), tk.Session.ID)
			case "user":
				_, err = m.RevokeUser(t.Context(), "alice", "")
			case "reuse":
				if _, err = m.Refresh(t.Context(), tk.RefreshToken, session.Meta{}); !errors.Is(err, session.ErrReused) {
					t.Fatalf("reuse of the parent = %v, want ErrReused", err)
				}
			}
			hook.armed.Store(false)
			if err == nil || hook.fired.Load() == 0 {
				t.Fatal("the injected failure did not reach the revocation: the test proves nothing")
			}
			// Two hours on: the revocation record is forgotten; the
			// session (idle timeout 24 h) would still be alive.
			offset.Store(int64(2 * time.Hour))
			m.Sweep(t.Context())
			if _, err := m.Refresh(t.Context(), live, session.Meta{}); !errors.Is(err, session.ErrInvalidToken) {
				t.Fatalf("refresh of a revoked session after a failed deletion: %v; want ErrInvalidToken", err)
			}
			if _, err := m.Get(t.Context(), tk.Session.ID); err == nil {
				t.Fatal("revoked session readable after a failed deletion")
			}
		})
	}
}
