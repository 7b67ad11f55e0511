// Package server is the HTTP API of sessiond: a thin adapter over the
// session Manager, the built-in accounts and httpauth. Every session, token
// and CSRF rule lives in those packages; this one decodes, routes and encodes.
//
// Besides the bearer API under /v1 it serves cookie mode (X-Session-Mode:
// cookie) behind http.CrossOriginProtection and httpauth's CSRF check, the
// embedded pages under /ui/, the JWKS, RFC 7662 introspection and RFC 7009
// revocation for clients named in Config, the admin API under /admin/v1 when
// an admin token is set, RFC 8414 metadata when the issuer is an https URL,
// its own OpenAPI 3.1 description (openapi.json) at /openapi.json, /metrics,
// /healthz and /readyz, with security headers on every answer. It is HTTP
// only: the node beneath it (package node) opens the store, holds the keys
// and runs the background work. Run serves over HTTP or HTTPS until its
// context ends.
package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/session"
)

// Config configures the HTTP side of a Server; the node beneath it holds
// everything else. The zero value of each field means its default.
type Config struct {
	// AllowSignup enables POST /v1/signup. Nil: on for a store of one
	// process (bolt, memory), off for a shared one.
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
	// CORSOrigins are the origins ("https://app.example.com",
	// "http://localhost:5173") whose pages may call the browser routes of
	// the API and read the JWKS with CORS, credentials included: each gets
	// itself back in Access-Control-Allow-Origin, any other origin no CORS
	// header at all. Each is scheme://host[:port], http or https, nothing
	// else (no path, wildcard or "null"); compared in canonical form. A
	// listed origin also passes the cross-origin protection, as a trusted
	// origin does; a request it makes with the access cookie still needs the
	// CSRF token. Default none.
	CORSOrigins []string
	// ReturnToOrigins are the origins ("https://app.example.com") an
	// absolute return_to may send a browser to, after the login page or
	// the in-band refresh of forward-auth; a return_to that is a path
	// ("/orders?page=2") stays on the browser's origin and needs none.
	// Scheme, host and port must match exactly. Default none: paths only.
	ReturnToOrigins []string
	// LoginPerIP limits the login and signup attempts of one client
	// address; zero: httpauth.DefaultLoginPerIP.
	LoginPerIP ratelimit.Limit
	// LoginFailures are the back-offs of failed logins (see
	// httpauth.LoginThrottle); a zero field means its httpauth default.
	LoginFailures LoginFailures
	// CredentialFailures limits the wrong admin tokens and client
	// credentials one client address may present; past it the address gets
	// 429 for a while, right credentials included. Zero:
	// DefaultCredentialFailures.
	CredentialFailures ratelimit.Limit
	// SessionLimit limits authenticated requests per session. Default
	// 600 a minute with a burst of 100.
	SessionLimit ratelimit.Limit
	// ReauthMaxAge is how long ago a session's user may have last proved
	// who they are (the access token's auth_time) for the sensitive routes:
	// ending other sessions, logging out everywhere, changing the password,
	// deleting the account.
	// Older, they answer 403 insufficient_user_authentication until the
	// session re-authenticates (POST /v1/reauth). Default
	// DefaultReauthMaxAge (15 minutes); at least httpauth.MinRecentAuthAge
	// (one second: auth_time has whole seconds). There is no "off": a
	// limit as long as the session lifetime asks only at login.
	ReauthMaxAge time.Duration
	// PublicURL is the URL browsers reach this server at
	// ("https://auth.example.com"), the base of the links in its mails
	// (see PublicBase). Empty: the issuer, when it is an http(s) URL.
	PublicURL string
	// MailFrom is the From of the server's mails ("sessiond
	// <no-reply@example.com>"); required when the node has a Mailer.
	MailFrom string
	// ResetRequestsPerIP and ResetRequestsPerEmail limit POST
	// /v1/password/forgot per client address and per email,
	// ResetUsesPerIP POST /v1/password/reset per client address. Zero:
	// DefaultResetRequestsPerIP, DefaultResetRequestsPerEmail,
	// DefaultResetUsesPerIP.
	ResetRequestsPerIP, ResetRequestsPerEmail, ResetUsesPerIP ratelimit.Limit
	// Logger for request logs. Default: the node's.
	Logger *slog.Logger
}

// Server is sessiond's HTTP API over a node. Create it with New and serve
// Handler (or Run); it starts no goroutine of its own. The node's
// background work is its owner's to Run, and its Close is its owner's too.
type Server struct {
	cfg      Config
	node     *node.Node
	log      *slog.Logger
	audit    *audit.Logger
	mgr      *session.Manager
	accounts *account.Service
	auth     *httpauth.Auth
	throttle *httpauth.LoginThrottle
	creds    *credThrottle
	clientIP httpauth.ClientIP
	signup   bool
	handler  http.Handler
	// patterns are the route patterns handler serves, in registration order.
	patterns []string
	clients  Clients
	// adminHash is SHA-256 of the admin token, nil when the API is off.
	adminHash []byte
	csrf      *httpauth.CSRF
	cop       *http.CrossOriginProtection
	// returnTo are the origins a return_to may name (ReturnToOrigins).
	returnTo returnOrigins
	// claimHeaders are the configured claims forward-auth passes on.
	claimHeaders []claimHeader
	metrics      *metrics
	now          func() time.Time
	// readiness is the last state /readyz found ("" ready, else why
	// not), so each change is logged once.
	readiness struct {
		sync.Mutex
		reason string
	}
	// reset holds the limits of the password-reset routes; resetBase is
	// the base URL of reset links ("" without a mailer).
	reset     resetLimits
	resetBase string
	// corsPolicy is what Config.CORSOrigins opens to other origins.
	corsPolicy *corsPolicy
	// asMetadata is the RFC 8414 metadata, encoded; nil, with
	// asMetadataErr saying why, when the issuer is not an https URL.
	asMetadata    []byte
	asMetadataErr error
}

// Validate reports whether New would accept cfg (a short admin token, an
// invalid trusted, CORS or return-to origin are refused), with an error wrapping
// node.ErrConfig; it needs no node, so a command line can judge its flags
// before it opens anything.
func (cfg Config) Validate() error {
	if cfg.AdminToken != "" && len(cfg.AdminToken) < MinAdminTokenLen {
		return fmt.Errorf("%w: the admin token must be at least %d characters", node.ErrConfig, MinAdminTokenLen)
	}
	if err := cfg.LoginFailures.validate(); err != nil {
		return fmt.Errorf("%w: %w", node.ErrConfig, err)
	}
	if cfg.ReauthMaxAge != 0 && cfg.ReauthMaxAge < httpauth.MinRecentAuthAge {
		return fmt.Errorf("%w: the re-authentication max age %v must be at least %v", node.ErrConfig, cfg.ReauthMaxAge, httpauth.MinRecentAuthAge)
	}
	if cfg.CredentialFailures.Rate != 0 {
		if err := cfg.CredentialFailures.Validate(); err != nil {
			return fmt.Errorf("%w: credential failures limit: %w", node.ErrConfig, err)
		}
	}
	if cfg.AdminToken != "" {
		if err := checkSecretEntropy(cfg.AdminToken); err != nil {
			return fmt.Errorf("%w: the admin token is %w", node.ErrConfig, err)
		}
	}
	cop := http.NewCrossOriginProtection()
	for _, o := range cfg.TrustedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return fmt.Errorf("%w: trusted origin: %w", node.ErrConfig, err)
		}
	}
	if _, err := newCORSPolicy(cfg.CORSOrigins); err != nil {
		return fmt.Errorf("%w: %w", node.ErrConfig, err)
	}
	if _, err := parseReturnOrigins(cfg.ReturnToOrigins); err != nil {
		return err
	}
	return cfg.validateReset()
}

// New builds the HTTP API of n. It fails (with an error wrapping
// node.ErrConfig) on a configuration it cannot serve, such as a short
// admin token or an invalid trusted or CORS origin.
func New(n *node.Node, cfg Config) (*Server, error) {
	if n == nil {
		return nil, fmt.Errorf("%w: server: no node", node.ErrConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = n.Logger()
	}
	if cfg.SessionLimit.Rate == 0 {
		cfg.SessionLimit = ratelimit.Limit{Rate: 600, Period: time.Minute, Burst: 100}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.ReauthMaxAge == 0 {
		cfg.ReauthMaxAge = DefaultReauthMaxAge
	}
	s := &Server{
		cfg: cfg, node: n, log: cfg.Logger, audit: n.Audit(), mgr: n.Manager(), accounts: n.Accounts(),
		clients: cfg.Clients, now: n.Now,
	}
	m, err := newMetrics(n.Registry())
	if err != nil {
		return nil, err
	}
	s.metrics = m
	if s.returnTo, err = parseReturnOrigins(cfg.ReturnToOrigins); err != nil {
		return nil, err
	}
	s.claimHeaders = claimHeaders(n.Config().Claims, cfg.Logger)
	limiter := n.Limiter()
	s.auth = &httpauth.Auth{Manager: s.mgr, Limiter: limiter, SessionLimit: cfg.SessionLimit, Audit: s.audit, Logger: cfg.Logger}
	s.throttle = &httpauth.LoginThrottle{Limiter: limiter, PerIP: cfg.LoginPerIP,
		PerClient: cfg.LoginFailures.PerClient, PerAccount: cfg.LoginFailures.PerAccount, PerDevice: cfg.LoginFailures.PerDevice,
		Devices: &httpauth.DeviceCookies{Key: n.DeriveKey(httpauth.DeviceCookiePurpose), Now: n.Now}}
	credLimit := cfg.CredentialFailures
	if credLimit.Rate == 0 {
		credLimit = DefaultCredentialFailures
	}
	s.creds = &credThrottle{limiter: limiter, limit: credLimit, now: n.Now, blocked: map[string]time.Time{}}
	s.clientIP = httpauth.ClientIP{Trusted: cfg.TrustedProxies}
	if cfg.AllowSignup != nil {
		s.signup = *cfg.AllowSignup
	} else {
		s.signup = !n.Driver().Shared
	}
	if err := s.initBrowser(cfg); err != nil {
		return nil, err
	}
	if err := s.initReset(cfg); err != nil {
		return nil, err
	}
	if cfg.AdminToken != "" {
		h := sha256.Sum256([]byte(cfg.AdminToken))
		s.adminHash = h[:]
	}
	s.asMetadata, s.asMetadataErr = newAuthServerMetadata(n.Config().Issuer)
	s.handler = s.routes()
	return s, nil
}

// Node returns the node the server serves.
func (s *Server) Node() *node.Node { return s.node }

// Handler returns the HTTP handler of the whole API.
func (s *Server) Handler() http.Handler { return s.handler }

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
	// HSTS is the Strict-Transport-Security value of answers over TLS;
	// empty means HSTS (two years, subdomains). DevHSTS is for --dev-tls.
	HSTS string
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
		BaseContext:       withHSTS(rc.HSTS),
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
