package session

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/token"
)

// Config configures a Manager. Store, Keys, Issuer, Audience and RefreshKey
// are required.
type Config struct {
	// Store keeps the sessions.
	Store Store
	// Keys signs and verifies access tokens.
	Keys *token.KeyRing
	// Issuer and Audience become the iss and aud of access tokens, and are
	// required of every token Verify accepts.
	Issuer, Audience string
	// RefreshKey (at least 32 random bytes, secret, the same on every
	// node) derives the child of a refresh token, so a replay within the
	// grace window gets the same child without the child ever being stored
	// in clear, and tags every refresh token, so no one without it can make
	// one. A key that is obviously not random (all zero, one byte repeated,
	// fewer than 8 distinct byte values: token.CheckSecret) is refused.
	// token.DeriveKey(master, token.PurposeRefresh) derives it from a
	// master key as sessiond serve does.
	RefreshKey []byte
	// Policy holds lifetimes and limits; zero fields take their defaults.
	Policy Policy
	// Audit receives audit events; nil discards them.
	Audit *audit.Logger
	// Now is the clock; nil means time.Now. Tests inject one.
	Now func() time.Time
	// Leeway is the clock skew allowed when verifying access tokens.
	// Default 30 s, at most MaxLeeway.
	Leeway time.Duration
	// VerifyCacheSize bounds how many verified access tokens are remembered
	// so their signature is not checked again. Default 65536; negative
	// disables the cache.
	VerifyCacheSize int
	// RevocationPoll is how often the store's revocations are re-read as a
	// safety net under the change feed. Default 30 s; negative disables.
	RevocationPoll time.Duration
	// ReloadKeys, if set, is called when an access token names a key this
	// node does not know (another node rotated the shared ring): the Manager
	// reloads at most once a second and verifies again.
	ReloadKeys func(context.Context) error
	// FeedLag, if set, is called for every revocation that arrives through
	// the store's change feed with how long it took since the revoking node
	// recorded it (by that node's clock; metrics report it).
	FeedLag func(time.Duration)
	// ClientID is the client_id of the tokens of sessions started without
	// one (Grant.ClientID): the Manager's own logins. Default
	// DefaultClientID.
	ClientID string
	// Claims names the application claims sessions may carry (Grant.Claims,
	// SetUserClaims) and Verify accepts; each must pass
	// token.CheckClaimName. A token carrying any other claim is refused.
	Claims []string
	// Passive makes New start no background work: no subscription to the
	// store's revocation feed and no periodic re-read, until Listen is
	// called. New still loads the revocations the store remembers. A
	// one-shot tool that only reads or edits the store (an admin command)
	// uses it; a Manager that verifies tokens beside other nodes must
	// Listen, or it learns of their revocations only from its own writes.
	Passive bool
}

// Manager is the core of sessiond: it logs in, refreshes, verifies and
// revokes sessions. All methods are safe for concurrent use. Create one with
// New and Close it when done.
type Manager struct {
	store      Store
	keys       *token.KeyRing
	verifier   token.Verifier
	issuer     string
	audience   string
	refKey     []byte
	policy     Policy
	audit      *audit.Logger
	clientID   string
	claimNames claimSet
	leeway     time.Duration
	now        func() time.Time

	revoked *revokedSet
	cache   *verifyCache

	reloadKeys func(context.Context) error
	lastReload atomic.Int64 // unix nanos of the last on-demand key reload

	feedLag   func(time.Duration)
	poll      time.Duration
	listening atomic.Bool

	bg   context.Context // ends at Close
	stop context.CancelFunc
	wg   sync.WaitGroup
}

// New checks cfg, loads the revocations the store remembers, and, unless
// cfg.Passive is set, starts listening for new ones (see Listen).
func New(ctx context.Context, cfg Config) (*Manager, error) {
	if cfg.Store == nil || cfg.Keys == nil {
		return nil, fmt.Errorf("%w: Store and Keys are required", ErrPolicy)
	}
	if cfg.Issuer == "" || cfg.Audience == "" {
		return nil, fmt.Errorf("%w: Issuer and Audience are required", ErrPolicy)
	}
	if err := token.CheckSecret(cfg.RefreshKey); err != nil {
		// A key anyone can guess lets anyone make refresh tokens that
		// pass the tag check: the forged-refresh attack the tag prevents.
		return nil, fmt.Errorf("%w: RefreshKey: %w", ErrPolicy, err)
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("%w: leeway %v must be between 0 and %v", ErrPolicy, cfg.Leeway, MaxLeeway)
	}
	p, err := cfg.Policy.withDefaults()
	if err != nil {
		return nil, err
	}
	names, err := newClaimSet(cfg.Claims)
	if err != nil {
		return nil, err
	}
	clientID := cmp.Or(cfg.ClientID, DefaultClientID)
	if err := checkClientID(clientID); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	clock := cfg.Now
	if clock == nil {
		clock = time.Now
	}
	// Whole microseconds: the finest time every backend keeps (PostgreSQL),
	// so expiry and grace boundaries fall at the same instant on each.
	now := func() time.Time { return clock().Truncate(time.Microsecond) }
	m := &Manager{
		store:      cfg.Store,
		keys:       cfg.Keys,
		issuer:     cfg.Issuer,
		audience:   cfg.Audience,
		refKey:     slices.Clone(cfg.RefreshKey),
		policy:     p,
		audit:      cfg.Audit,
		now:        now,
		revoked:    newRevokedSet(),
		reloadKeys: cfg.ReloadKeys,
		clientID:   clientID,
		claimNames: names,
		leeway:     cmp.Or(cfg.Leeway, 30*time.Second),
	}
	m.verifier = token.Verifier{Keys: cfg.Keys, Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway, Now: now,
		Claims: slices.Clone(cfg.Claims)}
	size := cfg.VerifyCacheSize
	if size == 0 {
		size = 65536
	}
	if size > 0 {
		m.cache = newVerifyCache(size)
	}
	m.poll = cfg.RevocationPoll
	if m.poll == 0 {
		m.poll = 30 * time.Second
	}
	m.feedLag = cfg.FeedLag
	m.bg, m.stop = context.WithCancel(context.Background())
	if cfg.Passive {
		if err := m.LoadRevocations(ctx); err != nil {
			m.stop()
			return nil, err
		}
		return m, nil
	}
	if err := m.Listen(ctx); err != nil {
		m.stop()
		return nil, err
	}
	return m, nil
}

// Listen starts the Manager's background work, which New starts itself
// unless Config.Passive is set: it subscribes to the store's revocation
// feed (if the store has one), loads the revocations the store remembers,
// and re-reads them every RevocationPoll as a safety net. It returns once
// the subscription is in place, so nothing revoked after it returns is
// missed; the work goes on until Close. ctx bounds only the subscription
// and the first load. Listening twice is an error.
func (m *Manager) Listen(ctx context.Context) error {
	if !m.listening.CompareAndSwap(false, true) {
		return errors.New("session: the Manager is already listening")
	}
	// Subscribe before loading so that nothing revoked in between is missed.
	if feed, ok := m.store.(RevocationFeed); ok {
		deliver := m.revoked.add
		if lag := m.feedLag; lag != nil {
			deliver = func(r Revocation) {
				m.revoked.add(r)
				lag(m.now().Sub(r.Until.Add(-revokeHold)))
			}
		}
		if err := feed.SubscribeRevocations(m.bg, deliver); err != nil {
			return fmt.Errorf("subscribe to revocations: %w", err)
		}
	}
	if err := m.LoadRevocations(ctx); err != nil {
		return err
	}
	if m.poll > 0 {
		m.wg.Go(func() { m.pollRevocations(m.bg, m.poll) })
	}
	return nil
}

// Close stops the Manager's background work. It does not close the Store.
func (m *Manager) Close() error {
	m.stop()
	m.wg.Wait()
	return nil
}

// Policy returns the effective policy, defaults filled in.
func (m *Manager) Policy() Policy { return m.policy }

// Keys returns the key ring that signs access tokens.
func (m *Manager) Keys() *token.KeyRing { return m.keys }

// Store returns the store the Manager uses.
func (m *Manager) Store() Store { return m.store }

// Audit returns the audit logger (possibly nil, which discards).
func (m *Manager) Audit() *audit.Logger { return m.audit }

// Now returns the Manager's clock reading.
func (m *Manager) Now() time.Time { return m.now() }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
