package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// pinnedEnv marks the copy of bench that taskset pinned to --load-cpu.
const pinnedEnv = "SESSIOND_BENCH_PINNED"

// run is the bench command: parse, pin, measure, report.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseOptions(args, stderr)
	if err != nil {
		return err
	}
	if o.pin && os.Getenv(pinnedEnv) == "" {
		return runPinned(ctx, o, args, stdout, stderr)
	}
	b := &bench{o: o, out: stdout, log: stderr, results: map[string][]result{}}
	defer b.cleanup()
	if err := b.setup(ctx); err != nil {
		return err
	}
	if err := b.measure(ctx); err != nil {
		return err
	}
	b.machineEnd = readMachineLoad()
	b.report()
	return nil
}

// runPinned runs this same command again under `taskset -c --load-cpu`,
// so the load generator has one core of its own (and GOMAXPROCS 1, which
// Go takes from the affinity), and passes on its exit status.
func runPinned(ctx context.Context, o *options, args []string, stdout, stderr io.Writer) error {
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("%w: taskset not found (Debian: apt-get install util-linux); or run with --pin=false", errUsage)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	cmd := exec.Command("taskset", append([]string{"-c", o.loadCPU, self}, args...)...)
	cmd.Env = append(os.Environ(), pinnedEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = nil, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		// It cleans up (stops its children, drops its database) on SIGTERM.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		err = <-done
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return exitCode(ee.ExitCode())
	}
	return err
}

// bench is one run: its processes, stores and results.
type bench struct {
	o        *options
	out, log io.Writer
	procs    *procs
	dir      string // working directory
	self     string // this binary, the children's
	sessiond string // the sessiond binary
	alg      string // what sessiond signs with; the floors sign the same

	redis      *redis.Client // the --redis database, found empty
	redisDirty bool          // bench wrote to it: flush at the end
	pgAdmin    string        // --postgres, where the database is created
	pgDB       string        // bench's own database
	pgURL      string        // its URL

	servers map[string]*sessiondServer // by store
	// masterKeys are the master keys of the sessionds on each store: a
	// sessiond's key ring is sealed in its store under the master key, so
	// every sessiond the bench starts on one store has the same.
	masterKeys sync.Map                // store -> []byte
	floors     map[string]*floorServer // composite floors, by store
	verify     *floorServer            // the verified-call floors

	targets    []target
	results    map[string][]result // by target key, one per round
	memory     *memoryResult
	machine    machine
	machineEnd string
	start      time.Time
}

// target is one thing measured once per round.
type target struct {
	group string // refresh, verify, login
	key   string
	run   func(ctx context.Context, round int) (result, error)
}

func (b *bench) logf(format string, args ...any) {
	fmt.Fprintf(b.log, "bench: "+format+"\n", args...)
}

// setup builds sessiond, prepares the stores and starts every server.
func (b *bench) setup(ctx context.Context) error {
	b.start = time.Now()
	o := b.o
	var err error
	if o.dir == "" {
		if b.dir, err = os.MkdirTemp("", "sessiond-bench-*"); err != nil {
			return err
		}
	} else {
		if err := os.MkdirAll(o.dir, 0o700); err != nil {
			return err
		}
		b.dir = o.dir
	}
	if b.dir, err = filepath.Abs(b.dir); err != nil {
		return err
	}
	b.procs = &procs{dir: b.dir}
	if o.pin {
		b.procs.pin = o.serverCPU
	}
	if b.self, err = os.Executable(); err != nil {
		return err
	}
	b.machine = readMachine(b.dir)
	if err := b.buildSessiond(ctx); err != nil {
		return err
	}
	b.machine.sessiond = sessiondVersion(ctx, b.sessiond)
	if o.has("redis") {
		if err := b.prepareRedis(ctx); err != nil {
			return err
		}
	}
	if o.has("postgres") {
		if err := b.preparePostgres(ctx); err != nil {
			return err
		}
	}
	b.servers = map[string]*sessiondServer{}
	b.floors = map[string]*floorServer{}
	needSessiond := o.only["refresh"] || o.only["verify"] // logins start their own, see plan
	for _, st := range o.stores {
		if !needSessiond {
			break
		}
		s, err := b.startSessiond(ctx, st, b.storeURL(st))
		if err != nil {
			return err
		}
		b.servers[st] = s
		if b.alg == "" {
			if b.alg, err = s.signingAlg(ctx); err != nil {
				return err
			}
		}
		if o.only["refresh"] {
			if s.refresh, err = s.mintRefresh(ctx, o.concurrency); err != nil {
				return err
			}
		}
	}
	if b.alg == "" {
		b.alg = "ES256"
		if o.alg != "" {
			b.alg = o.alg
		}
	}
	if o.only["refresh"] {
		for _, st := range o.stores {
			f, err := b.startFloor(ctx, cmdFloorServer, "floor-"+st, b.floorArgs(st, "sdbench-composite", o.boltBatch, o.concurrency))
			if err != nil {
				return err
			}
			b.floors[st] = f
		}
	}
	if o.only["verify"] {
		if b.verify, err = b.startFloor(ctx, cmdVerifyServer, "verify-floor", []string{"--sessions", strconv.Itoa(o.verifyTokens)}); err != nil {
			return err
		}
	}
	b.plan()
	return nil
}

// buildSessiond builds ./cmd/sessiond once (with --profile, with a
// net/http/pprof listener added through go build -overlay).
func (b *bench) buildSessiond(ctx context.Context) error {
	if b.o.sessiond != "" {
		p, err := filepath.Abs(b.o.sessiond)
		b.sessiond = p
		return err
	}
	repo := b.o.repo
	if repo == "" {
		var err error
		if repo, err = findRepo(); err != nil {
			return err
		}
	}
	b.sessiond = filepath.Join(b.dir, "sessiond")
	args := []string{"build", "-o", b.sessiond}
	if b.o.profile != "" {
		ov, err := writeOverlay(b.dir, repo)
		if err != nil {
			return err
		}
		args = append(args, "-overlay", ov)
	}
	args = append(args, "./cmd/sessiond")
	b.logf("building sessiond (go %s) in %s", strings.Join(args, " "), repo)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(cctx, "go", args...)
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/sessiond: %v\n%s", err, out)
	}
	return nil
}

// findRepo is the directory above the working directory whose go.mod is
// sessiond's.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && strings.HasPrefix(string(b), "module github.com/sessiond/sessiond\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("%w: no sessiond repository above the working directory: give --repo or --sessiond", errUsage)
		}
		dir = parent
	}
}

// prepareRedis checks that the --redis database is empty: bench flushes
// it at the end, so it must hold nothing of anyone else's.
func (b *bench) prepareRedis(ctx context.Context) error {
	opt, err := redis.ParseURL(b.o.redisURL)
	if err != nil {
		return fmt.Errorf("%w: --redis: %v", errUsage, err)
	}
	b.redis = redis.NewClient(opt)
	n, err := b.redis.DBSize(ctx).Result()
	if err != nil {
		return fmt.Errorf("redis %s: %w", opt.Addr, err)
	}
	if n != 0 {
		return fmt.Errorf("%w: database %d of Redis %s holds %d keys: bench flushes its database at the end, so give it an empty one (--redis redis://%s/N)", errUsage, opt.DB, opt.Addr, n, opt.Addr)
	}
	b.redisDirty = true
	b.machine.redis = redisVersion(ctx, b.redis)
	return nil
}

// preparePostgres creates bench's own database on the --postgres server.
func (b *bench) preparePostgres(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.o.pgURL)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	_ = conn.QueryRow(ctx, "SHOW server_version").Scan(&b.machine.postgres)
	var r [6]byte
	_, _ = rand.Read(r[:])
	name := fmt.Sprintf("sessiond_bench_%x", r)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("postgres: create database: %w", err)
	}
	b.pgAdmin, b.pgDB = b.o.pgURL, name
	u, _ := url.Parse(b.o.pgURL)
	u.Path = "/" + name
	b.pgURL = u.String()
	return nil
}

// storeURL is sessiond's --store for st.
func (b *bench) storeURL(st string) string {
	switch st {
	case "redis":
		return b.o.redisURL
	case "postgres":
		return b.pgURL
	}
	return "bolt://" + filepath.Join(b.dir, "bolt-sessiond")
}

// floorArgs are the store flags of a floor child for st.
func (b *bench) floorArgs(st, prefix string, batch, workers int) []string {
	args := []string{"--store", st, "--workers", strconv.Itoa(workers), "--batch", strconv.Itoa(batch)}
	switch st {
	case "redis":
		args = append(args, "--url", b.o.redisURL, "--prefix", prefix)
	case "postgres":
		args = append(args, "--url", b.pgURL, "--prefix", strings.ReplaceAll(prefix, "-", "_"))
	case "bolt":
		args = append(args, "--dir", filepath.Join(b.dir, "bolt-floors"), "--prefix", prefix)
	}
	return args
}

// cleanup stops every process, flushes bench's Redis database, drops its
// PostgreSQL database and removes the working directory. It runs on
// failure too, with a context of its own.
func (b *bench) cleanup() {
	if b.procs != nil {
		b.procs.stopAll()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if b.redis != nil {
		if b.redisDirty {
			if err := b.redis.FlushDB(ctx).Err(); err != nil {
				b.logf("could not flush the Redis database: %v", err)
			}
		}
		b.redis.Close()
	}
	if b.pgDB != "" {
		if conn, err := pgx.Connect(ctx, b.pgAdmin); err != nil {
			b.logf("could not drop database %s: %v", b.pgDB, err)
		} else {
			if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{b.pgDB}.Sanitize()+" WITH (FORCE)"); err != nil {
				b.logf("could not drop database %s: %v", b.pgDB, err)
			}
			conn.Close(ctx)
		}
	}
	if b.dir != "" && b.o.dir == "" && !b.o.keep {
		_ = os.RemoveAll(b.dir)
	} else if b.dir != "" {
		b.logf("logs kept in %s", b.dir)
	}
}

// floorServer is a running floor child.
type floorServer struct {
	proc   *proc
	url    string
	pprof  string
	tokens []string
}

// startFloor starts a floor child (cmd) and reads the tokens it made.
func (b *bench) startFloor(ctx context.Context, cmd, name string, args []string) (*floorServer, error) {
	f := &floorServer{}
	tokFile := filepath.Join(b.dir, name+".tokens")
	args = append([]string{b.self, cmd, "--tokens-file", tokFile, "--alg", b.alg}, args...)
	if b.o.profile != "" {
		f.pprof = freeAddr()
		args = append(args, "--pprof-addr", f.pprof)
	}
	var err error
	b.logf("starting %s", name)
	if f.proc, f.url, err = b.procs.startServer(ctx, name, args, []string{childEnv + "=1"}, 5*time.Minute); err != nil {
		return nil, err
	}
	if cmd == cmdFloorServer {
		raw, err := os.ReadFile(tokFile)
		if err != nil {
			return nil, err
		}
		f.tokens = strings.Fields(string(raw))
	}
	return f, nil
}

// freeAddr is a free loopback address for a pprof listener.
func freeAddr() string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "127.0.0.1:0"
	}
	defer ln.Close()
	return ln.Addr().String()
}

// sessiondServer is a running `sessiond serve`.
type sessiondServer struct {
	store    string
	proc     *proc
	url      string
	pprof    string
	client   string // a service client allowed to mint sessions
	secret   string
	refresh  []string // one refresh chain per refresh worker
	accounts []string // login bodies, one per login worker
	hc       *http.Client
}

// startSessiond starts `sessiond serve` on storeURL, pinned, with limits so
// high that no request is throttled (the limiters still run), signup on,
// a service client to mint sessions with, and the master key of every
// sessiond the bench runs on that store.
func (b *bench) startSessiond(ctx context.Context, st, storeURL string) (*sessiondServer, error) {
	return b.startSessiondNamed(ctx, st, st, storeURL)
}

// startSessiondNamed is startSessiond for a sessiond on store st that
// the bench names name (its process, its files).
func (b *bench) startSessiondNamed(ctx context.Context, name, st, storeURL string) (*sessiondServer, error) {
	s := &sessiondServer{store: st, client: "bench", hc: client(b.o.concurrency)}
	secret := make([]byte, 32)
	_, _ = rand.Read(secret)
	s.secret = base64.RawURLEncoding.EncodeToString(secret)
	clients := filepath.Join(b.dir, "clients-"+name+".json")
	cl, _ := json.Marshal([]map[string]any{{"id": s.client, "secret": s.secret, "permissions": []string{"sessions"}}})
	if err := os.WriteFile(clients, cl, 0o600); err != nil {
		return nil, err
	}
	fresh := make([]byte, 32)
	_, _ = rand.Read(fresh)
	mk, _ := b.masterKeys.LoadOrStore(st, fresh)
	master := mk.([]byte)
	argv := []string{b.sessiond, "serve", "--store", storeURL, "--addr", "127.0.0.1:0", "--clients", clients,
		"--allow-signup", "--login-rate-ip", "1000000000",
		"--session-rate", "1000000000"}
	if st == "postgres" {
		argv = append(argv, "--migrate")
	}
	if b.o.alg != "" {
		argv = append(argv, "--signing-alg", b.o.alg)
	}
	env := []string{"SESSIOND_MASTER_KEY=" + base64.StdEncoding.EncodeToString(master)}
	if b.o.profile != "" {
		s.pprof = freeAddr()
		env = append(env, "SESSIOND_BENCH_PPROF_ADDR="+s.pprof)
	}
	b.logf("starting sessiond on %s", name)
	var err error
	if s.proc, s.url, err = b.procs.startServer(ctx, "sessiond-"+name, argv, env, 5*time.Minute); err != nil {
		return nil, err
	}
	return s, nil
}

// signingAlg is the algorithm of sessiond's signing key, from its JWKS.
func (s *sessiondServer) signingAlg(ctx context.Context) (string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.url+"/.well-known/jwks.json", nil)
	res, err := s.hc.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var v struct {
		Keys []struct {
			Alg string `json:"alg"`
		} `json:"keys"`
	}
	if err := json.NewDecoder(res.Body).Decode(&v); err != nil || len(v.Keys) == 0 || v.Keys[0].Alg == "" {
		return "", fmt.Errorf("sessiond's JWKS names no algorithm (%v)", err)
	}
	return v.Keys[len(v.Keys)-1].Alg, nil
}

// mintBody is POST /v1/sessions for a new user with a browser's user agent.
func mintBody() []byte {
	user, _ := newSessionID()
	b, _ := json.Marshal(map[string]any{"user_id": user, "ip": "127.0.0.1", "user_agent": browserUA,
		"auth_method": "password", "amr": []string{"pwd"}})
	return b
}

// mint starts n sessions through sessiond's service API, workers at a
// time, and returns their tokens.
func (s *sessiondServer) mint(ctx context.Context, n, workers int) (access, refresh, ids []string, err error) {
	access, refresh, ids = make([]string, n), make([]string, n), make([]string, n)
	next := make(chan int)
	errs := make(chan error, workers)
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	for range min(workers, n) {
		go func() {
			for i := range next {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/sessions", bytes.NewReader(mintBody()))
				req.Header.Set("Content-Type", "application/json")
				req.SetBasicAuth(s.client, s.secret)
				res, err := s.hc.Do(req)
				if err != nil {
					errs <- err
					return
				}
				var v struct {
					Access  string `json:"access_token"`
					Refresh string `json:"refresh_token"`
					ID      string `json:"session_id"`
				}
				raw, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != http.StatusCreated || json.Unmarshal(raw, &v) != nil {
					errs <- fmt.Errorf("mint a session on sessiond (%s): status %d: %s", s.store, res.StatusCode, clip(raw))
					return
				}
				access[i], refresh[i], ids[i] = v.Access, v.Refresh, v.ID
			}
			errs <- nil
		}()
	}
	for range min(workers, n) {
		if e := <-errs; e != nil && err == nil {
			err = e
		}
	}
	return access, refresh, ids, err
}

func (s *sessiondServer) mintRefresh(ctx context.Context, n int) ([]string, error) {
	_, refresh, _, err := s.mint(ctx, n, 8)
	return refresh, err
}

// signupAccounts signs up n accounts (one argon2id hash each) and keeps
// their login bodies.
func (s *sessiondServer) signupAccounts(ctx context.Context, n int) error {
	tag, _ := newSessionID() // a store may already hold another sessiond's accounts
	for i := range n {
		pw := make([]byte, 18)
		_, _ = rand.Read(pw)
		body, _ := json.Marshal(map[string]string{"email": fmt.Sprintf("bench-%s-%d@bench.test", tag, i), "password": base64.RawURLEncoding.EncodeToString(pw)})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.url+"/v1/signup", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		res, err := s.hc.Do(req)
		if err != nil {
			return err
		}
		raw, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusCreated {
			return fmt.Errorf("signup on sessiond (%s): status %d: %s", s.store, res.StatusCode, clip(raw))
		}
		s.accounts = append(s.accounts, string(body))
	}
	return nil
}

// plan lists the targets of a round, grouped so that a measurement and its
// floors run seconds apart.
func (b *bench) plan() {
	o := b.o
	d, wu, conc := o.duration, o.warmup, o.concurrency
	add := func(group, key string, fn func(ctx context.Context, round int) (result, error)) {
		b.targets = append(b.targets, target{group: group, key: key, run: fn})
	}
	httpTarget := func(p *proc, pprof, name string, workers int, warm time.Duration, step func(hc *http.Client) stepFunc) func(ctx context.Context, round int) (result, error) {
		return func(ctx context.Context, round int) (result, error) {
			if err := p.alive(); err != nil {
				return result{}, err
			}
			hc := client(workers)
			defer hc.CloseIdleConnections()
			var prof func()
			wait := func() error { return nil }
			if pprof != "" && o.profile != "" {
				prof, wait = b.profiler(ctx, pprof, fmt.Sprintf("%s-r%d", name, round))
			}
			res := window(ctx, workers, warm, d, step(hc), p, prof)
			if err := wait(); err != nil {
				b.logf("profile of %s: %v", name, err)
			}
			return res, ctx.Err()
		}
	}
	driver := func(st, prefix string, batch int) func(ctx context.Context, round int) (result, error) {
		return func(ctx context.Context, round int) (result, error) {
			args := append([]string{b.self, cmdFloorDriver, "--warmup", wu.String(), "--duration", d.String()}, b.floorArgs(st, prefix, batch, conc)...)
			name := fmt.Sprintf("driver-%s-%d-r%d", st, batch, round)
			out, err := b.procs.runChild(ctx, name, args, []string{childEnv + "=1"}, d+wu+5*time.Minute)
			if err != nil {
				return result{}, err
			}
			var v driverResult
			if err := json.Unmarshal(out, &v); err != nil {
				return result{}, fmt.Errorf("%s: %v: %q", name, err, out)
			}
			return v.result(), nil
		}
	}
	if o.only["refresh"] {
		for _, st := range o.stores {
			s, f := b.servers[st], b.floors[st]
			ref := &refresher{base: s.url, tokens: s.refresh}
			add("refresh", "refresh/"+st+"/sessiond", httpTarget(s.proc, s.pprof, "refresh-"+st+"-sessiond", conc, wu, ref.step))
			fref := &refresher{base: f.url, tokens: f.tokens}
			add("refresh", "refresh/"+st+"/composite", httpTarget(f.proc, f.pprof, "refresh-"+st+"-composite", conc, wu, fref.step))
			if st == "bolt" {
				add("refresh", "refresh/bolt/batch", driver(st, "sdbench-driver-batch", o.boltBatch))
				add("refresh", "refresh/bolt/update", driver(st, "sdbench-driver-update", 0))
			} else {
				add("refresh", "refresh/"+st+"/driver", driver(st, "sdbench-driver", 0))
			}
		}
	}
	if o.only["verify"] {
		v := b.verify
		add("verify", "verify/bare", httpTarget(v.proc, v.pprof, "verify-bare", conc, wu, func(hc *http.Client) stepFunc {
			return getter(hc, v.url+"/bare", v.tokens[:1], conc, http.StatusNoContent)
		}))
		add("verify", "verify/httpauth-1", httpTarget(v.proc, v.pprof, "verify-httpauth-1", conc, wu, func(hc *http.Client) stepFunc {
			return getter(hc, v.url+"/auth", v.tokens[:1], conc, http.StatusNoContent)
		}))
		add("verify", "verify/httpauth-n", func(ctx context.Context, round int) (result, error) {
			// Every token is verified once before the window: the window
			// measures tokens in rotation that the middleware has seen.
			hc := client(conc)
			err := prime(ctx, hc, v.url+"/auth", v.tokens, conc, http.StatusNoContent)
			hc.CloseIdleConnections()
			if err != nil {
				return result{}, err
			}
			return httpTarget(v.proc, v.pprof, "verify-httpauth-n", conc, 0, func(hc *http.Client) stepFunc {
				return getter(hc, v.url+"/auth", v.tokens, conc, http.StatusNoContent)
			})(ctx, round)
		})
		for _, st := range o.stores {
			s := b.servers[st]
			var toks []string
			add("verify", "verify/session/"+st, func(ctx context.Context, round int) (result, error) {
				var err error
				if toks, _, _, err = s.mint(ctx, conc, 8); err != nil {
					return result{}, err
				}
				return httpTarget(s.proc, s.pprof, "verify-session-"+st, conc, wu, func(hc *http.Client) stepFunc {
					return getter(hc, s.url+"/v1/session", toks, conc, http.StatusOK)
				})(ctx, round)
			})
		}
	}
	if o.only["login"] {
		add("login", "login/argon2", func(ctx context.Context, round int) (result, error) {
			args := []string{b.self, cmdFloorDriver, "--store", "argon2", "--warmup", "0s", "--duration", d.String()}
			out, err := b.procs.runChild(ctx, fmt.Sprintf("argon2-r%d", round), args, []string{childEnv + "=1"}, d+5*time.Minute)
			if err != nil {
				return result{}, err
			}
			var v driverResult
			if err := json.Unmarshal(out, &v); err != nil {
				return result{}, fmt.Errorf("argon2 loop: %v: %q", err, out)
			}
			return v.result(), nil
		})
		// Each round logs in to a sessiond started for it (on bbolt in a
		// directory of its own), as each round runs the bare loop in a
		// process of its own: argon2id's speed differs by up to a fifth
		// from one process to the next (BENCHMARKS.md), so one sessiond
		// for every round would carry its process's luck into each.
		for _, st := range o.stores {
			add("login", "login/"+st, func(ctx context.Context, round int) (result, error) {
				url := b.storeURL(st)
				if st == "bolt" {
					url = "bolt://" + filepath.Join(b.dir, fmt.Sprintf("bolt-login-r%d", round))
				}
				s, err := b.startSessiondNamed(ctx, fmt.Sprintf("login-%s-r%d", st, round), st, url)
				if err != nil {
					return result{}, err
				}
				defer b.procs.stop(s.proc)
				if err := s.signupAccounts(ctx, o.loginConcurrency); err != nil {
					return result{}, err
				}
				return httpTarget(s.proc, s.pprof, "login-"+st, o.loginConcurrency, 0, func(hc *http.Client) stepFunc {
					return poster(hc, s.url+"/v1/login", func(w int) []byte { return []byte(s.accounts[w%len(s.accounts)]) }, http.StatusOK)
				})(ctx, round)
			})
		}
	}
}

// prime sends each token once, workers at a time, and wants status want.
func prime(ctx context.Context, hc *http.Client, url string, tokens []string, workers, want int) error {
	var (
		next atomic.Int64
		mu   sync.Mutex
		bad  string
		wg   sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= len(tokens) {
					return
				}
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
				req.Header.Set("Authorization", "Bearer "+tokens[i])
				if ok, what := do(hc, req, want); !ok {
					mu.Lock()
					bad = what
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if bad != "" {
		return fmt.Errorf("priming %s: %s", url, bad)
	}
	return ctx.Err()
}

func (v driverResult) result() result {
	sec := func(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }
	return result{ops: v.Ops, window: sec(v.Seconds), serverCPU: sec(v.CPUSeconds), serverRunWait: sec(v.RunWait),
		failures: v.Failures, failWhat: v.First}
}

// measure runs every target once per round, round-robin; odd rounds run
// each group in the opposite order, so no target always follows the same
// one.
func (b *bench) measure(ctx context.Context) error {
	for r := 1; r <= b.o.rounds; r++ {
		if b.verify != nil {
			// Access tokens live an hour: new ones every round.
			toks, err := b.verify.fetchTokens(ctx)
			if err != nil {
				return err
			}
			b.verify.tokens = toks
		}
		order := slices.Clone(b.targets)
		if r%2 == 0 {
			order = reverseWithinGroups(order)
		}
		for _, t := range order {
			b.logf("round %d/%d: %s", r, b.o.rounds, t.key)
			res, err := t.run(ctx, r)
			if err != nil {
				return fmt.Errorf("round %d, %s: %w", r, t.key, err)
			}
			if res.failures > 0 {
				b.logf("  %d failures, the first: %s", res.failures, res.failWhat)
			}
			b.logf("  %.0f/s", res.rate())
			b.results[t.key] = append(b.results[t.key], res)
		}
	}
	if b.o.only["memory"] && b.o.has("redis") {
		m, err := b.measureMemory(ctx)
		if err != nil {
			return fmt.Errorf("redis memory: %w", err)
		}
		b.memory = m
	}
	return nil
}

func reverseWithinGroups(ts []target) []target {
	var out []target
	for i := 0; i < len(ts); {
		j := i
		for j < len(ts) && ts[j].group == ts[i].group {
			j++
		}
		g := slices.Clone(ts[i:j])
		slices.Reverse(g)
		out = append(out, g...)
		i = j
	}
	return out
}

// fetchTokens has the verify floor mint new sessions and returns their
// access tokens.
func (f *floorServer) fetchTokens(ctx context.Context) ([]string, error) {
	hc := client(1)
	defer hc.CloseIdleConnections()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, f.url+"/tokens", nil)
	res, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil || res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("verify floor tokens: status %d: %v %s", res.StatusCode, err, clip(raw))
	}
	return strings.Fields(string(raw)), nil
}

// profiler returns a function that starts fetching a CPU profile of the
// window from a pprof listener, and one that waits for it to be written.
func (b *bench) profiler(ctx context.Context, addr, name string) (start func(), wait func() error) {
	done := make(chan error, 1)
	start = func() {
		go func() {
			secs := int(b.o.duration.Round(time.Second) / time.Second)
			secs = max(secs, 1)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, secs), nil)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- err
				return
			}
			defer res.Body.Close()
			if err := os.MkdirAll(b.o.profile, 0o755); err != nil {
				done <- err
				return
			}
			f, err := os.Create(filepath.Join(b.o.profile, name+".pprof"))
			if err != nil {
				done <- err
				return
			}
			_, err = io.Copy(f, res.Body)
			done <- errors.Join(err, f.Close())
		}()
	}
	return start, func() error { return <-done }
}
