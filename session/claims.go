package session

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/token"
)

// DefaultClientID is the client_id of the tokens of sessions started
// without one (Config.ClientID): sessiond's own logins.
const DefaultClientID = "sessiond"

// Limits on what a Grant may carry besides its claims.
const (
	// MaxClientIDLen is the longest client id, in bytes.
	MaxClientIDLen = 128
	// MaxAMR is the most authentication method references a session keeps;
	// MaxAMRLen the longest one, in bytes.
	MaxAMR    = 8
	MaxAMRLen = 32
)

// Grant describes a session to start for a user whom the caller has just
// authenticated, its own way (a password, single sign-on, a passkey, a
// magic link).
type Grant struct {
	// UserID is the user: the sub of every access token. Required; see
	// MaxUserIDLen.
	UserID string
	// Meta describes the client (cleaned as for Login).
	Meta Meta
	// ClientID is the client the session is issued to, the client_id of
	// its tokens: the service client that minted it. Empty means the
	// Manager's Config.ClientID.
	ClientID string
	// AMR lists how the user authenticated, as RFC 8176 method references
	// ("pwd", "otp", "hwk", "mfa", ...): at most MaxAMR, each 1 to
	// MaxAMRLen bytes of letters, digits, '-' and '_'.
	AMR []string
	// AuthTime is when the user authenticated; zero means now. It may not
	// lie in the future, nor before the session's absolute timeout ago.
	AuthTime time.Time
	// Claims are the application claims every access token of the session
	// carries, each one JSON value, under names the Manager was configured
	// with (Config.Claims); at most Policy.MaxClaimsBytes as JSON.
	Claims map[string]json.RawMessage
	// AbsoluteTimeout, if set, ends this session that long after it
	// starts instead of Policy.AbsoluteTimeout, which it may not exceed: a
	// login the user did not ask to be remembered gets a shorter life. Zero
	// means the policy's.
	AbsoluteTimeout time.Duration
}

// CheckClaimNames reports whether names can configure a Manager
// (Config.Claims): each passes token.CheckClaimName and none is repeated.
// The error wraps ErrPolicy.
func CheckClaimNames(names []string) error {
	_, err := newClaimSet(names)
	return err
}

// CheckClientID reports whether id can be a client id (Config.ClientID,
// Grant.ClientID); the error wraps ErrInvalidClaims.
func CheckClientID(id string) error { return checkClientID(id) }

// claimSet is the set of configured claim names.
type claimSet map[string]bool

func newClaimSet(names []string) (claimSet, error) {
	if err := token.CheckClaimNames(names); err != nil {
		return nil, fmt.Errorf("%w: claims: %w", ErrPolicy, err)
	}
	set := make(claimSet, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set, nil
}

// checkClaims returns claims in their stored form (nil when empty; each
// value compact) after checking every name is configured, every value is
// JSON every backend can keep, and the whole fits the cap.
func (m *Manager) checkClaims(claims map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	if len(claims) == 0 {
		return nil, nil
	}
	out := make(map[string]json.RawMessage, len(claims))
	for name, v := range claims {
		if !m.claimNames[name] {
			return nil, fmt.Errorf("%w: claim %q is not one this server issues (configure it with --claims)", ErrInvalidClaims, clipName(name))
		}
		if !json.Valid(v) {
			return nil, fmt.Errorf("%w: claim %q is not one JSON value", ErrInvalidClaims, name)
		}
		out[name] = v
	}
	b, err := json.Marshal(out) // compacts each value
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidClaims, err)
	}
	if len(b) > m.policy.MaxClaimsBytes {
		return nil, fmt.Errorf("%w: %d bytes of claims, the cap is %d", ErrInvalidClaims, len(b), m.policy.MaxClaimsBytes)
	}
	if !jsonbSafe(b) {
		return nil, fmt.Errorf("%w: a value holds \\u0000 or an unpaired surrogate escape, which a store cannot keep", ErrInvalidClaims)
	}
	if err := json.Unmarshal(b, &out); err != nil { // the compact values
		return nil, fmt.Errorf("%w: %w", ErrInvalidClaims, err)
	}
	return out, nil
}

// clipName shortens a name for an error message.
func clipName(s string) string {
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return s
}

// checkClientID refuses a client id no store and no token can keep as given.
func checkClientID(id string) error {
	if id == "" || len(id) > MaxClientIDLen || !utf8.ValidString(id) {
		return fmt.Errorf("%w: client id must be 1 to %d bytes of UTF-8", ErrInvalidClaims, MaxClientIDLen)
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] == 0x7f {
			return fmt.Errorf("%w: client id holds a control character", ErrInvalidClaims)
		}
	}
	return nil
}

// checkAMR refuses method references that are not short tokens.
func checkAMR(amr []string) ([]string, error) {
	if len(amr) == 0 {
		return nil, nil
	}
	if len(amr) > MaxAMR {
		return nil, fmt.Errorf("%w: %d amr values, at most %d", ErrInvalidClaims, len(amr), MaxAMR)
	}
	for _, v := range amr {
		ok := v != "" && len(v) <= MaxAMRLen
		for i := 0; ok && i < len(v); i++ {
			c := v[i]
			ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
		}
		if !ok {
			return nil, fmt.Errorf("%w: amr value %q: want 1 to %d letters, digits, '-' or '_'", ErrInvalidClaims, clipName(v), MaxAMRLen)
		}
	}
	return append([]string(nil), amr...), nil
}

// SetUserClaims replaces the application claims of every live session of
// userID. Each session's tokens carry them from its next refresh on (an
// access token already issued keeps the old ones until it expires, at most
// Policy.AccessTTL); with revoke, the sessions are revoked instead, so
// their access tokens are refused at once and the user logs in again. The
// claims are checked as Grant.Claims are (ErrInvalidClaims, nothing
// changed). It returns the ids of the sessions changed or revoked.
func (m *Manager) SetUserClaims(ctx context.Context, userID string, claims map[string]json.RawMessage, revoke bool) ([]string, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	claims, err := m.checkClaims(claims)
	if err != nil {
		return nil, err
	}
	if revoke {
		return m.RevokeUserFor(ctx, userID, "", "claims changed")
	}
	recs, err := m.store.ListUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("set claims: %w", err)
	}
	var changed []string
	for _, r := range recs {
		ok, err := m.setClaims(ctx, r, claims)
		if err != nil {
			return changed, err
		}
		if ok {
			changed = append(changed, r.ID)
		}
	}
	m.audit.Log(ctx, audit.Event{Kind: audit.ClaimsChanged, UserID: userID, Count: len(changed)})
	return changed, nil
}

// setClaims writes claims into one session with compare-and-set, starting
// from r and re-reading on conflict. It reports false for a session that
// is gone or dead.
func (m *Manager) setClaims(ctx context.Context, r *Record, claims map[string]json.RawMessage) (bool, error) {
	const attempts = 16
	for range attempts {
		if r.Expired(m.now()) {
			return false, nil
		}
		r.Claims = claims
		err := m.store.Update(ctx, r)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, ErrNotFound):
			return false, nil
		case !errors.Is(err, ErrConflict):
			return false, fmt.Errorf("set claims: %w", err)
		}
		if r, err = m.store.Get(ctx, r.ID); errors.Is(err, ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, fmt.Errorf("set claims: %w", err)
		}
	}
	return false, fmt.Errorf("set claims after %d attempts: %w", attempts, ErrConflict)
}

// CheckClaims checks claims as Grant.Claims and SetUserClaims do: every
// name configured (Config.Claims), every value one JSON value every
// backend can keep, the whole at most Policy.MaxClaimsBytes; the error
// wraps ErrInvalidClaims. It returns them as sessions keep them (each value
// compact; nil when there are none), the form to store elsewhere, such as
// on a built-in account, before changing any session.
func (m *Manager) CheckClaims(claims map[string]json.RawMessage) (map[string]json.RawMessage, error) {
	return m.checkClaims(claims)
}

// CheckUserID reports whether id can be a user id (Grant.UserID, and every
// method that takes one); the error wraps ErrInvalidUserID.
func CheckUserID(id string) error { return checkUserID(id) }

// SetSessionClaims replaces the application claims of the one session id,
// with compare-and-set as SetUserClaims: its tokens carry them from its
// next refresh on. The claims are checked as Grant.Claims are
// (ErrInvalidClaims, nothing changed). It reports false, and changes
// nothing, for a session that is gone, revoked or expired.
func (m *Manager) SetSessionClaims(ctx context.Context, id string, claims map[string]json.RawMessage) (bool, error) {
	claims, err := m.checkClaims(claims)
	if err != nil {
		return false, err
	}
	r, err := m.get(ctx, id)
	if errors.Is(err, ErrNotFound) || errors.Is(err, ErrRevoked) || errors.Is(err, ErrExpired) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("set claims: %w", err)
	}
	ok, err := m.setClaims(ctx, r, claims)
	if ok {
		m.audit.Log(ctx, audit.Event{Kind: audit.ClaimsChanged, SessionID: id, UserID: r.UserID, Count: 1})
	}
	return ok, err
}

// Claim returns the raw JSON of the application claim name of the access
// token, and whether it carried one.
func (id *Identity) Claim(name string) (json.RawMessage, bool) {
	v, ok := id.Claims[name]
	return v, ok
}

// StringClaim returns the application claim name when it is a JSON
// string, and whether it was one.
func (id *Identity) StringClaim(name string) (string, bool) {
	var s string
	v, ok := id.Claims[name]
	if !ok || json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// ClaimAs decodes the application claim name of id into a T. It reports
// false if the token carried none, and an error if its JSON does not fit T.
func ClaimAs[T any](id *Identity, name string) (T, bool, error) {
	var v T
	raw, ok := id.Claims[name]
	if !ok {
		return v, false, nil
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, true, fmt.Errorf("claim %q: %w", name, err)
	}
	return v, true, nil
}
