package session

import (
	"errors"
	"fmt"
	"time"
)

// Limits that no configuration can exceed.
const (
	// MaxAccessTTL is the longest an access token may live (DESIGN.md: at most 1 h).
	MaxAccessTTL = time.Hour
	// MaxLeeway is the largest clock leeway the verifier allows.
	MaxLeeway = 60 * time.Second
	// MaxRefreshGrace bounds the replay window of a rotated refresh token;
	// a longer window would make theft detection toothless.
	MaxRefreshGrace = time.Minute
	// clockSkewMargin covers nodes whose clocks disagree: a revocation is
	// held by the revoking node's clock, a token's exp was set by the
	// signing node's.
	clockSkewMargin = 5 * time.Minute
	// revokeHold is how long a revocation is remembered: long enough that
	// every access token the session could still hold has expired, whatever
	// AccessTTL was when it was issued, on any node within the skew margin.
	revokeHold = MaxAccessTTL + MaxLeeway + clockSkewMargin
)

// Policy holds the lifetimes and limits of sessions. The zero value of each
// field means its default.
type Policy struct {
	// AccessTTL is the lifetime of an access token. Default 10 min, at most
	// MaxAccessTTL; never past the session's own expiry.
	AccessTTL time.Duration
	// IdleTimeout ends a session that has not refreshed for this long.
	// Default 24 h.
	IdleTimeout time.Duration
	// AbsoluteTimeout ends a session this long after login, however active.
	// Default 7 days.
	AbsoluteTimeout time.Duration
	// RefreshGrace is how long after a rotation the parent refresh token may
	// be presented again and get the same child (two tabs, a retried
	// request). Default 10 s, at most MaxRefreshGrace. Any other reuse is
	// treated as theft.
	RefreshGrace time.Duration
	// MaxSessionsPerUser caps a user's live sessions; a login beyond the cap
	// revokes the user's oldest sessions, so one account's cost is bounded.
	// Default DefaultMaxSessionsPerUser (100); NoSessionCap for none. Zero
	// is the default, not "no cap" (sessiond serve's
	// --max-sessions-per-user 0, which means none, sets NoSessionCap).
	MaxSessionsPerUser int
	// MaxDataBytes caps the application data of a session, as JSON.
	// Default 4096 bytes.
	MaxDataBytes int
	// MaxClaimsBytes caps a session's application claims (Config.Claims),
	// as compact JSON: they ride in every access token. Default 1024
	// bytes, at most MaxClaimsLimit.
	MaxClaimsBytes int
}

// Defaults of Policy.
const (
	DefaultAccessTTL       = 10 * time.Minute
	DefaultIdleTimeout     = 24 * time.Hour
	DefaultAbsoluteTimeout = 7 * 24 * time.Hour
	DefaultRefreshGrace    = 10 * time.Second
	DefaultMaxDataBytes    = 4096
	DefaultMaxClaimsBytes  = 1024
	// MaxClaimsLimit is the largest MaxClaimsBytes: with the standard
	// claims, a token must stay under the verifier's 4 KiB and a cookie's.
	MaxClaimsLimit = 2048
	// DefaultMaxSessionsPerUser is the cap of a user's live sessions when
	// Policy leaves it zero.
	DefaultMaxSessionsPerUser = 100
)

// NoSessionCap as Policy.MaxSessionsPerUser lets a user keep any number of
// live sessions.
const NoSessionCap = -1

// ErrPolicy is wrapped by configuration errors.
var ErrPolicy = errors.New("session: invalid policy")

// Validate reports whether p, its zero fields taken as their defaults, is
// within bounds; the error wraps ErrPolicy. New checks the same, so a
// caller can refuse a bad policy before it opens anything.
func (p Policy) Validate() error {
	_, err := p.withDefaults()
	return err
}

// withDefaults fills zero fields and checks bounds.
func (p Policy) withDefaults() (Policy, error) {
	if p.AccessTTL == 0 {
		p.AccessTTL = DefaultAccessTTL
	}
	if p.IdleTimeout == 0 {
		p.IdleTimeout = DefaultIdleTimeout
	}
	if p.AbsoluteTimeout == 0 {
		p.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if p.RefreshGrace == 0 {
		p.RefreshGrace = DefaultRefreshGrace
	}
	if p.MaxDataBytes == 0 {
		p.MaxDataBytes = DefaultMaxDataBytes
	}
	if p.MaxSessionsPerUser == 0 {
		p.MaxSessionsPerUser = DefaultMaxSessionsPerUser
	}
	if p.MaxClaimsBytes == 0 {
		p.MaxClaimsBytes = DefaultMaxClaimsBytes
	}
	switch {
	case p.AccessTTL < time.Second || p.AccessTTL > MaxAccessTTL:
		return p, fmt.Errorf("%w: access TTL %v must be between 1s and %v", ErrPolicy, p.AccessTTL, MaxAccessTTL)
	case p.IdleTimeout < time.Minute:
		return p, fmt.Errorf("%w: idle timeout %v is under a minute", ErrPolicy, p.IdleTimeout)
	case p.AbsoluteTimeout < time.Minute:
		return p, fmt.Errorf("%w: absolute timeout %v is under a minute", ErrPolicy, p.AbsoluteTimeout)
	case p.RefreshGrace < 0 || p.RefreshGrace > MaxRefreshGrace:
		return p, fmt.Errorf("%w: refresh grace %v must be between 0 and %v", ErrPolicy, p.RefreshGrace, MaxRefreshGrace)
	case p.MaxSessionsPerUser < NoSessionCap:
		return p, fmt.Errorf("%w: session cap %d: want a positive cap, 0 for the default or NoSessionCap", ErrPolicy, p.MaxSessionsPerUser)
	case p.MaxDataBytes < 0 || p.MaxDataBytes > 64<<10:
		return p, fmt.Errorf("%w: app data cap %d must be between 0 and 64 KiB", ErrPolicy, p.MaxDataBytes)
	case p.MaxClaimsBytes < 0 || p.MaxClaimsBytes > MaxClaimsLimit:
		return p, fmt.Errorf("%w: claims cap %d must be between 0 and %d bytes", ErrPolicy, p.MaxClaimsBytes, MaxClaimsLimit)
	}
	return p, nil
}
