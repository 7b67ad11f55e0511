// Package boltstore is the embedded, persistent backend of sessiond: a
// single bbolt file in a data directory that implements session.Store,
// session.RevocationFeed and token.RingStore (and, in accounts.go,
// account.Store), so `sessiond serve` needs nothing else running.
//
// Layout (one bucket each):
//
//	sessions            id -> record (versioned JSON, see record.go)
//	sessions_by_user    userID \x00 id -> nil (prefix-scanned by ListUser)
//	sessions_by_user_created  uvarint len(userID) || userID || big-endian
//	                    created unix-nanos || id -> nil (ListUserPage; page.go)
//	sessions_by_expiry  big-endian expiry unix-nanos || id -> nil (DeleteExpired)
//	revocations         id -> big-endian Until unix-nanos
//	keyring             "blob" -> sealed ring, "version" -> big-endian uint64
//	probe               "probe" -> random text (Probe's write check; made by Probe)
//
// Every atomic step of the contract (Update's compare-and-set, Rotate, a
// delete together with its revocation) runs inside one bbolt write
// transaction, and bbolt fsyncs on every commit, so a call that returned
// survives kill -9. Concurrent session writes share a transaction and its
// fsync (group commit, commit.go): each is still answered only once its
// transaction has committed. Only one process may open a data directory
// at a time.
package boltstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/internal/revfeed"
	"github.com/sessiond/sessiond/token"
)

// FileName is the name of the database file inside the data directory.
const FileName = "sessiond.db"

// ErrLocked is returned by Open when another process (or another Store in
// this one) holds the data directory.
var ErrLocked = errors.New("boltstore: data directory is in use by another sessiond")

var (
	bucketSessions    = []byte("sessions")
	bucketByUser      = []byte("sessions_by_user")
	bucketByUserTime  = []byte("sessions_by_user_created")
	bucketByExpiry    = []byte("sessions_by_expiry")
	bucketRevocations = []byte("revocations")
	bucketKeyRing     = []byte("keyring")
)

var (
	_ session.Store          = (*Store)(nil)
	_ session.RevocationFeed = (*Store)(nil)
	_ token.RingStore        = (*Store)(nil)
)

// Store is a session store in a bbolt file. All methods are safe for
// concurrent use.
type Store struct {
	db      *bbolt.DB
	batch   int
	commits committer
	feed    revfeed.Feed
}

// Option configures Open.
type Option func(*config)

type config struct {
	lockTimeout time.Duration
	batch       int
	commitBatch int
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

// WithCommitBatch sets how many concurrent session writes (Create,
// Update, Rotate, Delete, DeleteUser) may share one write transaction and
// its fsync; see commit.go. The default is 256; n = 1 commits every write
// alone, with an fsync each (as before group commit); n <= 0 keeps the
// default. Either way a write is acknowledged only once it is on disk.
func WithCommitBatch(n int) Option {
	return func(c *config) {
		if n > 0 {
			c.commitBatch = n
		}
	}
}

// Open opens (creating if needed, mode 0700) the data directory dir and
// its database file (mode 0600). If another process has the directory
// open, Open fails with an error wrapping ErrLocked after the lock
// timeout instead of hanging.
func Open(dir string, opts ...Option) (*Store, error) {
	cfg := config{lockTimeout: time.Second, batch: 1000, commitBatch: defaultMaxBatch}
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
		for _, b := range [][]byte{bucketSessions, bucketByUser, bucketByUserTime, bucketByExpiry, bucketRevocations, bucketKeyRing} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return backfillUserTime(tx)
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltstore: open %s: %w: %w", path, session.ErrStore, err)
	}
	return &Store{db: db, batch: cfg.batch, commits: committer{db: db, max: cfg.commitBatch}}, nil
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

// write runs fn in a write transaction that it may share with concurrent
// writes (group commit, see commit.go), and returns once that transaction
// has committed. fn may run more than once and must be idempotent; it
// returns an error only for a failure of the store, never for an outcome
// its caller expects.
func (s *Store) write(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	return s.commits.do(ctx, fn)
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

// Close closes the database file, releasing the data directory's lock.
// Feed subscribers stay registered until their contexts end but receive
// nothing more.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fail("close", err)
	}
	return nil
}
