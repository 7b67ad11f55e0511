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
	// they let a Store recognise a replay of the parent. The parent is
	// always the token whose child (the current one) has never been
	// presented: presenting the child rotates it and makes it the parent.
	RefreshHash     []byte
	PrevRefreshHash []byte
	RotatedAt       time.Time
	// RefreshReissued says that the current token was handed out more than
	// once (a replay of its parent); PrevRefreshReissued says the same of
	// the parent. A parent handed out once may be replayed long after the
	// grace window, until its child is first used (its one holder lost the
	// answer to a refresh); a parent handed out more than once may not, as
	// two holders of it are then following one another (see Decide).
	RefreshReissued     bool
	PrevRefreshReissued bool
	// NextRefreshHash is SHA-256 of the child the current token rotates to
	// (the Manager derives it from the current token, so it is known before
	// the rotation happens). A client that presents it holds a token this
	// server handed out in answer to a rotation the store has since lost:
	// Redis with appendfsync everysec after an OS crash, a failover to a
	// replica that lagged, a restored snapshot. Only a holder of the
	// server's refresh key could have made it, so it is resumed, never
	// taken for theft (see Resumed). Empty for records written before it
	// existed: they cannot resume.
	NextRefreshHash []byte

	// ClientID is the client the session was issued to, the client_id of
	// its access tokens: the service client that minted it, or the
	// Manager's Config.ClientID for its own logins. Empty in records
	// written before it existed.
	ClientID string
	// AuthTime is when the user last proved who they are for this session
	// (the auth_time of its tokens): at login, or a later
	// re-authentication. Zero in records written before it existed.
	AuthTime time.Time
	// AMR lists how, as RFC 8176 method references (the amr of its tokens).
	AMR []string
	// Claims are the application claims its access tokens carry (names
	// from the Manager's Config.Claims, values compact JSON).
	Claims map[string]json.RawMessage

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
	c.NextRefreshHash = append([]byte(nil), r.NextRefreshHash...)
	c.Data = cloneJSONMap(r.Data)
	c.Claims = cloneJSONMap(r.Claims)
	if r.AMR != nil {
		c.AMR = append([]string(nil), r.AMR...)
	}
	return &c
}

// cloneJSONMap deep-copies m (nil stays nil).
func cloneJSONMap(m map[string]json.RawMessage) map[string]json.RawMessage {
	if m == nil {
		return nil
	}
	c := make(map[string]json.RawMessage, len(m))
	for k, v := range m {
		c[k] = append(json.RawMessage(nil), v...)
	}
	return c
}

// RotateRequest asks a Store to rotate a session's refresh token in one
// atomic step.
type RotateRequest struct {
	// Presented is SHA-256 of the refresh token the client presented.
	Presented []byte
	// Next is SHA-256 of the child token that replaces it.
	Next []byte
	// NextChild is SHA-256 of Next's own child, stored as the new
	// Record.NextRefreshHash when the token rotates (or resumes).
	NextChild []byte
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
	// Deadline is when the caller gives up waiting for the answer; the
	// zero value means never. A Store checks it on its own clock at the
	// moment it would apply the rotation, and if it has passed it changes
	// nothing and returns ErrDeadline: a command left queued on a stalled
	// store must not rotate, replay or revoke after its caller has gone.
	// It is not part of the decision (that is judged at Now), only of
	// whether to make it at all.
	Deadline time.Time
}

// RotateOutcome says what Store.Rotate did.
type RotateOutcome int

const (
	// Rotated: Presented was the current token; it is now the parent,
	// Next is current, LastSeenAt = Now, Version bumped.
	Rotated RotateOutcome = iota + 1
	// GraceReplay: Presented is the parent of the current token (whose
	// child has never been used), rotated less than Grace ago or handed
	// out only once (see Decide). The caller answers with the same child
	// it derived the first time. The Store writes only RefreshReissued
	// (and bumps Version) if it was not yet set.
	GraceReplay
	// Reused: Presented is none of these. The Store has deleted the
	// session and recorded its revocation, in the same atomic step.
	Reused
	// Resumed: Presented is the stored NextRefreshHash, the child of the
	// current token: the client holds the answer to a rotation that the
	// store acknowledged and then lost. The Store rotates from Presented as
	// if that rotation had been kept: Presented becomes the parent (handed
	// out once), Next the current token, NextChild its successor's hash,
	// LastSeenAt = Now, Version bumped. The caller answers as for Rotated.
	Resumed
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
	case Resumed:
		return "resumed"
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
	// and Resumed it returns the record as written. A backend whose reuse handling takes
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
	// ListUserPage returns one page of the user's sessions in the order
	// (CreatedAt, ID), both ascending: at most limit records that come
	// strictly after the position after (the zero PageCursor is before the
	// first), expired ones possibly included (the Manager filters). A page
	// shorter than limit means nothing follows. Repeated with the position
	// of the last record returned, it lists every session that lives
	// throughout exactly once, whatever is created or deleted between
	// pages. Its memory and work are bounded by limit, not by how many
	// sessions the user has. A limit outside 1..MaxStorePage is an error
	// wrapping ErrInvalidPage; a store may hold CreatedAt at a coarser
	// precision (PostgreSQL: microseconds) as long as the cursor of a
	// listed record is what it listed.
	ListUserPage(ctx context.Context, userID string, after PageCursor, limit int) ([]*Record, error)
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
// req:
//
//   - Rotated if req.Presented is the current refresh hash;
//   - Resumed if it is the child of the current one (r.NextRefreshHash):
//     the store lost the rotation that handed it out;
//   - GraceReplay if it is the parent and either the parent was rotated
//     less than req.Grace ago (two tabs, a quick retry) or the parent was
//     handed out only once (!r.PrevRefreshReissued): its child has never
//     been used (presenting the child would have made it the parent), so
//     this is its holder retrying a refresh whose answer it lost, however
//     late;
//   - Reused otherwise: an older token, or a parent handed out more than
//     once presented after the grace window, which is two holders of one
//     token (a thief and the owner) following each other.
//
// Hashes are compared in constant time. Backends written in Go call Apply
// inside their atomic step; those that decide inside the database (a Lua
// script, a SQL function) implement the same rule, and the conformance
// suite holds them to it.
func Decide(r *Record, req RotateRequest) RotateOutcome {
	if len(req.Presented) == 0 {
		return Reused
	}
	if subtle.ConstantTimeCompare(req.Presented, r.RefreshHash) == 1 {
		return Rotated
	}
	if len(r.NextRefreshHash) > 0 && subtle.ConstantTimeCompare(req.Presented, r.NextRefreshHash) == 1 {
		return Resumed
	}
	if len(r.PrevRefreshHash) > 0 &&
		subtle.ConstantTimeCompare(req.Presented, r.PrevRefreshHash) == 1 &&
		(req.Now.Sub(r.RotatedAt) < req.Grace || !r.PrevRefreshReissued) {
		return GraceReplay
	}
	return Reused
}

// Apply is Decide together with the write it calls for. It returns the
// outcome and, when the record changes, the record to store in place of r
// (a copy, Version bumped); nil when nothing is to be written (a replay
// already marked, or Reused, where the Store deletes the session and
// records its revocation instead). On Rotated the current token becomes
// the parent, carrying its RefreshReissued mark, and req.Next the fresh
// current token; on Resumed req.Presented becomes the parent, handed out
// once, and req.Next current; on GraceReplay the current token is marked
// reissued.
func Apply(r *Record, req RotateRequest) (RotateOutcome, *Record) {
	out := Decide(r, req)
	switch out {
	case Rotated, Resumed:
		c := r.Clone()
		if out == Rotated {
			c.PrevRefreshHash = c.RefreshHash
			c.PrevRefreshReissued = c.RefreshReissued
		} else {
			c.PrevRefreshHash = append([]byte(nil), req.Presented...)
			c.PrevRefreshReissued = false
		}
		c.RefreshHash = append([]byte(nil), req.Next...)
		c.NextRefreshHash = append([]byte(nil), req.NextChild...)
		c.RefreshReissued = false
		c.RotatedAt = req.Now
		c.LastSeenAt = req.Now
		c.IdleExpiresAt = req.IdleExpiresAt
		c.Version++
		return out, c
	case GraceReplay:
		if r.RefreshReissued {
			return out, nil
		}
		c := r.Clone()
		c.RefreshReissued = true
		c.Version++
		return out, c
	}
	return out, nil
}

// DeadlinePassed reports whether a store whose clock reads now must refuse
// req because its caller has given up (see RotateRequest.Deadline).
func (req RotateRequest) DeadlinePassed(now time.Time) bool {
	return !req.Deadline.IsZero() && !now.Before(req.Deadline)
}
