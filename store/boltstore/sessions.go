package boltstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
)

// errBadID: Create with an id that cannot be indexed. Ids are base64url,
// so this is a caller bug, not a condition callers branch on.
var errBadID = errors.New("session id must be non-empty and contain no NUL byte")

// Create stores r with Version 1 and sets r.Version to 1; ErrExists if
// the id is taken. It commits with concurrent writes (see commit.go).
func (s *Store) Create(ctx context.Context, r *session.Record) error {
	if r.ID == "" || bytes.IndexByte([]byte(r.ID), 0) >= 0 {
		return fail("create", errBadID)
	}
	c := *r // shallow: only Version changes, and encoding copies the rest
	c.Version = 1
	v, err := encodeRecord(&c)
	if err != nil {
		return fail("create", err)
	}
	var taken bool
	err = s.write(ctx, func(tx *bbolt.Tx) error {
		taken = false
		t, err := open(tx)
		if err != nil {
			return err
		}
		if t.sessions.Get([]byte(c.ID)) != nil {
			taken = true
			return nil
		}
		return t.putEncoded(&c, nil, v)
	})
	if err == nil && taken {
		err = session.ErrExists
	}
	if err != nil {
		return fail("create", err)
	}
	r.Version = 1
	return nil
}

// Get returns the record, or session.ErrNotFound.
func (s *Store) Get(ctx context.Context, id string) (*session.Record, error) {
	var r *session.Record
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketSessions)
		if err != nil {
			return err
		}
		v := b.Get([]byte(id))
		if v == nil {
			return session.ErrNotFound
		}
		r, err = decodeRecord(id, v)
		return err
	})
	if err != nil {
		return nil, fail("get", err)
	}
	return r, nil
}

// Update replaces the record if the stored Version equals r.Version, in
// one write transaction (shared with concurrent writes, see commit.go).
func (s *Store) Update(ctx context.Context, r *session.Record) error {
	c := *r
	c.Version++
	v, err := encodeRecord(&c)
	if err != nil {
		return fail("update", err)
	}
	var refused error // ErrNotFound or ErrConflict: an answer, not a failure
	err = s.write(ctx, func(tx *bbolt.Tx) error {
		refused = nil
		t, err := open(tx)
		if err != nil {
			return err
		}
		old, err := t.get(c.ID)
		switch {
		case err != nil:
			return err
		case old == nil:
			refused = session.ErrNotFound
			return nil
		case old.Version != r.Version:
			refused = session.ErrConflict
			return nil
		}
		return t.putEncoded(&c, old, v)
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return fail("update", err)
	}
	r.Version = c.Version
	return nil
}

// Rotate does refresh rotation in one write transaction (shared with
// concurrent writes, see commit.go). req.Deadline is checked on the real
// clock inside it (once bbolt's writer lock is held), before anything is
// decided.
func (s *Store) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	var (
		out     session.RotateOutcome
		res     *session.Record
		revoked []session.Revocation
		refused error // ErrDeadline or ErrNotFound: an answer, not a failure
	)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		// The function may run more than once (commit.go): what it
		// reports comes from its last run only.
		out, res, revoked, refused = 0, nil, nil, nil
		if req.DeadlinePassed(time.Now()) {
			refused = session.ErrDeadline
			return nil
		}
		t, err := open(tx)
		if err != nil {
			return err
		}
		r, err := t.get(id)
		if err != nil {
			return err
		}
		if r == nil || r.Expired(req.Now) {
			refused = session.ErrNotFound
			return nil
		}
		o, c := session.Apply(r, req)
		switch o {
		case session.Rotated, session.Resumed, session.GraceReplay:
			if c == nil { // a replay already marked: nothing to write
				out, res = o, r
				return nil
			}
			if err := t.put(c, r); err != nil {
				return err
			}
			out, res = o, c
			return nil
		default: // Reused: the session goes and its revocation is recorded, committed like any write
			if err := t.remove(r); err != nil {
				return err
			}
			if err := t.revoke(id, req.Now.Add(req.RevokeHold)); err != nil {
				return err
			}
			out, revoked = o, t.revoked
			return nil
		}
	})
	if err == nil {
		err = refused
	}
	if err != nil {
		return 0, nil, fail("rotate", err)
	}
	s.publish(revoked) // only now that the reuse is on disk
	return out, res, nil
}

// Delete removes one session and records its revocation, in one write
// transaction (shared with concurrent writes, see commit.go).
func (s *Store) Delete(ctx context.Context, id string, until time.Time) (bool, error) {
	var (
		found   bool
		revoked []session.Revocation
	)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		found, revoked = false, nil
		t, err := open(tx)
		if err != nil {
			return err
		}
		r, err := t.get(id)
		if err != nil || r == nil {
			return err
		}
		if err := t.remove(r); err != nil {
			return err
		}
		if err := t.revoke(id, until); err != nil {
			return err
		}
		found, revoked = true, t.revoked
		return nil
	})
	if err != nil {
		return false, fail("delete", err)
	}
	s.publish(revoked)
	return found, nil
}

// DeleteUser removes every session of userID except except and records
// their revocations, in one write transaction (shared with concurrent
// writes, see commit.go).
func (s *Store) DeleteUser(ctx context.Context, userID, except string, until time.Time) ([]string, error) {
	var (
		gone    []string
		revoked []session.Revocation
	)
	err := s.write(ctx, func(tx *bbolt.Tx) error {
		gone, revoked = nil, nil
		t, err := open(tx)
		if err != nil {
			return err
		}
		var ids []string
		for _, id := range userIDs(t.byUser, userID) {
			if id == except {
				continue
			}
			r, err := t.get(id)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("%w: user index names missing session", session.ErrStore)
			}
			if err := t.remove(r); err != nil {
				return err
			}
			if err := t.revoke(id, until); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		gone, revoked = ids, t.revoked
		return nil
	})
	if err != nil {
		return nil, fail("delete user", err)
	}
	s.publish(revoked)
	return gone, nil
}

// ListUser returns the user's sessions, oldest first.
func (s *Store) ListUser(ctx context.Context, userID string) ([]*session.Record, error) {
	var out []*session.Record
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		t, err := open(tx)
		if err != nil {
			return err
		}
		out = out[:0]
		for _, id := range userIDs(t.byUser, userID) {
			r, err := t.get(id)
			if err != nil {
				return err
			}
			if r == nil {
				return fmt.Errorf("%w: user index names missing session", session.ErrStore)
			}
			out = append(out, r)
		}
		return nil
	})
	if err != nil {
		return nil, fail("list user", err)
	}
	sortOldestFirst(out)
	return out, nil
}

// Revocations returns the revocations whose Until is after now, ordered by
// session id.
func (s *Store) Revocations(ctx context.Context, now time.Time) ([]session.Revocation, error) {
	var out []session.Revocation
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketRevocations)
		if err != nil {
			return err
		}
		out = out[:0]
		return b.ForEach(func(k, v []byte) error {
			if len(v) != 8 {
				return fmt.Errorf("%w: corrupt revocation", session.ErrStore)
			}
			if until := decodeTime(v); until.After(now) {
				out = append(out, session.Revocation{SessionID: string(k), Until: until})
			}
			return nil
		})
	})
	if err != nil {
		return nil, fail("revocations", err)
	}
	return out, nil
}

// DeleteExpired removes sessions dead at now, walking the expiry index
// from its start (so live sessions are never read), and revocations whose
// Until has passed, at most s.batch per write transaction. It returns how
// many sessions went, also when it stops early on an error.
func (s *Store) DeleteExpired(ctx context.Context, now time.Time) (int, error) {
	limit := timeKey(now)
	total := 0
	for {
		n, more := 0, false
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			t, err := open(tx)
			if err != nil {
				return err
			}
			n, more = 0, false
			var keys [][]byte
			c := t.byExpiry.Cursor()
			for k, _ := c.First(); len(k) > 8 && bytes.Compare(k[:8], limit) <= 0; k, _ = c.Next() {
				if len(keys) == s.batch {
					more = true
					break
				}
				keys = append(keys, bytes.Clone(k))
			}
			for _, k := range keys {
				if err := t.byExpiry.Delete(k); err != nil {
					return err
				}
				r, err := t.get(string(k[8:]))
				if err != nil {
					return err
				}
				if r == nil || !bytes.Equal(expiryKey(r), k) {
					continue // a stale index entry; dropped above
				}
				if err := t.remove(r); err != nil {
					return err
				}
				n++
			}
			return nil
		})
		if err != nil {
			return total, fail("delete expired", err)
		}
		total += n
		if !more {
			break
		}
	}

	var after []byte // revocation key to resume after
	for {
		more := false
		err := s.update(ctx, func(tx *bbolt.Tx) error {
			b, err := bucket(tx, bucketRevocations)
			if err != nil {
				return err
			}
			more = false
			var dead [][]byte
			c := b.Cursor()
			k, v := c.First()
			if after != nil {
				if k, v = c.Seek(after); k != nil && bytes.Equal(k, after) {
					k, v = c.Next()
				}
			}
			for ; k != nil; k, v = c.Next() {
				if len(dead) == s.batch {
					more = true
					break
				}
				after = bytes.Clone(k)
				if len(v) != 8 || bytes.Compare(v, limit) <= 0 {
					dead = append(dead, after)
				}
			}
			for _, k := range dead {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return total, fail("delete expired", err)
		}
		if !more {
			return total, nil
		}
	}
}
