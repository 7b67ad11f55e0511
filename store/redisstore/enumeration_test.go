package redisstore_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/account"
)

// countCommands is a go-redis hook that counts the commands sent.
type countCommands struct{ n atomic.Int64 }

func (h *countCommands) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *countCommands) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h *countCommands) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		h.n.Add(int64(len(cmds)))
		return next(ctx, cmds)
	}
}

// Looking up an email that has no account must cost the same round trips
// as looking up one that has: login answers the same after the same work
// for an unknown user as for a wrong password (DESIGN.md), and a Redis
// round trip more for known emails would be a timing oracle.
func TestAccountByEmailSameRoundTrips(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			s, _ := open(t, b.url(t))
			ctx := t.Context()
			a := &account.Account{ID: "id-alice", Email: "alice@example.com", PasswordHash: "$argon2id$x", CreatedAt: time.Unix(1, 0).UTC()}
			if err := s.CreateAccount(ctx, a); err != nil {
				t.Fatal(err)
			}
			h := &countCommands{}
			s.Client().AddHook(h)
			cost := func(email string, want error) int64 {
				before := h.n.Load()
				_, err := s.AccountByEmail(ctx, email)
				if !errors.Is(err, want) && !(want == nil && err == nil) {
					t.Fatalf("AccountByEmail(%s) = %v, want %v", email, err, want)
				}
				return h.n.Load() - before
			}
			known := cost("alice@example.com", nil)
			unknown := cost("mallory@example.com", account.ErrNotFound)
			if known != unknown {
				t.Fatalf("known email: %d commands, unknown: %d", known, unknown)
			}
		})
	}
}
