// Package boltstore is the embedded, persistent backend of sessiond: a
// single bbolt file in a data directory that implements session.Store,
// session.RevocationFeed and token.RingStore (and, in accounts.go,
// account.Store), so `sessiond serve` needs nothing else running.
//
// Layout (one bucket each):
//
//	sessions            id -> record (versioned JSON, see record.go)
//	sessions_by_user    userID \x00 id -> nil (prefix-scanned by ListUser)
//	sessions_by_expiry  big-endian expiry unix-nanos || id -> nil (DeleteExpired)
//	revocations         id -> big-endian Until unix-nanos
//	keyring             "blob" -> sealed ring, "version" -> big-endian uint64
//
// Every atomic step of the contract (Update's compare-and-set, Rotate, a
// delete together with its revocation) is one bbolt write transaction, and
// bbolt fsyncs on every commit, so a call that returned survives kill -9.
// Only one process may open a data directory at a time.
package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/sessiond/sessiond/store/internal/revfeed"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// FileName is the name of the database file inside the data directory.
const FileName = "sessiond.db"

// ErrLocked is returned by Open when another process (or another Store in
// this one) holds the data directory.
var ErrLocked = errors.New("boltstore: data directory is in use by another sessiond")

// errBadID: Create with an id that cannot be indexed. Ids are base64url,
// so this is a caller bug, not a condition callers branch on.
var errBadID = errors.New("session id must be non-empty and contain no NUL byte")

var (
	bucketSessions    = []byte("sessions")
	bucketByUser      = []byte("sessions_by_user")
	bucketByExpiry    = []byte("sessions_by_expiry")
	bucketRevocations = []byte("revocations")
	bucketKeyRing     = []byte("keyring")

	keyRingBlob    = []byte("blob")
	keyRingVersion = []byte("version")
)

var (
	_ session.Store          = (*Store)(nil)
	_ session.RevocationFeed = (*Store)(nil)
	_ token.RingStore        = (*Store)(nil)
)

// Store is a session store in a bbolt file. All methods are safe for
// concurrent use.
type Store struct {
	db    *bbolt.DB
	batch int
	feed  revfeed.Feed
}

// Option configures Open.
type Option func(*config)

type config struct {
	lockTimeout time.Duration
	batch       int
}

// WithLockTimeout sets how long Open waits for the data directory's lock
// before it gives up with ErrLocked. The default is 1 s; d <= 0 keeps it.
func WithLockTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.lockTimeout = d
		}
	}
}

// WithDeleteBatch sets how many expired sessions (or finished revocations)
// DeleteExpired removes per write transaction, so a large sweep never
// holds the write lock for long. The default is 1000; n <= 0 keeps it.
func WithDeleteBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.batch = n
		}
	}
}

// Open opens (creating if needed, mode 0700) the data directory dir and
// its database file (mode 0600). If another process has the directory
// open, Open fails with an error wrapping ErrLocked after the lock
// timeout instead of hanging.
func Open(dir string, opts ...Option) (*Store, error) {
	cfg := config{lockTimeout: time.Second, batch: 1000}
	for _, o := range opts {
		o(&cfg)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("boltstore: create data directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{Timeout: cfg.lockTimeout})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%w: %s (gave up after %v)", ErrLocked, dir, cfg.lockTimeout)
	}
	if err != nil {
		return nil, fmt.Errorf("boltstore: open %s: %w: %w", path, session.ErrStore, err)
	}
	// A file created by someone else (or restored from a backup) may be
	// readable by others; it holds refresh-token hashes and sealed keys.
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(path, 0o600); err != nil {
			db.Close()
			return nil, fmt.Errorf("boltstore: restrict %s to mode 0600: %w", path, err)
		}
	}
	err = db.Update(func(tx *bbolt.Tx) error {
		for _, b := range [][]byte{bucketSessions, bucketByUser, bucketByExpiry, bucketRevocations, bucketKeyRing} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w: %w", path, session.ErrStore, err)
	}
	return &Store{db: db, batch: cfg.batch}, nil
}

// fail prefixes err with the operation and, unless it is already
// classified (a contract sentinel, a context error, a caller bug), wraps
// session.ErrStore around it so callers fail closed.
func fail(op string, err error) error {
	switch {
	case errors.Is(err, session.ErrNotFound), errors.Is(err, session.ErrConflict),
		errors.Is(err, session.ErrExists), errors.Is(err, session.ErrStore),
		errors.Is(err, token.ErrRingConflict), errors.Is(err, errBadID),
		errors.Is(err, errEncode),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("boltstore: %s: %w", op, err)
	}
	return fmt.Errorf("boltstore: %s: %w: %w", op, session.ErrStore, err)
}

// update runs fn in a write transaction, checking ctx before it starts
// and again once the write lock is held, so a cancelled call changes
// nothing.
func (s *Store) update(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(tx *bbolt.Tx) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return fn(tx)
	})
}

func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.View(fn)
}

// bucket returns a bucket Open created; its absence means the file was
// tampered with.
func bucket(tx *bbolt.Tx, name []byte) (*bbolt.Bucket, error) {
	b := tx.Bucket(name)
	if b == nil {
		return nil, fmt.Errorf("%w: bucket %q missing", session.ErrStore, name)
	}
	return b, nil
}

// txn gives the session buckets of one transaction.
type txn struct {
	sessions, byUser, byExpiry, revocations *bbolt.Bucket
	revoked                                 []session.Revocation // to publish after commit
}

func open(tx *bbolt.Tx) (*txn, error) {
	var t txn
	var err error
	for _, p := range []struct {
		b    **bbolt.Bucket
		name []byte
	}{{&t.sessions, bucketSessions}, {&t.byUser, bucketByUser}, {&t.byExpiry, bucketByExpiry}, {&t.revocations, bucketRevocations}} {
		if *p.b, err = bucket(tx, p.name); err != nil {
			return nil, err
		}
	}
	return &t, nil
}

// get loads and decodes a session; (nil, nil) if there is none.
func (t *txn) get(id string) (*session.Record, error) {
	v := t.sessions.Get([]byte(id))
	if v == nil {
		return nil, nil
	}
	return decodeRecord(id, v)
}

// put writes r and its index entries, replacing those of old (nil for a
// new session).
func (t *txn) put(r, old *session.Record) error {
	v, err := encodeRecord(r)
	if err != nil {
		return err
	}
	if err := t.sessions.Put([]byte(r.ID), v); err != nil {
		return err
	}
	if old == nil || old.UserID != r.UserID {
		if old != nil {
			if err := t.byUser.Delete(userKey(old.UserID, old.ID)); err != nil {
				return err
			}
		}
		if err := t.byUser.Put(userKey(r.UserID, r.ID), nil); err != nil {
			return err
		}
	}
	newKey := expiryKey(r)
	if old != nil {
		if oldKey := expiryKey(old); !bytes.Equal(oldKey, newKey) {
			if err := t.byExpiry.Delete(oldKey); err != nil {
				return err
			}
		} else {
			return nil
		}
	}
	return t.byExpiry.Put(newKey, nil)
}

// remove deletes r and its index entries.
func (t *txn) remove(r *session.Record) error {
	if err := t.sessions.Delete([]byte(r.ID)); err != nil {
		return err
	}
	if err := t.byUser.Delete(userKey(r.UserID, r.ID)); err != nil {
		return err
	}
	return t.byExpiry.Delete(expiryKey(r))
}

// revoke records a revocation, keeping the later Until if one exists, and
// remembers it for the feed.
func (t *txn) revoke(id string, until time.Time) error {
	if old := t.revocations.Get([]byte(id)); len(old) == 8 && decodeTime(old).After(until) {
		until = decodeTime(old)
	}
	if err := t.revocations.Put([]byte(id), encodeTime(until)); err != nil {
		return err
	}
	t.revoked = append(t.revoked, session.Revocation{SessionID: id, Until: until})
	return nil
}

func (s *Store) publish(revs []session.Revocation) {
	for _, r := range revs {
		s.feed.Publish(r)
	}
}

// Create stores r with Version 1 and sets r.Version to 1; ErrExists if
// the id is taken.
func (s *Store) Create(ctx context.Context, r *session.Record) error {
	if r.ID == "" || bytes.IndexByte([]byte(r.ID), 0) >= 0 {
		return fail("create", errBadID)
	}
	c := *r // shallow: only Version changes, and encoding copies the rest
	c.Version = 1
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		t, err := open(tx)
		if err != nil {
			return err
		}
		if t.sessions.Get([]byte(c.ID)) != nil {
			return session.ErrExists
		}
		return t.put(&c, nil)
	})
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
// one write transaction.
func (s *Store) Update(ctx context.Context, r *session.Record) error {
	c := *r
	c.Version++
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		t, err := open(tx)
		if err != nil {
			return err
		}
		old, err := t.get(c.ID)
		switch {
		case err != nil:
			return err
		case old == nil:
			return session.ErrNotFound
		case old.Version != r.Version:
			return session.ErrConflict
		}
		return t.put(&c, old)
	})
	if err != nil {
		return fail("update", err)
	}
	r.Version = c.Version
	return nil
}

// Rotate does refresh rotation in one write transaction.
func (s *Store) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	var (
		out session.RotateOutcome
		res *session.Record
		t   *txn
	)
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		if t, err = open(tx); err != nil {
			return err
		}
		r, err := t.get(id)
		if err != nil {
			return err
		}
		if r == nil || r.Expired(req.Now) {
			return session.ErrNotFound
		}
		switch out = session.Decide(r, req); out {
		case session.Rotated:
			c := r.Clone()
			c.PrevRefreshHash = c.RefreshHash
			c.RefreshHash = bytes.Clone(req.Next)
			c.RotatedAt = req.Now
			c.LastSeenAt = req.Now
			c.IdleExpiresAt = req.IdleExpiresAt
			c.Version++
			res = c
			return t.put(c, r)
		case session.GraceReplay:
			res = r
			return nil
		default:
			if err := t.remove(r); err != nil {
				return err
			}
			return t.revoke(id, req.Now.Add(req.RevokeHold))
		}
	})
	if err != nil {
		return 0, nil, fail("rotate", err)
	}
	s.publish(t.revoked)
	return out, res, nil
}

// Delete removes one session and records its revocation, in one write
// transaction.
func (s *Store) Delete(ctx context.Context, id string, until time.Time) (bool, error) {
	var t *txn
	found := false
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		if t, err = open(tx); err != nil {
			return err
		}
		r, err := t.get(id)
		if err != nil || r == nil {
			return err
		}
		found = true
		if err := t.remove(r); err != nil {
			return err
		}
		return t.revoke(id, until)
	})
	if err != nil {
		return false, fail("delete", err)
	}
	s.publish(t.revoked)
	return found, nil
}

// DeleteUser removes every session of userID except except and records
// their revocations, in one write transaction.
func (s *Store) DeleteUser(ctx context.Context, userID, except string, until time.Time) ([]string, error) {
	var (
		t    *txn
		gone []string
	)
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		var err error
		if t, err = open(tx); err != nil {
			return err
		}
		ids := userIDs(t.byUser, userID)
		gone = gone[:0]
		for _, id := range ids {
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
			gone = append(gone, id)
		}
		return nil
	})
	if err != nil {
		return nil, fail("delete user", err)
	}
	s.publish(t.revoked)
	return gone, nil
}

// userIDs returns the ids indexed under userID. A key of another user
// whose id starts with userID+"\x00" is told apart by the NUL it still
// contains after the prefix (session ids have none).
func userIDs(b *bbolt.Bucket, userID string) []string {
	prefix := append([]byte(userID), 0)
	var ids []string
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		rest := k[len(prefix):]
		if bytes.IndexByte(rest, 0) >= 0 {
			continue
		}
		ids = append(ids, string(rest))
	}
	return ids
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
			for k, _ := c.First(); k != nil && len(k) > 8 && bytes.Compare(k[:8], limit) <= 0; k, _ = c.Next() {
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

// SubscribeRevocations calls fn, from a goroutine of its own, for every
// revocation this Store records after SubscribeRevocations returns, in
// commit order per writer, until ctx is done. Events wait in an unbounded
// queue, so a slow fn never blocks a write and no event is dropped.
// Revocations recorded by other processes are not seen: a bbolt file has
// one process.
func (s *Store) SubscribeRevocations(ctx context.Context, fn func(session.Revocation)) error {
	if err := ctx.Err(); err != nil {
		return fail("subscribe", err)
	}
	s.feed.Subscribe(ctx, fn)
	return nil
}

// LoadKeyRing returns the sealed key ring and its version, or (nil, 0,
// nil) if none was saved.
func (s *Store) LoadKeyRing(ctx context.Context) ([]byte, uint64, error) {
	var (
		blob []byte
		ver  uint64
	)
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketKeyRing)
		if err != nil {
			return err
		}
		v := b.Get(keyRingVersion)
		if v == nil {
			return nil
		}
		if len(v) != 8 {
			return fmt.Errorf("%w: corrupt key ring version", session.ErrStore)
		}
		ver = binary.BigEndian.Uint64(v)
		blob = bytes.Clone(b.Get(keyRingBlob))
		return nil
	})
	if err != nil {
		return nil, 0, fail("load key ring", err)
	}
	return blob, ver, nil
}

// SaveKeyRing stores blob as version prev+1 if the stored version is prev
// (0: none), in one write transaction; token.ErrRingConflict otherwise.
func (s *Store) SaveKeyRing(ctx context.Context, blob []byte, prev uint64) error {
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b, err := bucket(tx, bucketKeyRing)
		if err != nil {
			return err
		}
		var cur uint64
		if v := b.Get(keyRingVersion); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("%w: corrupt key ring version", session.ErrStore)
			}
			cur = binary.BigEndian.Uint64(v)
		}
		if cur != prev {
			return fmt.Errorf("version %d stored, %d expected: %w", cur, prev, token.ErrRingConflict)
		}
		if err := b.Put(keyRingBlob, bytes.Clone(blob)); err != nil {
			return err
		}
		return b.Put(keyRingVersion, binary.BigEndian.AppendUint64(nil, prev+1))
	})
	if err != nil {
		return fail("save key ring", err)
	}
	return nil
}

// Close closes the database file, releasing the data directory's lock.
// Feed subscribers stay registered until their contexts end but receive
// nothing more.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fail("close", err)
	}
	return nil
}
