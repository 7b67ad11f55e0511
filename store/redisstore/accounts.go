package redisstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/session"
)

// Accounts span three slots (the account, its email key, the listing), so
// uniqueness rests on the email key alone and the steps are ordered:
//
// CreateAccount
//  1. SET <p>:e:{email} id NX PX claimTTL: the email is claimed, but only
//     for claimTTL, so a creator that dies here frees it by itself (that is
//     how a crashed creation is "taken over": the claim simply lapses).
//  2. write <p>:a:{id} (refusing an id in use), then the listing entry.
//  3. PERSIST the email key if it still holds id (compare-and-set). If the
//     claim lapsed meanwhile (a creator slower than claimTTL), the
//     account and listing entry are removed again and the call fails.
//
// A reader that finds the email key but no account (a creation in flight)
// answers account.ErrNotFound; AccountByEmail also checks that the account
// found names that email.
//
// DeleteAccount
//  1. turn the email key back into a lapsing claim (if it holds id),
//  2. delete the account, 3. the listing entry, 4. the email key (if it
//     still holds id). A crash midway leaves at worst a claim that lapses
//     within claimTTL; a retried DeleteAccount finishes the rest.
const claimTTL = 30 * time.Second

// Fields of an account HASH.
const (
	afEmail   = "e"
	afHash    = "h"
	afCreated = "c" // unix nanoseconds
	afClaims  = "l" // the claims as one JSON object; absent when none
)

// scriptAccountCreate writes the account KEYS[1] unless it exists.
var scriptAccountCreate = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
`)

// scriptAccountClaims sets (ARGV[1] not empty) or removes the claims of
// the account KEYS[1] if it exists: 1 if it did. Checked and written in one
// step, so it cannot bring back as a stub hash an account a concurrent
// DeleteAccount removed.
var scriptAccountClaims = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[1] == '' then redis.call('HDEL', KEYS[1], '` + afClaims + `')
else redis.call('HSET', KEYS[1], '` + afClaims + `', ARGV[1]) end
return 1
`)

// scriptAccountPassword sets the password hash of the account KEYS[1] to
// ARGV[1] if the account exists; 1 if it did.
var scriptAccountPassword = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
redis.call('HSET', KEYS[1], '` + afHash + `', ARGV[1])
return 1
`)

// encodeClaims is the stored form of claims: "" for none.
func encodeClaims(claims map[string]json.RawMessage) (string, error) {
	if len(claims) == 0 {
		return "", nil
	}
	b, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("account claims: %w", err)
	}
	return string(b), nil
}

// scriptEmailIf runs ARGV[2] ("persist", "claim" or "del") on the email
// key KEYS[1] if it holds ARGV[1]; 1 if it did.
var scriptEmailIf = redis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == 'persist' then redis.call('PERSIST', KEYS[1])
elseif ARGV[2] == 'claim' then redis.call('PEXPIRE', KEYS[1], ARGV[3])
else redis.call('DEL', KEYS[1]) end
return 1
`)

var errIDTaken = errors.New("account id already exists")

func (s *Store) emailIf(ctx context.Context, email, id, action string) (bool, error) {
	n, err := scriptEmailIf.Run(ctx, s.c, []string{s.emailKey(email)}, id, action, claimTTL.Milliseconds()).Int()
	return n == 1, err
}

func listMember(a *account.Account) string { return a.Email + "\x00" + a.ID }

// CreateAccount stores a; account.ErrEmailTaken if its email already has
// an account (or a creation in flight).
func (s *Store) CreateAccount(ctx context.Context, a *account.Account) error {
	const op = "create account"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	fields := []any{afEmail, a.Email, afHash, a.PasswordHash, afCreated, strconv.FormatInt(a.CreatedAt.UnixNano(), 10)}
	claims, err := encodeClaims(a.Claims)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if claims != "" {
		fields = append(fields, afClaims, claims)
	}
	ok, err := s.c.SetNX(ctx, s.emailKey(a.Email), a.ID, claimTTL).Result()
	if err != nil {
		return fail(op, err)
	}
	if !ok {
		return fmt.Errorf("redisstore: %s: %w", op, account.ErrEmailTaken)
	}
	// From here on the claim is ours: finish or undo even if ctx ends.
	ctx = context.WithoutCancel(ctx)
	created, err := scriptAccountCreate.Run(ctx, s.c, []string{s.acctKey(a.ID)}, fields...).Int()
	if err == nil && created != 1 {
		s.emailIf(ctx, a.Email, a.ID, "del")
		return fmt.Errorf("redisstore: %s: %w: %q", op, errIDTaken, a.ID)
	}
	if err == nil {
		err = s.c.ZAdd(ctx, s.acctListKey(), redis.Z{Member: listMember(a)}).Err()
	}
	var kept bool
	if err == nil {
		kept, err = s.emailIf(ctx, a.Email, a.ID, "persist")
	}
	if err != nil || !kept {
		// Undo (best effort; the claim lapses on its own).
		s.c.ZRem(ctx, s.acctListKey(), listMember(a))
		s.c.Del(ctx, s.acctKey(a.ID))
		if err == nil {
			err = errors.New("email claim lapsed before the account was written")
		}
		return fail(op, err)
	}
	return nil
}

// AccountByEmail returns the account with that normalised email, or
// account.ErrNotFound.
func (s *Store) AccountByEmail(ctx context.Context, email string) (*account.Account, error) {
	const op = "account by email"
	if err := ctx.Err(); err != nil {
		return nil, fail(op, err)
	}
	id, err := s.c.Get(ctx, s.emailKey(email)).Result()
	if errors.Is(err, redis.Nil) {
		// Read an account that cannot exist (no id holds a NUL), so an
		// unknown email costs the same two round trips as a known one:
		// the time of a failed login must not tell whether the account
		// exists.
		if _, err := s.accountByID(ctx, "\x00"+email); err != nil && !errors.Is(err, account.ErrNotFound) {
			return nil, fail(op, err)
		}
		return nil, fmt.Errorf("redisstore: %s: %w", op, account.ErrNotFound)
	}
	if err != nil {
		return nil, fail(op, err)
	}
	a, err := s.accountByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	if a.Email != email {
		return nil, fmt.Errorf("redisstore: %s: %w", op, account.ErrNotFound)
	}
	return a, nil
}

// AccountByID returns the account, or account.ErrNotFound.
func (s *Store) AccountByID(ctx context.Context, id string) (*account.Account, error) {
	const op = "account by id"
	if err := ctx.Err(); err != nil {
		return nil, fail(op, err)
	}
	a, err := s.accountByID(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	return a, nil
}

func (s *Store) accountByID(ctx context.Context, id string) (*account.Account, error) {
	m, err := s.c.HGetAll(ctx, s.acctKey(id)).Result()
	if err != nil {
		return nil, wrap(err)
	}
	return decodeAccount(id, m)
}

func decodeAccount(id string, m map[string]string) (*account.Account, error) {
	if len(m) == 0 {
		return nil, account.ErrNotFound
	}
	ns, err := strconv.ParseInt(m[afCreated], 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%w: corrupt account record: %w", session.ErrStore, err)
	}
	a := &account.Account{ID: id, Email: m[afEmail], PasswordHash: m[afHash], CreatedAt: time.Unix(0, ns).UTC()}
	if c, ok := m[afClaims]; ok {
		if err := json.Unmarshal([]byte(c), &a.Claims); err != nil {
			return nil, fmt.Errorf("%w: corrupt account claims: %w", session.ErrStore, err)
		}
		if len(a.Claims) == 0 {
			a.Claims = nil
		}
	}
	return a, nil
}

// listBound is the ZRANGE BYLEX start of the listing members whose email
// sorts after the position after: "-" for the start, else "[" after
// "\x01". Members are "email\x00id" and emails hold no NUL, so every
// member of an email up to after sorts below it and every member of a
// later email at or above it. (A NUL in after would break that; an email
// sorts after a position with a NUL exactly when it sorts after the part
// before the NUL, so that part is the bound.)
func listBound(after string) string {
	if after == "" {
		return "-"
	}
	if i := strings.IndexByte(after, 0); i >= 0 {
		after = after[:i]
	}
	return "[" + after + "\x01"
}

// ListAccountsPage returns at most limit accounts whose email sorts after
// the position after, ordered by email: a ZRANGE BYLEX of the listing
// (O(log n + limit)), then the accounts in one pipeline. A listing entry
// whose account is gone (a DeleteAccount midway, or one that crashed
// there) is skipped and removed, and the page is filled from further
// entries, so a short page still means nothing follows. (Its account
// cannot come back: CreateAccount writes the account before the entry,
// and ids are never reused.)
func (s *Store) ListAccountsPage(ctx context.Context, after string, limit int) ([]*account.Account, error) {
	const op = "list accounts"
	if err := ctx.Err(); err != nil {
		return nil, fail(op, err)
	}
	if err := account.CheckPageLimit(limit); err != nil {
		return nil, fmt.Errorf("redisstore: %s: %w", op, err)
	}
	out := make([]*account.Account, 0, limit)
	bound := listBound(after)
	for {
		want := limit - len(out)
		members, err := s.c.ZRangeByLex(ctx, s.acctListKey(), &redis.ZRangeBy{Min: bound, Max: "+", Count: int64(want)}).Result()
		if err != nil {
			return nil, fail(op, err)
		}
		if len(members) == 0 {
			return out, nil
		}
		ids := make([]string, len(members))
		cmds := make([]*redis.MapStringStringCmd, len(members))
		_, err = s.c.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, m := range members {
				_, ids[i], _ = strings.Cut(m, "\x00")
				cmds[i] = p.HGetAll(ctx, s.acctKey(ids[i]))
			}
			return nil
		})
		if err != nil {
			return nil, fail(op, err)
		}
		var stale []any
		for i, m := range members {
			a, err := decodeAccount(ids[i], cmds[i].Val())
			if errors.Is(err, account.ErrNotFound) {
				stale = append(stale, m)
				continue
			}
			if err != nil {
				return nil, fail(op, err)
			}
			out = append(out, a)
		}
		if len(stale) > 0 {
			// Best effort: a failure leaves the entries for the next
			// listing to skip.
			s.c.ZRem(ctx, s.acctListKey(), stale...)
		}
		if len(members) < want || len(out) == limit {
			return out, nil
		}
		// Resume after the last member read: "(" excludes it.
		bound = "(" + members[len(members)-1]
	}
}

// SetAccountPassword replaces the password hash of the account with id
// (one script on the account's key, so it never brings back a deleted
// account), or returns account.ErrNotFound.
func (s *Store) SetAccountPassword(ctx context.Context, id, passwordHash string) error {
	const op = "set account password"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	n, err := scriptAccountPassword.Run(ctx, s.c, []string{s.acctKey(id)}, passwordHash).Int()
	if err != nil {
		return fail(op, err)
	}
	if n != 1 {
		return fmt.Errorf("redisstore: %s: %w", op, account.ErrNotFound)
	}
	return nil
}

// SetAccountClaims replaces the claims of the account with id (one script
// on the account's key, so Redis Cluster serves it from one slot), or
// returns account.ErrNotFound. An account whose creation is in flight
// (written, its email not yet persisted) is one AccountByID finds, so its
// claims can be set; if the creation is then undone, they go with it.
func (s *Store) SetAccountClaims(ctx context.Context, id string, claims map[string]json.RawMessage) error {
	const op = "set account claims"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	v, err := encodeClaims(claims)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	n, err := scriptAccountClaims.Run(ctx, s.c, []string{s.acctKey(id)}, v).Int()
	if err != nil {
		return fail(op, err)
	}
	if n != 1 {
		return fmt.Errorf("redisstore: %s: %w", op, account.ErrNotFound)
	}
	return nil
}

// DeleteAccount removes the account; account.ErrNotFound if there is none.
func (s *Store) DeleteAccount(ctx context.Context, id string) error {
	const op = "delete account"
	if err := ctx.Err(); err != nil {
		return fail(op, err)
	}
	a, err := s.accountByID(ctx, id)
	if err != nil {
		return fmt.Errorf("redisstore: %s: %w", op, err)
	}
	ctx = context.WithoutCancel(ctx) // finish what was started
	if _, err := s.emailIf(ctx, a.Email, id, "claim"); err != nil {
		return fail(op, err)
	}
	if err := s.c.Del(ctx, s.acctKey(id)).Err(); err != nil {
		return fail(op, err)
	}
	if err := s.c.ZRem(ctx, s.acctListKey(), listMember(a)).Err(); err != nil {
		return fail(op, err)
	}
	if _, err := s.emailIf(ctx, a.Email, id, "del"); err != nil {
		return fail(op, err)
	}
	return nil
}
