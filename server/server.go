// Package server is the HTTP API of sessiond: a thin adapter over the
// session Manager, the built-in accounts and httpauth. Every session, token
// and CSRF rule lives in those packages; this one decodes, routes and encodes.
//
// Besides the bearer API under /v1 it serves cookie mode (X-Session-Mode:
// cookie) behind http.CrossOriginProtection and httpauth's CSRF check, the
// embedded pages under /ui/, the JWKS, RFC 7662 introspection and RFC 7009
// revocation for clients named in Config, the admin API under /admin/v1 when
// an admin token is set, /metrics, /healthz and /readyz, with security
// headers on every answer. OpenBackend opens a store URL (bolt, memory,
// Redis, Redis Cluster, PostgreSQL), LoadMasterKey finds the master key, and
// Run serves over HTTP or HTTPS until its context ends.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/token"
)

// Config configures a Server. The zero value of each field means its
// default; Backend is required.
type Config struct {
	// Backend keeps sessions, accounts and keys (see OpenBackend).
	Backend Backend
	// Kind is the kind of Backend (decides the signup default).
	Kind StoreKind
	// MasterKey (32 bytes) seals the key ring and derives the other secrets.
	MasterKey []byte
	// Issuer of access tokens. Default "sessiond".
	Issuer string
	// Audience of access tokens. Default "sessiond".
	Audience string
	// Policy holds session lifetimes; zero fields take their defaults.
	Policy session.Policy
	// SigningAlg of new keys. Default EdDSA.
	SigningAlg token.Algorithm
	// KeyRotation is how old the active signing key may grow before it is
	// replaced. Default 30 days.
	KeyRotation time.Duration
	// KeyReload is how often the shared key ring is re-read to pick up
	// rotations made by other nodes. Default 10 s. A token naming an unknown
	// key also triggers a reload (at most once a second).
	KeyReload time.Duration
	// AllowSignup enables POST /v1/signup. Nil: on for the embedded and
	// memory stores, off otherwise.
	AllowSignup *bool
	// TrustedProxies are the peers whose X-Forwarded-For is believed.
	TrustedProxies []netip.Prefix
	// Clients may call /v1/introspect and /v1/revoke (HTTP Basic client
	// credentials); none: those endpoints refuse every caller.
	Clients Clients
	// AdminToken (at least 32 characters) opens /admin/v1; empty: the admin
	// API does not exist.
	AdminToken string
	// TrustedOrigins are origins ("https://app.example.com") whose
	// cross-origin unsafe requests are let through the cross-origin
	// protection. Default none: only same-origin browser requests.
	TrustedOrigins []string
	// Logger for operational and audit logs. Default slog.Default().
	Logger *slog.Logger
	// Now is the clock (tests inject one). Default time.Now.
	Now func() time.Time
	// PasswordParams are the argon2id parameters. Default account.DefaultParams.
	PasswordParams account.Params
	// LoginPerIP and LoginPerAccount throttle logins; zero: the httpauth defaults.
	LoginPerIP, LoginPerAccount ratelimit.Limit
	// Limiter keeps the rate-limit state. Default: shared through Redis
	// when the Backend is Redis (so limits hold across nodes), else in this
	// process's memory.
	Limiter ratelimit.Limiter
	// SessionLimit limits authenticated requests per session. Default
	// 600 a minute with a burst of 100.
	SessionLimit ratelimit.Limit
}

// Server is sessiond's HTTP API. Create it with New, serve Handler, and
// Close it when done (it does not close the Backend).
type Server struct {
	cfg      Config
	log      *slog.Logger
	audit    *audit.Logger
	backend  Backend
	keys     *token.KeyRing
	master   []byte
	mgr      *session.Manager
	accounts *account.Service
	auth     *httpauth.Auth
	throttle *httpauth.LoginThrottle
	clientIP httpauth.ClientIP
	signup   bool
	handler  http.Handler
	clients  Clients
	// adminHash is SHA-256 of the admin token, nil when the API is off.
	adminHash []byte
	csrf      *httpauth.CSRF
	cop       *http.CrossOriginProtection
	metrics   *metrics

	stop context.CancelFunc
	done chan struct{}
}

// New builds a Server: it loads (or creates) the shared key ring, starts the
// session Manager and its sweeper.
func New(ctx context.Context, cfg Config) (*Server, error) {
	if cfg.Backend == nil {
		return nil, errors.New("server: no backend")
	}
	if len(cfg.MasterKey) != 32 {
		return nil, errors.New("server: master key must be 32 bytes")
	}
	if cfg.Issuer == "" {
		cfg.Issuer = "sessiond"
	}
	if cfg.Audience == "" {
		cfg.Audience = "sessiond"
	}
	if cfg.SigningAlg == "" {
		cfg.SigningAlg = token.EdDSA
	}
	if cfg.KeyReload == 0 {
		cfg.KeyReload = 10 * time.Second
	}
	if cfg.KeyRotation == 0 {
		cfg.KeyRotation = 30 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.PasswordParams == (account.Params{}) {
		cfg.PasswordParams = account.DefaultParams
	}
	if cfg.SessionLimit.Rate == 0 {
		cfg.SessionLimit = ratelimit.Limit{Rate: 600, Period: time.Minute, Burst: 100}
	}
	if cfg.AdminToken != "" && len(cfg.AdminToken) < MinAdminTokenLen {
		return nil, fmt.Errorf("server: the admin token must be at least %d characters", MinAdminTokenLen)
	}
	switch cfg.SigningAlg {
	case token.EdDSA, token.ES256, token.RS256:
	default:
		return nil, fmt.Errorf("server: signing algorithm %q: want EdDSA, ES256 or RS256 (HS256 is for library mode only)", cfg.SigningAlg)
	}
	s := &Server{cfg: cfg, log: cfg.Logger, master: cfg.MasterKey, done: make(chan struct{}), metrics: newMetrics()}
	s.backend = instrumented{Backend: cfg.Backend, m: s.metrics}
	s.audit = audit.New(cfg.Logger, deriveKey(cfg.MasterKey, "audit-hash"), audit.WithObserver(s.metrics.observeEvent))
	keys, err := token.LoadOrCreateKeyRing(ctx, s.backend, deriveKey(cfg.MasterKey, "keyring"), cfg.SigningAlg, cfg.Now())
	if err != nil {
		return nil, fmt.Errorf("server: key ring: %w", err)
	}
	s.keys = keys
	mgr, err := session.New(ctx, session.Config{
		Store:      s.backend,
		Keys:       keys,
		Issuer:     cfg.Issuer,
		Audience:   cfg.Audience,
		RefreshKey: deriveKey(cfg.MasterKey, "refresh"),
		Policy:     cfg.Policy,
		Audit:      s.audit,
		Now:        cfg.Now,
		FeedLag:    func(d time.Duration) { s.metrics.feedLag.Observe(d.Seconds()) },
		ReloadKeys: s.reloadKeys,
	})
	if err != nil {
		return nil, err
	}
	s.mgr = mgr
	s.metrics.registerGauges(s, cfg.Backend)
	s.accounts = &account.Service{Store: s.backend, Params: cfg.PasswordParams, Now: cfg.Now}
	limiter := cfg.Limiter
	if limiter == nil {
		limiter = SharedLimiter(cfg.Backend)
	}
	if limiter == nil {
		limiter = ratelimit.NewMemory(cfg.Now)
	}
	s.auth = &httpauth.Auth{Manager: mgr, Limiter: limiter, SessionLimit: cfg.SessionLimit, Audit: s.audit, Logger: cfg.Logger}
	s.throttle = &httpauth.LoginThrottle{Limiter: limiter, PerIP: cfg.LoginPerIP, PerAccount: cfg.LoginPerAccount}
	s.clientIP = httpauth.ClientIP{Trusted: cfg.TrustedProxies}
	if cfg.AllowSignup != nil {
		s.signup = *cfg.AllowSignup
	} else {
		s.signup = cfg.Kind == KindBolt || cfg.Kind == KindMemory
	}
	if err := s.initBrowser(cfg); err != nil {
		mgr.Close()
		return nil, err
	}
	s.clients = cfg.Clients
	if cfg.AdminToken != "" {
		h := sha256.Sum256([]byte(cfg.AdminToken))
		s.adminHash = h[:]
	}
	s.handler = s.routes()

	bg, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	go s.background(bg)
	return s, nil
}

// Manager returns the session Manager behind the server.
func (s *Server) Manager() *session.Manager { return s.mgr }

// Accounts returns the account service behind the server.
func (s *Server) Accounts() *account.Service { return s.accounts }

// Keys returns the key ring.
func (s *Server) Keys() *token.KeyRing { return s.keys }

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return s.handler }

// Close stops background work (sweeper, key reload) and the Manager.
func (s *Server) Close() error {
	s.stop()
	<-s.done
	return s.mgr.Close()
}

// background sweeps expired sessions, picks up key rotations made by other
// nodes, and rotates the signing key on schedule.
func (s *Server) background(ctx context.Context) {
	defer close(s.done)
	sweep := time.NewTicker(5 * time.Minute)
	keys := time.NewTicker(s.cfg.KeyReload)
	defer sweep.Stop()
	defer keys.Stop()
	s.maybeRotate(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-sweep.C:
			if n, err := s.mgr.Sweep(ctx); err != nil {
				s.log.Error("sweep failed", "err", err)
			} else if n > 0 {
				s.log.Info("swept expired sessions", "count", n)
			}
		case <-keys.C:
			if err := s.reloadKeys(ctx); err != nil {
				s.log.Error("key ring reload failed", "err", err)
			}
			s.maybeRotate(ctx)
		}
	}
}

// reloadKeys picks up key rotations other nodes saved in the store.
func (s *Server) reloadKeys(ctx context.Context) error {
	return token.ReloadShared(ctx, s.backend, s.keys, deriveKey(s.master, "keyring"))
}

// maybeRotate rotates the signing key when the active one is older than
// KeyRotation.
func (s *Server) maybeRotate(ctx context.Context) {
	now := s.cfg.Now()
	for _, k := range s.keys.Keys() {
		if k.Active && now.Sub(k.CreatedAt) >= s.cfg.KeyRotation {
			if err := s.RotateKeys(ctx); err != nil {
				s.log.Error("scheduled key rotation failed", "err", err)
			}
			return
		}
	}
}

// RotateKeys makes a new signing key active on every node sharing the
// store; tokens signed by the old key stay valid until they expire.
func (s *Server) RotateKeys(ctx context.Context) error {
	now := s.cfg.Now()
	err := token.RotateShared(ctx, s.backend, s.keys, deriveKey(s.master, "keyring"), s.cfg.SigningAlg, now, session.MaxAccessTTL+session.MaxLeeway)
	if err != nil {
		return err
	}
	s.keys.Prune(now)
	s.audit.Log(ctx, audit.Event{Kind: audit.KeyRotated})
	return nil
}

// RunConfig is how Run listens.
type RunConfig struct {
	// Addr to listen on. Default 127.0.0.1:8080; port 0 picks a free one.
	Addr string
	// Ready, if set, is called with the address once the server listens.
	Ready func(addr net.Addr)
	// ShutdownTimeout bounds the graceful shutdown. Default 10 s.
	ShutdownTimeout time.Duration
	// TLSConfig, when set, serves HTTPS with it (see LoadTLS and DevTLS);
	// responses then carry Strict-Transport-Security.
	TLSConfig *tls.Config
}

// Run serves s on rc.Addr until ctx is done, then shuts down gracefully:
// new connections are refused and requests in flight may finish.
func Run(ctx context.Context, s *Server, rc RunConfig) error {
	if rc.Addr == "" {
		rc.Addr = "127.0.0.1:8080"
	}
	if rc.ShutdownTimeout == 0 {
		rc.ShutdownTimeout = 10 * time.Second
	}
	ln, err := net.Listen("tcp", rc.Addr)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	if rc.Ready != nil {
		rc.Ready(ln.Addr())
	}
	errc := make(chan error, 1)
	if rc.TLSConfig != nil {
		hs.TLSConfig = rc.TLSConfig
		go func() { errc <- hs.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- hs.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), rc.ShutdownTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
