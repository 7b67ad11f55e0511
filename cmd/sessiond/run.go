package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/ratelimit"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/pgstore"
	"github.com/sessiond/sessiond/token"
)

// errUsage marks bad usage (exit status 2).
var errUsage = errors.New("usage")

const usage = `usage: sessiond <command> [flags]

commands:
  serve                         run the HTTP API (127.0.0.1:8080, data in ./sessiond-data)
  users add <email>             create an account (password from stdin)
  users list | users delete <id>
  sessions list --user <id>     list a user's live sessions
  sessions revoke --user <id> | --id <session-id>
  keys list | keys rotate       show or rotate signing keys
  gc                            delete expired sessions now
  migrate                       apply the PostgreSQL schema (PostgreSQL stores only)
  load --target URL             drive a running sessiond (loopback only) and print throughput and latency
  version

Run 'sessiond <command> -h' for the flags of a command. Every flag has an
environment twin: --store is SESSIOND_STORE, --access-ttl is SESSIOND_ACCESS_TTL.
`

// run is main without the process: testable, and every exit goes through it.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) int {
	err := dispatch(ctx, args, stdin, stdout, stderr, getenv)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage), errors.Is(err, session.ErrPolicy):
		// A lifetime or limit out of bounds is bad usage too: the flags
		// are wrong, nothing failed.
		fmt.Fprintln(stderr, "sessiond:", redactSecrets(oneLine(strings.TrimPrefix(err.Error(), "usage: ")), args, getenv))
		return 2
	default:
		fmt.Fprintln(stderr, "sessiond:", redactSecrets(oneLine(err.Error()), args, getenv))
		return 1
	}
}

// redactSecrets hides in msg the passwords of the store URLs given on the
// command line or in SESSIOND_STORE. The layers below may quote the URL in
// an error ("store %q: unknown scheme"); this is the last place that sees
// both the message and the secrets before anything is printed.
func redactSecrets(msg string, args []string, getenv func(string) string) string {
	urls := []string{getenv("SESSIOND_STORE")}
	for i, a := range args {
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "store" || !strings.HasPrefix(a, "-") {
			continue
		}
		if hasVal {
			urls = append(urls, val)
		} else if i+1 < len(args) {
			urls = append(urls, args[i+1])
		}
	}
	for _, u := range urls {
		for _, secret := range server.StoreURLSecrets(u) {
			msg = strings.ReplaceAll(msg, secret, "xxxxx")
		}
	}
	return msg
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }

func dispatch(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return cmdServe(ctx, rest, stdout, stderr, getenv)
	case "users":
		return cmdUsers(ctx, rest, stdin, stdout, stderr, getenv)
	case "sessions":
		return cmdSessions(ctx, rest, stdout, stderr, getenv)
	case "keys":
		return cmdKeys(ctx, rest, stdout, stderr, getenv)
	case "gc":
		return cmdGC(ctx, rest, stdout, stderr, getenv)
	case "migrate":
		return cmdMigrate(ctx, rest, stdout, stderr, getenv)
	case "load":
		return cmdLoad(ctx, rest, stdout, stderr, getenv)
	case "version":
		fmt.Fprintln(stdout, "sessiond", version())
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("%w: unknown command %q", errUsage, cmd)
}

func version() string {
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// options are the flags shared by every command that opens the store.
type options struct {
	store          string
	addr           string
	issuer         string
	audience       string
	accessTTL      time.Duration
	idleTimeout    time.Duration
	absTimeout     time.Duration
	refreshGrace   time.Duration
	maxSessions    int
	signingAlg     string
	keyRotation    time.Duration
	keyReload      time.Duration
	allowSignup    string
	trustedProxies string
	trustedOrigins string
	tlsCert        string
	tlsKey         string
	devTLS         bool
	logFormat      string
	logLevel       string
	loginPerIP     int
	loginPerAcct   int
	sessionRate    int
	migrate        bool
}

func newFlagSet(name string, stderr io.Writer) (*flag.FlagSet, *options) {
	fs := flag.NewFlagSet("sessiond "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	o := &options{}
	fs.StringVar(&o.store, "store", server.DefaultStore, "store URL: bolt:///path, memory://, redis://host:port/db, redis-cluster://h1:p1,h2:p2, postgres://...")
	return fs, o
}

func (o *options) serveFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address (port 0 picks a free one)")
	fs.StringVar(&o.issuer, "issuer", "sessiond", "iss of access tokens")
	fs.StringVar(&o.audience, "audience", "sessiond", "aud of access tokens")
	fs.DurationVar(&o.accessTTL, "access-ttl", session.DefaultAccessTTL, "access token lifetime (at most 1h)")
	fs.DurationVar(&o.idleTimeout, "idle-timeout", session.DefaultIdleTimeout, "session idle timeout")
	fs.DurationVar(&o.absTimeout, "absolute-timeout", session.DefaultAbsoluteTimeout, "session absolute lifetime")
	fs.DurationVar(&o.refreshGrace, "refresh-grace", session.DefaultRefreshGrace, "window in which a rotated refresh token may be replayed (at most 1m)")
	fs.IntVar(&o.maxSessions, "max-sessions-per-user", 0, "cap of live sessions per user; the oldest go first (0: no cap)")
	fs.StringVar(&o.signingAlg, "signing-alg", string(token.EdDSA), "signing algorithm: EdDSA, ES256, RS256")
	fs.DurationVar(&o.keyRotation, "key-rotation", 30*24*time.Hour, "rotate the signing key when it is this old")
	fs.DurationVar(&o.keyReload, "key-reload", 10*time.Second, "how often to re-read the shared key ring for other nodes' rotations")
	fs.StringVar(&o.allowSignup, "allow-signup", "", "accept POST /v1/signup: true or false (default: true for bolt and memory stores)")
	fs.StringVar(&o.trustedProxies, "trusted-proxies", "", "comma-separated CIDRs whose X-Forwarded-For is believed")
	fs.StringVar(&o.trustedOrigins, "trusted-origins", "", "comma-separated origins (https://app.example.com) allowed to send cross-origin unsafe requests")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "PEM certificate chain file: serve HTTPS (with --tls-key)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "PEM private key file of --tls-cert")
	fs.BoolVar(&o.devTLS, "dev-tls", false, "serve HTTPS with a self-signed certificate for localhost made at start (development only)")
	fs.IntVar(&o.loginPerIP, "login-rate-ip", 20, "login and signup attempts per minute per client IP (burst: half)")
	fs.IntVar(&o.loginPerAcct, "login-rate-account", 10, "login attempts per minute per account (burst: half)")
	fs.IntVar(&o.sessionRate, "session-rate", 600, "authenticated requests per minute per session (burst: a sixth)")
	fs.BoolVar(&o.migrate, "migrate", false, "apply pending PostgreSQL migrations at start instead of refusing to start")
	fs.StringVar(&o.logFormat, "log-format", "json", "log format: json or text")
	fs.StringVar(&o.logLevel, "log-level", "info", "log level: debug, info, warn, error")
}

// parse applies environment twins (SESSIOND_<FLAG>) and then the command
// line, which wins.
func parse(fs *flag.FlagSet, args []string, getenv func(string) string) error {
	var envErr error
	fs.VisitAll(func(f *flag.Flag) {
		name := "SESSIOND_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if v := getenv(name); v != "" && envErr == nil {
			if err := f.Value.Set(v); err != nil {
				envErr = fmt.Errorf("%w: %s=%q: %v", errUsage, name, v, err)
			}
		}
	})
	if envErr != nil {
		return envErr
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

func (o *options) logger(stderr io.Writer) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(o.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level %q", errUsage, o.logLevel)
	}
	hopts := &slog.HandlerOptions{Level: lvl}
	switch o.logFormat {
	case "json", "":
		return slog.New(slog.NewJSONHandler(stderr, hopts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(stderr, hopts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format %q: want json or text", errUsage, o.logFormat)
}

// open opens the store and builds a Server on it (without listening).
func (o *options) open(ctx context.Context, log *slog.Logger, getenv func(string) string) (*server.Server, server.Backend, error) {
	backend, kind, dir, err := server.OpenBackend(ctx, o.store, server.OpenOptions{AutoMigrate: o.migrate})
	if err != nil {
		return nil, nil, err
	}
	master, err := server.LoadMasterKey(getenv("SESSIOND_MASTER_KEY"), kind, dir, log)
	if err != nil {
		backend.Close()
		return nil, nil, err
	}
	cfg := server.Config{
		Backend:         backend,
		Kind:            kind,
		MasterKey:       master,
		Issuer:          o.issuer,
		Audience:        o.audience,
		SigningAlg:      token.Algorithm(o.signingAlg),
		KeyRotation:     o.keyRotation,
		Logger:          log,
		LoginPerIP:      perMinute(o.loginPerIP, 2),
		LoginPerAccount: perMinute(o.loginPerAcct, 2),
		SessionLimit:    perMinute(o.sessionRate, 6),
		Policy: session.Policy{
			AccessTTL:          o.accessTTL,
			IdleTimeout:        o.idleTimeout,
			AbsoluteTimeout:    o.absTimeout,
			RefreshGrace:       o.refreshGrace,
			MaxSessionsPerUser: o.maxSessions,
		},
	}
	if o.loginPerIP < 1 || o.loginPerAcct < 1 || o.sessionRate < 1 {
		backend.Close()
		return nil, nil, fmt.Errorf("%w: --login-rate-ip, --login-rate-account and --session-rate must be at least 1", errUsage)
	}
	switch o.allowSignup {
	case "":
	case "true", "1", "yes":
		t := true
		cfg.AllowSignup = &t
	case "false", "0", "no":
		f := false
		cfg.AllowSignup = &f
	default:
		backend.Close()
		return nil, nil, fmt.Errorf("%w: --allow-signup %q: want true or false", errUsage, o.allowSignup)
	}
	if o.trustedProxies != "" {
		p, err := httpauth.ParseTrusted(o.trustedProxies)
		if err != nil {
			backend.Close()
			return nil, nil, fmt.Errorf("%w: --trusted-proxies: %v", errUsage, err)
		}
		cfg.TrustedProxies = p
	}
	for _, origin := range strings.Split(o.trustedOrigins, ",") {
		if origin = strings.TrimSpace(origin); origin != "" {
			cfg.TrustedOrigins = append(cfg.TrustedOrigins, origin)
		}
	}
	if v := getenv("SESSIOND_INTROSPECT_CLIENTS"); v != "" {
		cl, err := server.ParseClients(v)
		if err != nil {
			backend.Close()
			return nil, nil, fmt.Errorf("%w: SESSIOND_INTROSPECT_CLIENTS: %v", errUsage, err)
		}
		cfg.Clients = cl
	}
	cfg.AdminToken = getenv("SESSIOND_ADMIN_TOKEN")
	srv, err := server.New(ctx, cfg)
	if err != nil {
		backend.Close()
		return nil, nil, err
	}
	return srv, backend, nil
}

func cmdServe(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, o := newFlagSet("serve", stderr)
	o.serveFlags(fs)
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments", errUsage)
	}
	log, err := o.logger(stderr)
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
	server.UseLoggerForRedis(log)
	srv, backend, err := o.open(ctx, log, getenv)
	if err != nil {
		return err
	}
	defer backend.Close()
	defer srv.Close()
	return server.Run(ctx, srv, server.RunConfig{
		Addr:      o.addr,
		TLSConfig: tlsCfg,
		Ready: func(a net.Addr) {
			fmt.Fprintf(stdout, "sessiond listening on %s://%s (store %s)\n", scheme, a, server.RedactStoreURL(o.store))
			if fingerprint != "" {
				fmt.Fprintf(stdout, "sessiond development certificate (self-signed, for localhost, 127.0.0.1, ::1) SHA-256 %s\n", fingerprint)
			}
			log.Info("listening", "addr", a.String(), "store", server.RedactStoreURL(o.store))
		},
	})
}

// tls is the TLS configuration the flags ask for: nil (plain HTTP), the
// files of --tls-cert/--tls-key, or a self-signed certificate (--dev-tls)
// with its fingerprint to print.
func (o *options) tls(log *slog.Logger) (*tls.Config, string, error) {
	switch {
	case o.devTLS && (o.tlsCert != "" || o.tlsKey != ""):
		return nil, "", fmt.Errorf("%w: --dev-tls and --tls-cert/--tls-key exclude each other", errUsage)
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return nil, "", fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	case o.devTLS && !loopbackAddr(o.addr):
		return nil, "", fmt.Errorf("%w: --dev-tls serves a self-signed certificate for localhost only; --addr %q is not a loopback address (use --tls-cert/--tls-key)", errUsage, o.addr)
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

// loopbackAddr reports whether the listen address addr is reachable from
// this machine only: localhost or a loopback IP (an empty host means every
// interface).
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopback(host)
}

// perMinute is n per minute with a burst of n/div (at least 1).
func perMinute(n, div int) ratelimit.Limit {
	if n <= 0 {
		return ratelimit.Limit{}
	}
	return ratelimit.Limit{Rate: n, Period: time.Minute, Burst: max(1, n/div)}
}

// readPassword reads one line from stdin: without echo, after a prompt on
// stderr, when stdin is a terminal (so the password is not shown on the
// screen); as it comes when stdin is a pipe (scripts).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	pw, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(pw, "\r\n"), nil
}

// adminOpen opens the store for a one-shot admin command. check, if set,
// judges the parsed flags and arguments first: bad usage must not create
// a data directory and a master key.
func adminOpen(ctx context.Context, name string, args []string, stderr io.Writer, getenv func(string) string, extra func(*flag.FlagSet), check func(*flag.FlagSet) error) (*server.Server, server.Backend, *flag.FlagSet, error) {
	fs, o := newFlagSet(name, stderr)
	o.serveFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := parse(fs, args, getenv); err != nil {
		return nil, nil, nil, err
	}
	if check == nil {
		check = func(fs *flag.FlagSet) error {
			if fs.NArg() > 0 {
				return fmt.Errorf("%w: %s takes no arguments", errUsage, name)
			}
			return nil
		}
	}
	if err := check(fs); err != nil {
		return nil, nil, nil, err
	}
	o.logLevel = "warn"
	log, err := o.logger(stderr)
	if err != nil {
		return nil, nil, nil, err
	}
	srv, b, err := o.open(ctx, log, getenv)
	if err != nil {
		return nil, nil, nil, err
	}
	return srv, b, fs, nil
}

func cmdUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: users add|list|delete", errUsage)
	}
	sub := args[0]
	srv, b, fs, err := adminOpen(ctx, "users "+sub, args[1:], stderr, getenv, nil, func(fs *flag.FlagSet) error {
		switch {
		case sub == "add" && fs.NArg() != 1:
			return fmt.Errorf("%w: users add <email> (password on stdin)", errUsage)
		case sub == "delete" && fs.NArg() != 1:
			return fmt.Errorf("%w: users delete <id>", errUsage)
		case sub == "list" && fs.NArg() != 0:
			return fmt.Errorf("%w: users list takes no arguments", errUsage)
		case sub != "add" && sub != "delete" && sub != "list":
			return fmt.Errorf("%w: users %q: want add, list or delete", errUsage, sub)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer b.Close()
	defer srv.Close()
	acc := srv.Accounts()
	switch sub {
	case "add":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: users add <email> (password on stdin)", errUsage)
		}
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		a, err := acc.Signup(ctx, fs.Arg(0), pw)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, a.ID)
		return nil
	case "list":
		list, err := acc.List(ctx)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tCREATED")
		for _, a := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", a.ID, a.Email, a.CreatedAt.UTC().Format(time.RFC3339))
		}
		return tw.Flush()
	case "delete":
		if fs.NArg() != 1 {
			return fmt.Errorf("%w: users delete <id>", errUsage)
		}
		id := fs.Arg(0)
		if err := acc.Delete(ctx, id); err != nil {
			return err
		}
		n, err := srv.Manager().RevokeUser(ctx, id, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s and revoked %d sessions\n", id, len(n))
		return nil
	}
	return fmt.Errorf("%w: users %q: want add, list or delete", errUsage, sub)
}

func cmdSessions(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: sessions list|revoke", errUsage)
	}
	sub := args[0]
	var user, id string
	srv, b, _, err := adminOpen(ctx, "sessions "+sub, args[1:], stderr, getenv, func(fs *flag.FlagSet) {
		fs.StringVar(&user, "user", "", "user id")
		fs.StringVar(&id, "id", "", "session id")
	}, func(fs *flag.FlagSet) error {
		switch {
		case fs.NArg() != 0:
			return fmt.Errorf("%w: sessions %s takes flags, no arguments", errUsage, sub)
		case sub == "list" && user == "":
			return fmt.Errorf("%w: sessions list --user <id>", errUsage)
		case sub == "revoke" && (user == "") == (id == ""):
			return fmt.Errorf("%w: sessions revoke needs exactly one of --user or --id", errUsage)
		case sub != "list" && sub != "revoke":
			return fmt.Errorf("%w: sessions %q: want list or revoke", errUsage, sub)
		}
		return nil
	})
	if err != nil {
		return err
	}
	defer b.Close()
	defer srv.Close()
	m := srv.Manager()
	switch sub {
	case "list":
		if user == "" {
			return fmt.Errorf("%w: sessions list --user <id>", errUsage)
		}
		list, err := m.List(ctx, user)
		if err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tLAST SEEN\tEXPIRES\tIP\tUSER AGENT")
		for _, s := range list {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.CreatedAt.UTC().Format(time.RFC3339), s.LastSeenAt.UTC().Format(time.RFC3339), s.ExpiresAt.UTC().Format(time.RFC3339), s.IP, s.UserAgent)
		}
		return tw.Flush()
	case "revoke":
		switch {
		case user != "" && id == "":
			ids, err := m.RevokeUser(ctx, user, "")
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "revoked %d sessions\n", len(ids))
			return nil
		case id != "" && user == "":
			if err := m.Revoke(ctx, id); err != nil {
				return err
			}
			fmt.Fprintln(stdout, "revoked", id)
			return nil
		}
		return fmt.Errorf("%w: sessions revoke needs exactly one of --user or --id", errUsage)
	}
	return fmt.Errorf("%w: sessions %q: want list or revoke", errUsage, sub)
}

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: keys list|rotate", errUsage)
	}
	sub := args[0]
	if sub != "list" && sub != "rotate" {
		return fmt.Errorf("%w: keys %q: want list or rotate", errUsage, sub)
	}
	srv, b, _, err := adminOpen(ctx, "keys "+sub, args[1:], stderr, getenv, nil, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	defer srv.Close()
	switch sub {
	case "list":
	case "rotate":
		if err := srv.RotateKeys(ctx); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%w: keys %q: want list or rotate", errUsage, sub)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tACTIVE\tRETIRE AT")
	for _, k := range srv.Keys().Keys() {
		retire := "-"
		if !k.RetireAt.IsZero() {
			retire = k.RetireAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\n", k.ID, k.Alg, k.CreatedAt.UTC().Format(time.RFC3339), k.Active, retire)
	}
	return tw.Flush()
}

func cmdGC(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	srv, b, _, err := adminOpen(ctx, "gc", args, stderr, getenv, nil, nil)
	if err != nil {
		return err
	}
	defer b.Close()
	defer srv.Close()
	n, err := srv.Manager().Sweep(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %d expired sessions\n", n)
	return nil
}

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	fs, o := newFlagSet("migrate", stderr)
	if err := parse(fs, args, getenv); err != nil {
		return err
	}
	if !strings.HasPrefix(o.store, "postgres://") && !strings.HasPrefix(o.store, "postgresql://") {
		return fmt.Errorf("migrate: %s needs no schema; migrate is for postgres:// stores", server.RedactStoreURL(o.store))
	}
	applied, err := pgstore.Migrate(ctx, o.store)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema is up to date")
		return nil
	}
	fmt.Fprintf(stdout, "applied migrations %v\n", applied)
	return nil
}
