// Package node is what a running sessiond node is, apart from HTTP: from
// one Config it opens the backend named by a store URL (see Drivers), the
// master key, the shared key ring (reloaded and rotated on schedule), the
// session Manager, the built-in accounts, the rate limiter, the sweeper and
// the revocation feed, with Prometheus metrics of all of it.
//
// Building a node starts nothing: Open only opens, so a one-shot command
// that reads or edits the store (sessiond users, sessions, keys, gc) never
// rotates a key, sweeps, or listens to a feed. Background work starts in
// Run and stops when its context ends. Package server serves a node over
// HTTP; a Go program on a shared store embeds a node to get the same key
// rotation and reload as sessiond itself.
package node

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/mail"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// ErrConfig is wrapped by every error that says the configuration is wrong
// (a bad store URL, an unknown algorithm, a lifetime out of bounds), as
// opposed to a failure of the store or the machine. Open returns it before
// it opens or creates anything.
var ErrConfig = errors.New("invalid configuration")

// Defaults of Config.
const (
	DefaultKeyRotation = 30 * 24 * time.Hour
	DefaultKeyReload   = 10 * time.Second
	DefaultJWKSMaxAge  = 5 * time.Minute
	DefaultSweepEvery  = 5 * time.Minute
	// DefaultStoreTimeout bounds every store call: well under the HTTP
	// server's 30 s read and write timeouts, long enough for a healthy
	// store's slowest call (a listing, a sweep batch) many times over.
	DefaultStoreTimeout = 2 * time.Second
	// DefaultSigningAlg is the algorithm of the first key of a new key
	// ring: ES256, which every popular JWT verifier checks (npm
	// jsonwebtoken, ASP.NET Core's JwtBearer and auth0's java-jwt cannot
	// check EdDSA). A ring that exists keeps its algorithm (see
	// Config.SigningAlg).
	DefaultSigningAlg = token.ES256
	DefaultIssuer     = "sessiond"
	DefaultAudience   = "sessiond"
)

// Config configures a node. The zero value of each field means its
// default, so Config{} is a node on ./sessiond-data.
type Config struct {
	// Store is the store URL (see OpenBackend). Default DefaultStore.
	Store string
	// Backend, if set, is used instead of opening Store (library users and
	// tests with a store of their own). The node does not close it.
	Backend Backend
	// Shared says whether Backend is shared with other nodes (decides the
	// signup default and that a master key must be given). Only with
	// Backend: a Store URL's driver says it itself.
	Shared bool
	// AutoMigrate applies pending PostgreSQL migrations at Open.
	AutoMigrate bool
	// MasterKey (32 random bytes) seals the key ring and derives every
	// other secret (see DeriveKey); the same on every node. One that is
	// obviously not random (token.CheckSecret: all zero, one byte
	// repeated) is refused, as anyone could derive its keys. Nil: a store with a
	// data directory keeps a generated one there, the memory store makes
	// one for the life of the process, a shared store refuses to open.
	MasterKey []byte
	// Issuer and Audience of access tokens. Default "sessiond" each.
	Issuer, Audience string
	// Policy holds session lifetimes and limits; zero fields take their
	// defaults.
	Policy session.Policy
	// Claims names the application claims tokens may carry (role,
	// tenant, ...): minted by service clients, or a built-in account's.
	// Each must pass token.CheckClaimName; their size is capped by
	// Policy.MaxClaimsBytes.
	Claims []string
	// LoginClientID is the client_id of the tokens of sessiond's own
	// logins. Default session.DefaultClientID ("sessiond").
	LoginClientID string
	// SigningAlg of new keys: EdDSA, ES256 or RS256. Empty: a new ring's
	// first key is DefaultSigningAlg (ES256), and every rotation keeps the
	// algorithm of the ring's newest key, so a ring made before the default
	// changed goes on as it was. Set, it is the algorithm of a new ring and
	// of every later rotation on this node, scheduled or not, which is how
	// an existing ring moves to another algorithm (the key that signs now
	// keeps signing until its successor activates, and verifies until it
	// retires).
	SigningAlg token.Algorithm
	// KeyRotation is how old the signing key may grow before a successor
	// replaces it. Default 30 days; at least an hour.
	KeyRotation time.Duration
	// KeyReload is how often the shared key ring is re-read for other
	// nodes' rotations. Default 10 s, or less to keep within the JWKS
	// pre-publication margin (a tenth of JWKSMaxAge, at least a second),
	// which it may not exceed: every node must serve a published key
	// before a copy of its JWKS cached without it could still be in use
	// when the key signs. A token naming an unknown key also reloads it,
	// at most once a second.
	KeyReload time.Duration
	// JWKSMaxAge is how long clients may cache the JWKS (its Cache-Control
	// max-age). A new key is published in the JWKS for this long plus a
	// margin (see PublishAhead) before it signs, so a client that cached
	// the JWKS never meets a token signed by a key it has not seen.
	// Default 5 min.
	JWKSMaxAge time.Duration
	// SweepEvery is how often Run deletes expired sessions. Default 5 min.
	SweepEvery time.Duration
	// StoreTimeout is the deadline of every store call (a caller's shorter
	// deadline is kept): a call that has not answered by then returns an
	// error wrapping session.ErrStore and context.DeadlineExceeded, which
	// the server answers with 503 and Retry-After. The drivers also set
	// it as the store's own limit (PostgreSQL statement_timeout and
	// lock_timeout, Redis read and write timeouts) so a stalled server
	// cannot hold a connection past it. A sweep (DeleteExpired) may take
	// up to SweepEvery. Default 2 s.
	StoreTimeout time.Duration
	// PasswordParams are the argon2id parameters of new password hashes.
	// Default account.DefaultParams.
	PasswordParams account.Params
	// ResetTTL is how long a password-reset token works. Default
	// account.DefaultResetTTL (30 min); between account.MinResetTTL and
	// account.MaxResetTTL.
	ResetTTL time.Duration
	// Mailer sends the node's mails (password reset), through an Outbox
	// that Run runs. Nil: no mail is sent (Outbox is nil).
	Mailer mail.Mailer
	// MailQueue is how many mails may wait in the Outbox. Default
	// mail.DefaultOutboxSize.
	MailQueue int
	// Limiter keeps rate-limit state. Default: in the backend when its
	// driver can share it across nodes (Redis), else in this process.
	Limiter ratelimit.Limiter
	// Logger receives operational and audit logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests inject one). Default time.Now.
	Now func() time.Time
}

// Node is one sessiond node. Its accessors are safe for concurrent use.
type Node struct {
	cfg      Config
	driver   Driver
	owned    Backend // closed by Close; nil when Config.Backend was given
	backend  Backend // instrumented
	master   []byte
	keys     *token.KeyRing
	mgr      *session.Manager
	accounts *account.Service
	limiter  ratelimit.Limiter
	outbox   *mail.Outbox // nil without a Mailer
	audit    *audit.Logger
	metrics  *metrics
	running  chan struct{}
}

// Validate reports whether Open would accept c as configuration, opening
// nothing: the error wraps ErrConfig. The store URL is judged by its
// driver's syntax check; whether the store answers is Open's to find.
func (c Config) Validate() error {
	if err := c.check(); err != nil {
		return err
	}
	if c.Backend != nil {
		return nil
	}
	d, err := LookupStore(c.Store)
	if err != nil {
		return err
	}
	if c.MasterKey == nil && d.Shared {
		return errNeedMasterKey
	}
	return nil
}

var errNeedMasterKey = fmt.Errorf("%w: a master key is required with a shared store (set SESSIOND_MASTER_KEY, the same on every node)", ErrConfig)

// check fills c's defaults and refuses what is out of bounds, before
// anything is opened.
func (c *Config) check() error {
	if c.Store == "" {
		c.Store = DefaultStore
	}
	if c.Issuer == "" {
		c.Issuer = DefaultIssuer
	}
	if c.Audience == "" {
		c.Audience = DefaultAudience
	}
	if c.KeyRotation == 0 {
		c.KeyRotation = DefaultKeyRotation
	}
	if c.JWKSMaxAge == 0 {
		c.JWKSMaxAge = DefaultJWKSMaxAge
	}
	if c.KeyReload == 0 {
		c.KeyReload = min(DefaultKeyReload, c.PublishAhead()-c.JWKSMaxAge)
	}
	if c.SweepEvery == 0 {
		c.SweepEvery = DefaultSweepEvery
	}
	if c.StoreTimeout == 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.PasswordParams == (account.Params{}) {
		c.PasswordParams = account.DefaultParams
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	switch c.SigningAlg {
	case "", token.EdDSA, token.ES256, token.RS256:
	default:
		return fmt.Errorf("%w: signing algorithm %q: want EdDSA, ES256 or RS256 (HS256 is for library mode only)", ErrConfig, c.SigningAlg)
	}
	switch {
	case c.MasterKey != nil && len(c.MasterKey) != 32:
		return fmt.Errorf("%w: the master key must be 32 bytes", ErrConfig)
	case c.MasterKey != nil && token.CheckSecret(c.MasterKey) != nil:
		return fmt.Errorf("%w: master key: %w", ErrConfig, token.CheckSecret(c.MasterKey))
	case c.KeyReload < 0 || c.SweepEvery < 0:
		return fmt.Errorf("%w: key reload and sweep intervals must be positive", ErrConfig)
	case c.StoreTimeout < time.Millisecond || c.StoreTimeout > 25*time.Second:
		return fmt.Errorf("%w: store timeout %v must be between 1ms and 25s (under the HTTP timeouts of 30s)", ErrConfig, c.StoreTimeout)
	case c.JWKSMaxAge < 0 || c.JWKSMaxAge > 24*time.Hour:
		return fmt.Errorf("%w: JWKS max-age %v must be between 0 and 24h", ErrConfig, c.JWKSMaxAge)
	case c.KeyRotation < time.Hour:
		return fmt.Errorf("%w: key rotation %v is under an hour", ErrConfig, c.KeyRotation)
	case c.KeyReload > c.PublishAhead()-c.JWKSMaxAge:
		// A node must learn of a published key before a client that read
		// its JWKS just before then could still be caching that copy when
		// the key starts to sign.
		return fmt.Errorf("%w: key reload %v must be at most the JWKS pre-publication margin %v (a tenth of the JWKS max-age %v, at least 1s)", ErrConfig, c.KeyReload, c.PublishAhead()-c.JWKSMaxAge, c.JWKSMaxAge)
	case c.KeyRotation <= c.PublishAhead():
		return fmt.Errorf("%w: key rotation %v must be longer than the JWKS pre-publication (%v)", ErrConfig, c.KeyRotation, c.PublishAhead())
	}
	if err := c.Policy.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if err := account.CheckResetTTL(c.ResetTTL); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.MailQueue < 0 {
		return fmt.Errorf("%w: mail queue %d must not be negative", ErrConfig, c.MailQueue)
	}
	if err := session.CheckClaimNames(c.Claims); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	if c.LoginClientID != "" {
		if err := session.CheckClientID(c.LoginClientID); err != nil {
			return fmt.Errorf("%w: login client id: %w", ErrConfig, err)
		}
	}
	return nil
}

// PublishAhead is how long before it signs a new key is in the JWKS: the
// JWKS cache lifetime plus a margin of a tenth of it, at least a second,
// for clients whose clocks or fetches lag.
func (c Config) PublishAhead() time.Duration {
	maxAge := c.JWKSMaxAge
	if maxAge == 0 {
		maxAge = DefaultJWKSMaxAge
	}
	return maxAge + max(time.Second, maxAge/10)
}

// Open builds a node from cfg: it checks cfg (an error wrapping ErrConfig,
// with nothing opened or created), opens the backend, finds the master key,
// loads (or creates) the shared key ring, and builds the Manager, the
// accounts and the limiter. It starts no background work; see Run.
func Open(ctx context.Context, cfg Config) (*Node, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	n := &Node{running: make(chan struct{})}
	b := cfg.Backend
	if b != nil {
		n.driver = Driver{Name: "custom", Shared: cfg.Shared}
	} else {
		d, err := LookupStore(cfg.Store)
		if err != nil {
			return nil, err
		}
		n.driver = d
	}
	if cfg.MasterKey == nil && n.driver.Shared {
		return nil, errNeedMasterKey
	}
	if b == nil {
		var err error
		if b, err = n.driver.Open(ctx, cfg.Store, OpenOptions{AutoMigrate: cfg.AutoMigrate, StoreTimeout: cfg.StoreTimeout, Logger: cfg.Logger}); err != nil {
			return nil, redactErr(err, cfg.Store)
		}
		n.owned = b
		if n.driver.Warnings != nil {
			for _, w := range n.driver.Warnings(ctx, b) {
				cfg.Logger.Warn("store durability", "risk", w)
			}
		}
	}
	if err := n.build(ctx, cfg, b); err != nil {
		if n.owned != nil {
			n.owned.Close()
		}
		return nil, err
	}
	return n, nil
}

func (n *Node) build(ctx context.Context, cfg Config, b Backend) error {
	master := cfg.MasterKey
	if master == nil {
		var err error
		if master, err = masterKey(n.driver, cfg.Store, cfg.Logger); err != nil {
			return err
		}
	}
	n.cfg, n.master = cfg, master
	n.metrics = newMetrics()
	n.backend = newInstrumented(b, n.metrics, cfg.StoreTimeout, max(cfg.StoreTimeout, cfg.SweepEvery))
	n.audit = audit.New(cfg.Logger, DeriveKey(master, "audit-hash"), audit.WithObserver(n.metrics.observeEvent))
	keys, err := token.LoadOrCreateKeyRing(ctx, n.backend, DeriveKey(master, "keyring"), cmp.Or(cfg.SigningAlg, DefaultSigningAlg), cfg.Now())
	if err != nil {
		return fmt.Errorf("key ring: %w", err)
	}
	n.keys = keys
	n.mgr, err = session.New(ctx, session.Config{
		Store:      n.backend,
		Keys:       keys,
		Issuer:     cfg.Issuer,
		Audience:   cfg.Audience,
		RefreshKey: DeriveKey(master, "refresh"),
		Policy:     cfg.Policy,
		Claims:     cfg.Claims,
		ClientID:   cfg.LoginClientID,
		Audit:      n.audit,
		Now:        cfg.Now,
		FeedLag:    func(d time.Duration) { n.metrics.feedLag.Observe(d.Seconds()) },
		ReloadKeys: n.ReloadKeys,
		Passive:    true, // Run listens
	})
	if err != nil {
		return err
	}
	n.metrics.registerGauges(n)
	n.accounts = &account.Service{Store: n.backend, Params: cfg.PasswordParams, Now: cfg.Now, ResetTTL: cfg.ResetTTL}
	if cfg.Mailer != nil {
		n.outbox = mail.NewOutbox(cfg.Mailer, cfg.MailQueue, cfg.Logger)
	}
	n.limiter = cfg.Limiter
	if n.limiter == nil {
		if l := sharedLimiter(b); l != nil {
			n.limiter = withDeadline(l, cfg.StoreTimeout)
		}
	}
	if n.limiter == nil {
		n.limiter = ratelimit.NewMemory(cfg.Now)
	}
	return nil
}

// Manager is the node's session Manager.
func (n *Node) Manager() *session.Manager { return n.mgr }

// Accounts is the node's built-in password accounts.
func (n *Node) Accounts() *account.Service { return n.accounts }

// Outbox sends the node's mails in the background while Run runs; nil
// when Config.Mailer is nil.
func (n *Node) Outbox() *mail.Outbox { return n.outbox }

// Keys is the node's view of the shared key ring.
func (n *Node) Keys() *token.KeyRing { return n.keys }

// Limiter keeps the node's rate-limit state (shared across nodes when the
// backend can hold it). The built-in ones (memory, Redis) also count
// failures: they are ratelimit.FailureLimiters too.
func (n *Node) Limiter() ratelimit.Limiter { return n.limiter }

// Audit is the node's audit log.
func (n *Node) Audit() *audit.Logger { return n.audit }

// Logger is the node's operational log.
func (n *Node) Logger() *slog.Logger { return n.cfg.Logger }

// Now reads the node's clock.
func (n *Node) Now() time.Time { return n.cfg.Now() }

// Backend is the node's store, instrumented for metrics.
func (n *Node) Backend() Backend { return n.backend }

// Driver says what kind of store the node runs on and what it can do.
func (n *Node) Driver() Driver { return n.driver }

// Config is the node's configuration, defaults filled in (but for an
// empty SigningAlg, which means "keep the ring's", see Config.SigningAlg).
func (n *Node) Config() Config { return n.cfg }

// DeriveKey derives a purpose-bound key from the node's master key (see
// the package function DeriveKey); server derives its CSRF key with it.
func (n *Node) DeriveKey(purpose string) []byte { return DeriveKey(n.master, purpose) }

// Close stops the Manager and closes the store the node opened (a
// Config.Backend stays open). Call it after Run has returned.
func (n *Node) Close() error {
	err := n.mgr.Close()
	if n.owned != nil {
		err = errors.Join(err, n.owned.Close())
	}
	return err
}

// randomKey is 32 random bytes.
func randomKey() []byte {
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (it crashes the program instead)
	return k
}
