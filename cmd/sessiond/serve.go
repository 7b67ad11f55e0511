package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/mail"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/redisstore"
	"github.com/sessiond/sessiond/token"
)

// serveOptions is everything `sessiond serve` is told, by flags and the
// environment: the node's configuration, the server's, and how to listen.
// Flags write into it directly, so a parsed flag cannot miss what it
// configures (TestEveryServeFlagReachesItsSetting holds every flag to it).
type serveOptions struct {
	node   node.Config
	server server.Config
	addr   string

	signingAlg     string
	maxSessions    int
	allowSignup    boolFlag
	trustedProxies string
	trustedOrigins string
	corsOrigins    string
	returnOrigins  string
	loginPerIP     int
	loginFailures  int
	loginBackoff   time.Duration
	sessionRate    int
	clientsFile    string
	claims         string
	smtpURL        string

	warnings []string // said at start, once the logger exists

	tlsCert, tlsKey string
	devTLS          bool
	insecureHTTP    bool

	logFormat, logLevel string
}

const serveUsage = "sessiond serve [flags]"

func serveFlags(fs *flag.FlagSet, o *serveOptions) {
	storeFlag(fs, &o.node.Store)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free one and prints it)")
	fs.DurationVar(&o.node.StoreTimeout, "store-timeout", node.DefaultStoreTimeout, "deadline of every store call; a request whose store call misses it gets 503 with Retry-After")
	fs.BoolVar(&o.node.AutoMigrate, "migrate", false, "apply pending PostgreSQL migrations at start instead of refusing to start")
	fs.StringVar(&o.node.Issuer, "issuer", node.DefaultIssuer, "iss of access tokens")
	fs.StringVar(&o.node.Audience, "audience", node.DefaultAudience, "aud of access tokens")
	fs.DurationVar(&o.node.Policy.AccessTTL, "access-ttl", session.DefaultAccessTTL, "access token lifetime (at most 1h)")
	fs.DurationVar(&o.node.Policy.IdleTimeout, "idle-timeout", session.DefaultIdleTimeout, "session idle timeout")
	fs.DurationVar(&o.node.Policy.AbsoluteTimeout, "absolute-timeout", session.DefaultAbsoluteTimeout, "session absolute lifetime")
	fs.DurationVar(&o.node.Policy.RefreshGrace, "refresh-grace", session.DefaultRefreshGrace, "window in which a rotated refresh token may be replayed (at most 1m)")
	fs.IntVar(&o.maxSessions, "max-sessions-per-user", session.DefaultMaxSessionsPerUser, "cap of live sessions per user; the oldest go first (0: no cap)")
	fs.StringVar(&o.signingAlg, "signing-alg", "", "algorithm of new keys, EdDSA, ES256 or RS256, for a new key ring and every rotation (default: "+string(node.DefaultSigningAlg)+" for a new ring; a rotation keeps the ring's algorithm)")
	fs.DurationVar(&o.node.KeyRotation, "key-rotation", node.DefaultKeyRotation, "replace the signing key when it is this old (its successor is published --jwks-max-age earlier)")
	fs.DurationVar(&o.node.KeyReload, "key-reload", 0, "how often to re-read the shared key ring for other nodes' rotations (default 10s, or a tenth of --jwks-max-age if that is less; never more)")
	fs.DurationVar(&o.node.JWKSMaxAge, "jwks-max-age", node.DefaultJWKSMaxAge, "how long clients may cache /.well-known/jwks.json; a new key is published this long (plus a tenth) before it signs")
	fs.Var(&o.allowSignup, "allow-signup", "accept POST /v1/signup (default: on for bolt and memory stores, off for shared ones)")
	fs.StringVar(&o.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&o.trustedOrigins, "trusted-origins", "", "comma-separated origins (https://app.example.com) allowed to send cross-origin unsafe requests")
	fs.StringVar(&o.corsOrigins, "cors-origins", "", "comma-separated origins (https://app.example.com,http://localhost:5173) whose pages may call the API with CORS, credentials included")
	fs.StringVar(&o.returnOrigins, "return-to-origins", "", "comma-separated origins (https://app.example.com) an absolute return_to may send a browser to after login or forward-auth's refresh (paths need none)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate chain file: serve HTTPS (with --tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.BoolVar(&o.devTLS, "dev-tls", false, "serve HTTPS with a self-signed certificate for localhost made at start (development only)")
	fs.BoolVar(&o.insecureHTTP, "insecure-http", false, "serve plain HTTP on an address other than loopback without --trusted-proxies (passwords, tokens and client secrets then cross the network in clear)")
	fs.IntVar(&o.loginPerIP, "login-rate-ip", 20, "login and signup attempts per minute per client IP (burst: half)")
	fs.IntVar(&o.loginFailures, "login-failures", httpauth.DefaultLoginPerClient.Free, "failed logins of an account from one address (or one device cookie) before each further one doubles the wait, from 1s; the account from all addresses without a device cookie gets four times as many")
	fs.DurationVar(&o.loginBackoff, "login-backoff-max", httpauth.DefaultLoginPerClient.Max, "longest wait after failed logins; one failure is forgotten every this long")
	fs.IntVar(&o.sessionRate, "session-rate", 600, "authenticated requests per minute per session (burst: a sixth)")
	fs.DurationVar(&o.server.ReauthMaxAge, "reauth-max-age", server.DefaultReauthMaxAge, "how old a session's last authentication may be for ending other sessions, logging out everywhere, changing the password and deleting the account; older, the user proves the password again (POST /v1/reauth); at least 1s")
	fs.StringVar(&o.clientsFile, "clients", "", `JSON file of service clients: [{"id", "secret", "permissions": ["introspect", "revoke", "sessions", "claims"]}]`)
	fs.StringVar(&o.claims, "claims", "", "comma-separated application claims tokens may carry (role,tenant,scope)")
	fs.IntVar(&o.node.Policy.MaxClaimsBytes, "claims-max-bytes", session.DefaultMaxClaimsBytes, "cap of a session's application claims, as JSON")
	fs.StringVar(&o.node.LoginClientID, "login-client-id", session.DefaultClientID, "client_id of the tokens of sessiond's own logins")
	fs.StringVar(&o.smtpURL, "smtp-url", "", "SMTP server of password-reset mails: smtp://user:pass@host:587 (STARTTLS) or smtps://...:465; ?starttls=optional for a server on loopback (pass it as SESSIOND_SMTP_URL when it holds a password); none: POST /v1/password/forgot answers 403")
	fs.StringVar(&o.server.MailFrom, "mail-from", "", "From of the server's mails (\"sessiond <no-reply@example.com>\"); required with --smtp-url")
	fs.StringVar(&o.server.PublicURL, "public-url", "", "URL browsers reach this server at (https://auth.example.com), the base of reset links (default: --issuer when it is an http(s) URL)")
	fs.DurationVar(&o.node.ResetTTL, "reset-ttl", account.DefaultResetTTL, "how long a password-reset link works (1m to 4h)")
	logFlags(fs, &o.logFormat, &o.logLevel, "info")
}

// parseServe turns serve's arguments and environment into options, and
// judges them all before anything is opened: bad usage creates no file.
func parseServe(args []string, stdout, stderr io.Writer, getenv func(string) string) (*serveOptions, error) {
	o := &serveOptions{}
	c := newCommand("serve", serveUsage, stderr)
	serveFlags(c.fs, o)
	if err := c.parse(args, stdout, getenv); err != nil {
		return nil, err
	}
	if err := c.noArgs("serve"); err != nil {
		return nil, err
	}
	if err := o.finish(getenv); err != nil {
		return nil, err
	}
	return o, nil
}

// finish converts what flags hold as text or counts, reads the
// environment-only secrets, and validates the result.
func (o *serveOptions) finish(getenv func(string) string) error {
	o.node.SigningAlg = token.Algorithm(o.signingAlg)
	switch {
	case o.maxSessions == 0:
		o.node.Policy.MaxSessionsPerUser = session.NoSessionCap
	case o.maxSessions < 0:
		return fmt.Errorf("%w: --max-sessions-per-user %d: want a cap, or 0 for none", errUsage, o.maxSessions)
	default:
		o.node.Policy.MaxSessionsPerUser = o.maxSessions
	}
	o.server.AllowSignup = o.allowSignup.ptr()
	if o.loginPerIP < 1 || o.sessionRate < 1 {
		return fmt.Errorf("%w: --login-rate-ip and --session-rate must be at least 1", errUsage)
	}
	o.server.LoginPerIP = perMinute(o.loginPerIP, 2)
	if o.loginFailures < 1 || o.loginFailures > ratelimit.MaxBackoffFree/4 {
		return fmt.Errorf("%w: --login-failures %d: want 1 to %d", errUsage, o.loginFailures, ratelimit.MaxBackoffFree/4)
	}
	if o.loginBackoff < time.Second || o.loginBackoff > 24*time.Hour || o.loginBackoff%time.Millisecond != 0 {
		return fmt.Errorf("%w: --login-backoff-max %v: want 1s to 24h", errUsage, o.loginBackoff)
	}
	per := ratelimit.Backoff{Free: o.loginFailures, Base: time.Second, Max: o.loginBackoff, Decay: o.loginBackoff}
	acct := per
	acct.Free = 4 * o.loginFailures
	o.server.LoginFailures = server.LoginFailures{PerClient: per, PerAccount: acct, PerDevice: per}
	o.server.SessionLimit = perMinute(o.sessionRate, 6)
	if o.server.ReauthMaxAge < httpauth.MinRecentAuthAge {
		return fmt.Errorf("%w: --reauth-max-age %v: want at least %v (an access token's auth_time has whole seconds; there is no off)", errUsage, o.server.ReauthMaxAge, httpauth.MinRecentAuthAge)
	}
	if o.trustedProxies != "" {
		p, err := httpauth.ParseTrusted(o.trustedProxies)
		if err != nil {
			return fmt.Errorf("%w: --trusted-proxies: %v", errUsage, err)
		}
		o.server.TrustedProxies = p
	}
	for _, origin := range strings.Split(o.trustedOrigins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			o.server.TrustedOrigins = append(o.server.TrustedOrigins, origin)
		}
	}
	for _, origin := range strings.Split(o.corsOrigins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			o.server.CORSOrigins = append(o.server.CORSOrigins, origin)
		}
	}
	for _, origin := range strings.Split(o.returnOrigins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			o.server.ReturnToOrigins = append(o.server.ReturnToOrigins, origin)
		}
	}
	if v := getenv("SESSIOND_MASTER_KEY"); v != "" {
		k, err := node.ParseMasterKey(v)
		if err != nil {
			return fmt.Errorf("SESSIOND_MASTER_KEY: %w", err)
		}
		o.node.MasterKey = k
	}
	for _, name := range strings.Split(o.claims, ",") {
		if name = strings.TrimSpace(name); name != "" {
			o.node.Claims = append(o.node.Claims, name)
		}
	}
	if o.clientsFile != "" {
		cl, othersCanRead, err := server.LoadClients(o.clientsFile)
		if err != nil {
			return fmt.Errorf("%w: --clients: %v", errUsage, err)
		}
		if othersCanRead {
			o.warnings = append(o.warnings, fmt.Sprintf("the clients file %s can be read by other users: it holds secrets (chmod 600)", o.clientsFile))
		}
		o.server.Clients = cl
	}
	if v := getenv("SESSIOND_INTROSPECT_CLIENTS"); v != "" {
		cl, err := server.ParseClients(v)
		if err != nil {
			return fmt.Errorf("%w: SESSIOND_INTROSPECT_CLIENTS: %v", errUsage, err)
		}
		if o.server.Clients, err = o.server.Clients.Merge(cl); err != nil {
			return fmt.Errorf("%w: SESSIOND_INTROSPECT_CLIENTS and --clients: %v", errUsage, err)
		}
		o.warnings = append(o.warnings, "SESSIOND_INTROSPECT_CLIENTS is deprecated: move its clients to a --clients file (SESSIOND_CLIENTS_FILE) with the permissions introspect and revoke")
	}
	o.server.AdminToken = getenv("SESSIOND_ADMIN_TOKEN")
	if err := o.mailer(); err != nil {
		return err
	}
	if _, err := newLogger(o.logFormat, o.logLevel, io.Discard); err != nil {
		return err
	}
	if err := o.checkTLS(); err != nil {
		return err
	}
	if err := o.node.Validate(); err != nil {
		return err
	}
	return o.server.Validate()
}

// mailer reads --smtp-url into the node's Mailer; it needs --mail-from
// and a public URL for the links (--public-url, or an http(s) --issuer).
func (o *serveOptions) mailer() error {
	if o.smtpURL == "" {
		return nil
	}
	m, err := mail.ParseSMTPURL(o.smtpURL)
	if err != nil {
		return fmt.Errorf("%w: --smtp-url: %v", errUsage, err)
	}
	if o.server.MailFrom == "" {
		return fmt.Errorf("%w: --smtp-url needs --mail-from, the sender of the mails", errUsage)
	}
	base, err := server.PublicBase(o.server.PublicURL, o.node.Issuer)
	if err != nil {
		return fmt.Errorf("%w: --public-url: %v", errUsage, err)
	}
	if base == "" {
		return fmt.Errorf("%w: --smtp-url needs --public-url (or an https --issuer), the base of the links it mails", errUsage)
	}
	o.node.Mailer = m
	return nil
}

func (o *serveOptions) checkTLS() error {
	switch {
	case o.devTLS && (o.tlsCert != "" || o.tlsKey != ""):
		return fmt.Errorf("%w: --dev-tls and --tls-cert/--tls-key exclude each other", errUsage)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	case o.devTLS && !loopbackAddr(o.addr):
		return fmt.Errorf("%w: --dev-tls serves a self-signed certificate for localhost only; --addr %q is not a loopback address (use --tls-cert/--tls-key)", errUsage, o.addr)
	case o.insecureHTTP && (o.devTLS || o.tlsCert != ""):
		return fmt.Errorf("%w: --insecure-http is for plain HTTP; it makes no sense with --dev-tls or --tls-cert", errUsage)
	}
	// Plain HTTP off loopback carries passwords, tokens and client secrets
	// in clear: it needs TLS, a proxy that terminates TLS in front
	// (--trusted-proxies names it, and sessiond then believes its
	// X-Forwarded-For), or an explicit --insecure-http. The last two are
	// said in the log at start.
	if o.devTLS || o.tlsCert != "" || loopbackAddr(o.addr) {
		return nil
	}
	switch {
	case o.insecureHTTP:
		o.warnings = append(o.warnings, fmt.Sprintf("serving plain HTTP on %s, not a loopback address (--insecure-http): passwords, tokens and client secrets cross the network in clear", o.addr))
	case o.trustedProxies != "":
		o.warnings = append(o.warnings, fmt.Sprintf("serving plain HTTP on %s, not a loopback address: the proxies of --trusted-proxies must terminate TLS, and nothing else may reach this address", o.addr))
	default:
		return fmt.Errorf("%w: --addr %q is not a loopback address and serves plain HTTP, which carries passwords, tokens and client secrets in clear: give --tls-cert/--tls-key, or --trusted-proxies for the proxy that terminates TLS in front of sessiond, or --insecure-http to serve it anyway", errUsage, o.addr)
	}
	return nil
}

// tls is the TLS configuration the flags ask for: nil (plain HTTP), the
// files of --tls-cert/--tls-key, or a self-signed certificate (--dev-tls)
// with its fingerprint to print.
func (o *serveOptions) tls(log *slog.Logger) (*tls.Config, string, error) {
	switch {
	case o.devTLS:
		cfg, fp, err := server.DevTLS(time.Now())
		if err != nil {
			return nil, "", err
		}
		log.Warn("serving a self-signed development certificate; use --tls-cert/--tls-key in production", "sha256", fp)
		return cfg, fp, nil
	case o.tlsCert != "":
		cfg, err := server.LoadTLS(o.tlsCert, o.tlsKey)
		return cfg, "", err
	}
	return nil, "", nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	o, err := parseServe(args, stdout, stderr, getenv)
	if err != nil {
		return err
	}
	// The log (an audit line per refresh, login, ...) is written from a
	// goroutine of its own, many lines to a write(2) under load, so no
	// request waits on stderr; Close writes out what is queued when serve
	// returns (deferred first, so it runs after everything else).
	logOut := audit.NewAsyncWriter(stderr, 0)
	defer logOut.Close()
	log, err := newLogger(o.logFormat, o.logLevel, logOut)
	if err != nil {
		return err
	}
	tlsCfg, fingerprint, err := o.tls(log)
	if err != nil {
		return err
	}
	scheme := "http"
	if tlsCfg != nil {
		scheme = "https"
	}
	for _, w := range o.warnings {
		log.Warn(w)
	}
	if m, ok := o.node.Mailer.(*mail.SMTP); ok {
		log.Info("password-reset mails go through SMTP", "smtp", m.String(), "from", o.server.MailFrom)
	}
	redisstore.UseLogger(log)
	o.node.Logger = log
	n, err := node.Open(ctx, o.node)
	if err != nil {
		return err
	}
	defer n.Close()
	srv, err := server.New(n, o.server)
	if err != nil {
		return err
	}
	nctx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- n.Run(nctx) }()
	select {
	case <-n.Running():
	case err := <-ran:
		return err
	}
	hsts := "" // server.HSTS
	if o.devTLS {
		hsts = server.DevHSTS
	}
	err = server.Run(ctx, srv, server.RunConfig{
		Addr:      o.addr,
		TLSConfig: tlsCfg,
		HSTS:      hsts,
		Ready: func(a net.Addr) {
			fmt.Fprintf(stdout, "sessiond listening on %s://%s (store %s)\n", scheme, a, node.RedactStoreURL(o.node.Store))
			if fingerprint != "" {
				fmt.Fprintf(stdout, "sessiond development certificate (self-signed, for localhost, 127.0.0.1, ::1) SHA-256 %s\n", fingerprint)
			}
			log.Info("listening", "addr", a.String(), "store", node.RedactStoreURL(o.node.Store))
		},
	})
	stop()
	<-ran
	return err
}

// loopbackAddr reports whether the listen address addr is reachable from
// this machine only: localhost or a loopback IP (an empty host means every
// interface).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopback(host)
}
