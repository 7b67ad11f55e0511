package session

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

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
	// RefreshKey (at least 32 bytes, secret, the same on every node) derives
	// the child of a refresh token, so a replay within the grace window gets
	// the same child without the child ever being stored in clear.
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
	// Passive makes New start no background work: no subscription to the
	// store's revocation feed and no periodic re-read, until Listen is
	// called. New still loads the revocations the store remembers. A
	// one-shot tool that only reads or edits the store (an admin command)
	// uses it; a Manager that verifies tokens beside other nodes must
	// Listen, or it learns of their revocations only from its own writes.
	Passive bool
}

// Meta describes the client at login or refresh. Its fields come from
// outside (request headers), so Login stores them cleaned: invalid UTF-8
// becomes U+FFFD, control characters (NUL included) are dropped, and each
// is cut, at a character boundary, to MaxUserAgentLen or MaxMetaLen bytes.
// That keeps every backend able to store them (PostgreSQL text refuses NUL
// and invalid UTF-8) and bounds what one login can make the store keep.
type Meta struct {
	IP         string
	UserAgent  string
	AuthMethod string // e.g. "password"; set at login
}

// Lengths, in bytes, that Login keeps of Meta's fields.
const (
	MaxUserAgentLen = 512
	MaxMetaLen      = 64 // IP and AuthMethod
)

func (m Meta) clean() Meta {
	return Meta{
		IP:         cleanText(m.IP, MaxMetaLen),
		UserAgent:  cleanText(m.UserAgent, MaxUserAgentLen),
		AuthMethod: cleanText(m.AuthMethod, MaxMetaLen),
	}
}

// cleanText returns s as valid UTF-8 without control characters, at most
// max bytes long, cut at a character boundary.
func cleanText(s string, max int) string {
	clean := utf8.ValidString(s) && len(s) <= max
	for i := 0; clean && i < len(s); i++ {
		clean = s[i] >= 0x20 && s[i] != 0x7f
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range strings.ToValidUTF8(s, "\uFFFD") {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			continue
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}

// Tokens is what a login or refresh hands to the client.
type Tokens struct {
	AccessToken     string
	AccessExpiresAt time.Time
	RefreshToken    string
	Session         *Session
}

// Identity is what an access token proves: the caller's session and user.
// Verify returns it without reading the store.
type Identity struct {
	SessionID string
	UserID    string
	TokenID   string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

// Manager is the core of sessiond: it logs in, refreshes, verifies and
// revokes sessions. All methods are safe for concurrent use. Create one with
// New and Close it when done.
type Manager struct {
	store    Store
	keys     *token.KeyRing
	verifier token.Verifier
	issuer   string
	audience string
	refKey   []byte
	policy   Policy
	audit    *audit.Logger
	now      func() time.Time

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
	if len(cfg.RefreshKey) < 32 {
		return nil, fmt.Errorf("%w: RefreshKey must be at least 32 bytes", ErrPolicy)
	}
	if cfg.Leeway < 0 || cfg.Leeway > MaxLeeway {
		return nil, fmt.Errorf("%w: leeway %v must be between 0 and %v", ErrPolicy, cfg.Leeway, MaxLeeway)
	}
	p, err := cfg.Policy.withDefaults()
	if err != nil {
		return nil, err
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
	}
	m.verifier = token.Verifier{Keys: cfg.Keys, Issuer: cfg.Issuer, Audience: cfg.Audience, Leeway: cfg.Leeway, Now: now}
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
			return fmt.Errorf("session: subscribe to revocations: %w", err)
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

// LoadRevocations reads the store's current revocations into the in-memory
// set. New calls it; it runs again periodically as a safety net.
func (m *Manager) LoadRevocations(ctx context.Context) error {
	revs, err := m.store.Revocations(ctx, m.now())
	if err != nil {
		return fmt.Errorf("session: load revocations: %w", err)
	}
	for _, r := range revs {
		m.revoked.add(r)
	}
	return nil
}

func (m *Manager) pollRevocations(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = m.LoadRevocations(ctx) // a failure keeps the set we have; the feed still runs
			m.revoked.prune(m.now())
		}
	}
}

// newID returns a new 128-bit session id, base64url.
func newID() (string, []byte) {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it crashes the program instead)
	return base64.RawURLEncoding.EncodeToString(b[:]), b[:]
}

// decodeID returns the raw bytes of a session id, or false if it is not one.
func decodeID(id string) ([]byte, bool) {
	if len(id) != 22 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.Strict().DecodeString(id)
	return b, err == nil && len(b) == 16
}

// MaxUserIDLen is the longest user id Login accepts, in bytes. It keeps the
// access token, whose sub is the user id (JSON escaping may make it six
// times longer), well under the verifier's 4 KiB limit and a cookie's.
const MaxUserIDLen = 256

// checkUserID refuses a user id that would not come back unchanged from
// every store and from the access token: JSON (the token's sub, bolt's
// records) turns each invalid UTF-8 byte into U+FFFD, so two different
// ids would share one identity; PostgreSQL cannot store NUL; and a long id
// would make an access token its own verifier refuses.
func checkUserID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty", ErrInvalidUserID)
	case len(id) > MaxUserIDLen:
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrInvalidUserID, len(id), MaxUserIDLen)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: not valid UTF-8", ErrInvalidUserID)
	case strings.IndexByte(id, 0) >= 0:
		return fmt.Errorf("%w: contains NUL", ErrInvalidUserID)
	}
	return nil
}

// Login starts a new session for userID (already authenticated by the
// caller) and returns its first tokens. Every login gets a new session id.
func (m *Manager) Login(ctx context.Context, userID string, meta Meta) (*Tokens, error) {
	if err := checkUserID(userID); err != nil {
		return nil, err
	}
	meta = meta.clean()
	now := m.now()
	id, raw := newID()
	rt, err := token.NewRefreshToken(m.refKey, raw)
	if err != nil {
		return nil, fmt.Errorf("session: refresh token: %w", err)
	}
	abs := now.Add(m.policy.AbsoluteTimeout)
	rec := &Record{
		ID:            id,
		UserID:        userID,
		CreatedAt:     now,
		LastSeenAt:    now,
		IdleExpiresAt: minTime(now.Add(m.policy.IdleTimeout), abs),
		AbsExpiresAt:  abs,
		IP:            meta.IP,
		UserAgent:     meta.UserAgent,
		AuthMethod:    meta.AuthMethod,
		RefreshHash:   token.HashRefreshToken(rt),
	}
	if err := m.store.Create(ctx, rec); err != nil {
		return nil, fmt.Errorf("session: create: %w", err)
	}
	if m.policy.MaxSessionsPerUser > 0 {
		if err := m.enforceCap(ctx, userID, id); err != nil {
			return nil, err
		}
	}
	at, exp, err := m.sign(rec, now)
	if err != nil {
		return nil, err
	}
	m.audit.Log(ctx, audit.Event{Kind: audit.LoginOK, SessionID: id, UserID: userID, IP: meta.IP, UserAgent: meta.UserAgent, Reason: meta.AuthMethod})
	rec.Version = 1
	return &Tokens{AccessToken: at, AccessExpiresAt: exp, RefreshToken: rt, Session: newSession(rec)}, nil
}

// enforceCap revokes the user's oldest live sessions beyond the cap,
// never the one just created.
func (m *Manager) enforceCap(ctx context.Context, userID, keep string) error {
	recs, err := m.store.ListUser(ctx, userID)
	if err != nil {
		return fmt.Errorf("session: list for cap: %w", err)
	}
	now := m.now()
	live := recs[:0]
	for _, r := range recs {
		if !r.Expired(now) {
			live = append(live, r)
		}
	}
	excess := len(live) - m.policy.MaxSessionsPerUser
	for _, r := range live {
		if excess <= 0 {
			break
		}
		if r.ID == keep {
			continue
		}
		if err := m.revoke(ctx, r.ID, audit.Event{Kind: audit.Revoke, SessionID: r.ID, UserID: userID, Reason: "session cap"}); err != nil {
			return err
		}
		excess--
	}
	return nil
}

// sign issues an access token for rec, never outliving the session.
func (m *Manager) sign(rec *Record, now time.Time) (string, time.Time, error) {
	exp := minTime(now.Add(m.policy.AccessTTL), rec.ExpiresAt()).Truncate(time.Second)
	jti, _ := newID()
	at, err := m.keys.Sign(token.Claims{
		Issuer:    m.issuer,
		Subject:   rec.UserID,
		Audience:  []string{m.audience},
		ExpiresAt: exp,
		IssuedAt:  now.Truncate(time.Second),
		ID:        jti,
		SessionID: rec.ID,
	})
	if err != nil {
		return "", time.Time{}, fmt.Errorf("session: sign access token: %w", err)
	}
	return at, exp, nil
}

// Refresh rotates a refresh token: it returns a new access token and the
// child refresh token. The same parent presented again within the grace
// window gets the same child; any other reuse revokes the whole session and
// returns ErrReused. A malformed, unknown or expired token returns an error
// wrapping ErrInvalidToken.
func (m *Manager) Refresh(ctx context.Context, refreshToken string, meta Meta) (*Tokens, error) {
	// Verify, not just parse: a token that names a session but was not
	// made under our key must be refused here, not reach Rotate, which
	// would take it for a stolen token and revoke the session.
	raw, err := token.VerifyRefreshToken(m.refKey, refreshToken)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	id := base64.RawURLEncoding.EncodeToString(raw)
	child, err := token.DeriveRefreshToken(m.refKey, refreshToken)
	if err != nil {
		return nil, fmt.Errorf("session: derive refresh token: %w", err)
	}
	now := m.now()
	if m.revoked.has(id, now) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrRevoked)
	}
	outcome, rec, err := m.store.Rotate(ctx, id, RotateRequest{
		Presented:     token.HashRefreshToken(refreshToken),
		Next:          token.HashRefreshToken(child),
		Now:           now,
		Grace:         m.policy.RefreshGrace,
		IdleExpiresAt: now.Add(m.policy.IdleTimeout), // Record.ExpiresAt caps it at the absolute expiry
		RevokeHold:    revokeHold,
	})
	if outcome == Reused && err != nil {
		// The store made the session unusable but could not record its
		// revocation: refuse its tokens here at least, and say so.
		m.revoked.add(Revocation{SessionID: id, Until: now.Add(revokeHold)})
		m.audit.Log(ctx, audit.Event{Kind: audit.ReuseDetected, SessionID: id, IP: meta.IP, UserAgent: meta.UserAgent,
			Reason: "revocation not recorded in the store: other nodes accept its access tokens until they expire"})
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrReused)
	}
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
		return nil, fmt.Errorf("session: refresh: %w", err)
	}
	switch outcome {
	case Reused:
		m.revoked.add(Revocation{SessionID: id, Until: now.Add(revokeHold)})
		m.audit.Log(ctx, audit.Event{Kind: audit.ReuseDetected, SessionID: id, IP: meta.IP, UserAgent: meta.UserAgent})
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrReused)
	case GraceReplay:
		// Nothing was written; answer from the record as stored now.
		if rec == nil {
			if rec, err = m.store.Get(ctx, id); err != nil {
				return nil, fmt.Errorf("session: refresh: %w", err)
			}
		}
	case Rotated:
	default:
		return nil, fmt.Errorf("%w: store returned outcome %v", ErrStore, outcome)
	}
	at, exp, err := m.sign(rec, now)
	if err != nil {
		return nil, err
	}
	m.audit.Log(ctx, audit.Event{Kind: audit.Refresh, SessionID: id, UserID: rec.UserID, IP: meta.IP, Reason: outcome.String()})
	return &Tokens{AccessToken: at, AccessExpiresAt: exp, RefreshToken: child, Session: newSession(rec)}, nil
}

// Verify checks an access token and returns the identity it proves. It
// reads no store: the signature, the claims and the in-memory set of
// revoked sessions decide. Errors wrap ErrInvalidToken, and ErrRevoked when
// the session was revoked.
func (m *Manager) Verify(ctx context.Context, accessToken string) (*Identity, error) {
	now := m.now()
	var key [sha256.Size]byte
	if m.cache != nil {
		key = sha256.Sum256([]byte(accessToken))
		if id, ok := m.cache.get(key, now); ok {
			if m.revoked.has(id.SessionID, now) {
				return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrRevoked)
			}
			cp := *id // callers may not change the cached entry
			return &cp, nil
		}
	}
	c, err := m.verifier.Verify(accessToken)
	if errors.Is(err, token.ErrUnknownKey) && m.reloadKeysNow(ctx, now) {
		c, err = m.verifier.Verify(accessToken)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if m.revoked.has(c.SessionID, now) {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, ErrRevoked)
	}
	id := &Identity{SessionID: c.SessionID, UserID: c.Subject, TokenID: c.ID, IssuedAt: c.IssuedAt, ExpiresAt: c.ExpiresAt}
	if m.cache != nil {
		cp := *id
		m.cache.put(key, &cp, now)
	}
	return id, nil
}

// reloadKeysNow reloads the key ring on demand, at most once a second, so
// forged tokens with random kids cannot turn into a flood of store reads.
func (m *Manager) reloadKeysNow(ctx context.Context, now time.Time) bool {
	if m.reloadKeys == nil {
		return false
	}
	last := m.lastReload.Load()
	if now.UnixNano()-last < int64(time.Second) || !m.lastReload.CompareAndSwap(last, now.UnixNano()) {
		return false
	}
	return m.reloadKeys(ctx) == nil
}

// Get returns a live session by id (a store read).
func (m *Manager) Get(ctx context.Context, id string) (*Session, error) {
	rec, err := m.get(ctx, id)
	if err != nil {
		return nil, err
	}
	return newSession(rec), nil
}

func (m *Manager) get(ctx context.Context, id string) (*Record, error) {
	if _, ok := decodeID(id); !ok {
		return nil, fmt.Errorf("session %q: %w", "malformed id", ErrNotFound)
	}
	now := m.now()
	if m.revoked.has(id, now) {
		return nil, fmt.Errorf("session: %w", ErrRevoked)
	}
	rec, err := m.store.Get(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("session: get: %w", err)
	}
	if rec.Expired(now) {
		return nil, fmt.Errorf("session: %w", ErrExpired)
	}
	return rec, nil
}

// Update runs fn on a fresh snapshot of the session and writes the result
// back with compare-and-set, retrying a few times if a concurrent write got
// there first. It never writes back a session that was revoked or expired
// meanwhile (ErrNotFound, ErrRevoked or ErrExpired), and refuses data over
// Policy.MaxDataBytes with ErrDataTooLarge, writing nothing. Only the
// application data is taken from fn's changes.
func (m *Manager) Update(ctx context.Context, id string, fn func(*Session) error) (*Session, error) {
	const attempts = 16
	for range attempts {
		rec, err := m.get(ctx, id)
		if err != nil {
			return nil, err
		}
		s := newSession(rec)
		if err := fn(s); err != nil {
			return nil, err
		}
		n, err := dataSize(s.data)
		if err != nil {
			return nil, err
		}
		if n > m.policy.MaxDataBytes {
			return nil, fmt.Errorf("%w: %d bytes, the cap is %d", ErrDataTooLarge, n, m.policy.MaxDataBytes)
		}
		rec.Data = s.data
		err = m.store.Update(ctx, rec)
		switch {
		case err == nil:
			return newSession(rec), nil
		case errors.Is(err, ErrConflict):
			continue
		default:
			return nil, fmt.Errorf("session: update: %w", err)
		}
	}
	return nil, fmt.Errorf("session: update after %d attempts: %w", attempts, ErrConflict)
}

// Revoke ends one session at once: its refresh token stops working and its
// access tokens are refused by Verify on every node fed by the store.
// Revoking a session that is already gone is not an error.
func (m *Manager) Revoke(ctx context.Context, id string) error {
	return m.revoke(ctx, id, audit.Event{Kind: audit.Revoke, SessionID: id})
}

// Logout is Revoke, audited as a logout by the session's own user.
func (m *Manager) Logout(ctx context.Context, id string) error {
	return m.revoke(ctx, id, audit.Event{Kind: audit.Logout, SessionID: id})
}

func (m *Manager) revoke(ctx context.Context, id string, ev audit.Event) error {
	now := m.now()
	until := now.Add(revokeHold)
	// Refuse the session's tokens on this node first, whatever the store
	// says: the feed would tell us too, but later, and a store failure
	// must fail closed here rather than leave the session usable.
	m.revoked.add(Revocation{SessionID: id, Until: until})
	if _, err := m.store.Delete(ctx, id, until); err != nil {
		return fmt.Errorf("session: revoke: %w", err)
	}
	m.audit.Log(ctx, ev)
	return nil
}

// RevokeUser ends every session of userID except the one with id except
// ("" ends them all: log out everywhere). It returns the ids it ended.
func (m *Manager) RevokeUser(ctx context.Context, userID, except string) ([]string, error) {
	now := m.now()
	until := now.Add(revokeHold)
	ids, err := m.store.DeleteUser(ctx, userID, except, until)
	if err != nil {
		return nil, fmt.Errorf("session: revoke user: %w", err)
	}
	for _, id := range ids {
		m.revoked.add(Revocation{SessionID: id, Until: until})
	}
	m.audit.Log(ctx, audit.Event{Kind: audit.RevokeUser, UserID: userID, Count: len(ids)})
	return ids, nil
}

// List returns the user's live sessions, oldest first.
func (m *Manager) List(ctx context.Context, userID string) ([]*Session, error) {
	recs, err := m.store.ListUser(ctx, userID)
	if err != nil {
		return nil, fmt.Errorf("session: list: %w", err)
	}
	now := m.now()
	out := make([]*Session, 0, len(recs))
	for _, r := range recs {
		if r.Expired(now) || m.revoked.has(r.ID, now) {
			continue
		}
		out = append(out, newSession(r))
	}
	return out, nil
}

// Sweep deletes expired sessions and forgotten revocations from the store
// now, and returns how many sessions went.
func (m *Manager) Sweep(ctx context.Context) (int, error) {
	now := m.now()
	m.revoked.prune(now)
	if m.cache != nil {
		m.cache.prune(now)
	}
	n, err := m.store.DeleteExpired(ctx, now)
	if err != nil {
		return n, fmt.Errorf("session: sweep: %w", err)
	}
	return n, nil
}

// RunSweeper calls Sweep every interval until ctx is done. Errors are
// passed to onErr (if not nil) and the loop goes on.
func (m *Manager) RunSweeper(ctx context.Context, every time.Duration, onErr func(error)) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := m.Sweep(ctx); err != nil && onErr != nil {
				onErr(err)
			}
		}
	}
}

// FlushVerifyCache forgets every remembered verification, e.g. after a key
// was withdrawn in an emergency.
func (m *Manager) FlushVerifyCache() {
	if m.cache != nil {
		m.cache.flush()
	}
}

// Revoked reports whether this node knows the session as revoked.
func (m *Manager) Revoked(id string) bool { return m.revoked.has(id, m.now()) }

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// RevokedCount is how many revoked sessions this node keeps in memory.
func (m *Manager) RevokedCount() int { return m.revoked.len() }
