package session

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"time"
)

// Record is a session as a Store keeps it. Stores treat it as data: the
// rules (timeouts, rotation, grace) live in Manager, except for the atomic
// steps a Store must do in one go (Update's compare-and-set and Rotate).
type Record struct {
	ID     string // 128-bit random, base64url, 22 characters
	UserID string

	CreatedAt  time.Time
	LastSeenAt time.Time
	// IdleExpiresAt is LastSeenAt plus the idle timeout; it may lie past
	// AbsExpiresAt. The session is dead at min(IdleExpiresAt, AbsExpiresAt).
	IdleExpiresAt time.Time
	AbsExpiresAt  time.Time

	// Device metadata for the "your devices" page.
	IP         string
	UserAgent  string
	AuthMethod string

	// RefreshHash is SHA-256 of the current refresh token. PrevRefreshHash
	// is that of its parent, RotatedAt when the parent was rotated; together
	// they let a Store recognise a replay within the grace window.
	RefreshHash     []byte
	PrevRefreshHash []byte
	RotatedAt       time.Time

	// Data is the application's own small JSON map.
	Data map[string]json.RawMessage

	// Version is bumped by the Store on every successful write. Update
	// succeeds only if the stored Version equals the one in the argument.
	Version uint64
}

// ExpiresAt is when the session dies: the earlier of the idle and
// absolute expiry.
func (r *Record) ExpiresAt() time.Time {
	if r.IdleExpiresAt.Before(r.AbsExpiresAt) {
		return r.IdleExpiresAt
	}
	return r.AbsExpiresAt
}

// Expired reports whether the session is dead at now.
func (r *Record) Expired(now time.Time) bool { return !now.Before(r.ExpiresAt()) }

// Clone returns a deep copy.
func (r *Record) Clone() *Record {
	c := *r
	c.RefreshHash = append([]byte(nil), r.RefreshHash...)
	c.PrevRefreshHash = append([]byte(nil), r.PrevRefreshHash...)
	if r.Data != nil {
		c.Data = make(map[string]json.RawMessage, len(r.Data))
		for k, v := range r.Data {
			c.Data[k] = append(json.RawMessage(nil), v...)
		}
	}
	return &c
}

// RotateRequest asks a Store to rotate a session's refresh token in one
// atomic step.
type RotateRequest struct {
	// Presented is SHA-256 of the refresh token the client presented.
	Presented []byte
	// Next is SHA-256 of the child token that replaces it.
	Next []byte
	// Now is the time of the request (the Manager's clock).
	Now time.Time
	// Grace is how long after a rotation the parent may be presented again
	// and be answered with the same child.
	Grace time.Duration
	// IdleExpiresAt is the new idle expiry to set when the token rotates.
	IdleExpiresAt time.Time
	// RevokeHold is how long to remember a revocation, should this
	// request turn out to be a reuse (see Revocation.Until).
	RevokeHold time.Duration
}

// RotateOutcome says what Store.Rotate did.
type RotateOutcome int

const (
	// Rotated: Presented was the current token; it is now the parent,
	// Next is current, LastSeenAt = Now, Version bumped.
	Rotated RotateOutcome = iota + 1
	// GraceReplay: Presented is the parent of the current token and was
	// rotated less than Grace ago. Nothing was written; the caller answers
	// with the same child it derived the first time.
	GraceReplay
	// Reused: Presented is neither. The Store has deleted the session and
	// recorded its revocation, in the same atomic step.
	Reused
)

// String names the outcome.
func (o RotateOutcome) String() string {
	switch o {
	case Rotated:
		return "rotated"
	case GraceReplay:
		return "grace-replay"
	case Reused:
		return "reused"
	}
	return "unknown"
}

// Revocation is a session id that was revoked, kept so that every node
// refuses the access tokens already issued for it.
type Revocation struct {
	SessionID string
	// Until is when the record may be forgotten: by then every access token
	// of the session has expired anyway.
	Until time.Time
}

// Store keeps sessions. Every method is safe for concurrent use, honours
// ctx cancellation, and wraps ErrStore around failures of the backend
// itself so callers fail closed. The package session/sessiontest states
// the contract as tests; every backend must pass it unchanged.
type Store interface {
	// Create stores a new record with Version 1 (the argument's Version is
	// ignored). ErrExists if the id is taken.
	Create(ctx context.Context, r *Record) error
	// Get returns a copy of the record, expired or not (the Manager judges
	// expiry), or ErrNotFound.
	Get(ctx context.Context, id string) (*Record, error)
	// Update replaces the record if its stored Version equals r.Version,
	// and stores it with Version+1 (r.Version is updated too). ErrNotFound
	// if the session is gone (so a revoked session is never written back),
	// ErrConflict if the version moved on.
	Update(ctx context.Context, r *Record) error
	// Rotate does refresh rotation as one atomic step; see RotateOutcome.
	// ErrNotFound if the session is gone or expired at req.Now. On Rotated
	// it returns the record as written. A backend whose reuse handling takes
	// more than one step (Redis Cluster) may return Reused together with an
	// error when the session was made unusable but recording its revocation
	// failed; the caller must still treat the outcome as Reused.
	Rotate(ctx context.Context, id string, req RotateRequest) (RotateOutcome, *Record, error)
	// Delete removes one session and records Revocation{id, until}.
	// Deleting a missing session is not an error but records nothing and
	// returns false.
	Delete(ctx context.Context, id string, until time.Time) (bool, error)
	// DeleteUser removes every session of userID except the one with id
	// except ("" for none), records their revocations, and returns the ids
	// removed.
	DeleteUser(ctx context.Context, userID, except string, until time.Time) ([]string, error)
	// ListUser returns the user's sessions (expired ones may be included;
	// the Manager filters), oldest first.
	ListUser(ctx context.Context, userID string) ([]*Record, error)
	// Revocations returns the revocations whose Until is after now.
	Revocations(ctx context.Context, now time.Time) ([]Revocation, error)
	// DeleteExpired removes sessions dead at now and revocations whose
	// Until has passed, in bounded batches, and returns how many sessions
	// went.
	DeleteExpired(ctx context.Context, now time.Time) (int, error)
	// Close releases the store's resources.
	Close() error
}

// RevocationFeed is implemented by stores that push revocations as they
// happen (in-process for the embedded stores, pub/sub or LISTEN/NOTIFY for
// shared ones). The Manager subscribes so revocation bites on every node at
// once without a store read per request.
type RevocationFeed interface {
	// SubscribeRevocations registers fn and returns once the subscription
	// is in place (so nothing recorded after the return is missed). fn is
	// then called, from another goroutine, for every revocation recorded by
	// this process or (for shared stores) any other, until ctx is done.
	// fn must not block for long.
	SubscribeRevocations(ctx context.Context, fn func(Revocation)) error
}

// Decide says what Store.Rotate must do with a live stored record r for
// req: Rotated if req.Presented is the current refresh hash, GraceReplay if
// it is the parent and the parent was rotated less than req.Grace ago,
// Reused otherwise. Hashes are compared in constant time. Backends written
// in Go call it inside their atomic step; those that decide inside the
// database (a Lua script, a SQL function) implement the same rule, and the
// conformance suite holds them to it.
func Decide(r *Record, req RotateRequest) RotateOutcome {
	if len(req.Presented) == 0 {
		return Reused
	}
	if subtle.ConstantTimeCompare(req.Presented, r.RefreshHash) == 1 {
		return Rotated
	}
	if len(r.PrevRefreshHash) > 0 &&
		subtle.ConstantTimeCompare(req.Presented, r.PrevRefreshHash) == 1 &&
		req.Now.Sub(r.RotatedAt) < req.Grace {
		return GraceReplay
	}
	return Reused
}
