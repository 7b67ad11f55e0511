package main

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	_ "net/http/pprof" // served only on --pprof-addr, never on a benchmark address
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/httpauth"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

// childFlags are the flags every child command shares.
type childFlags struct {
	store, url, prefix, dir string
	workers, batch          int
	sessions                int
	tokensFile, alg         string
	addr, pprofAddr         string
	warmup, duration        time.Duration
}

func parseChild(name string, args []string) (*childFlags, error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	c := &childFlags{}
	fs.StringVar(&c.store, "store", "", "bolt, redis, postgres (or argon2 for the driver loop)")
	fs.StringVar(&c.url, "url", "", "the store's URL")
	fs.StringVar(&c.prefix, "prefix", "", "Redis key prefix, PostgreSQL schema or bbolt file name")
	fs.StringVar(&c.dir, "dir", "", "bbolt directory")
	fs.IntVar(&c.workers, "workers", 64, "concurrent calls (pool size)")
	fs.IntVar(&c.batch, "batch", 0, "bbolt: most calls in one group commit (0: one fsync'd Update per call)")
	fs.IntVar(&c.sessions, "sessions", 64, "sessions (or tokens) to make")
	fs.StringVar(&c.tokensFile, "tokens-file", "", "where to write the tokens, one a line")
	fs.StringVar(&c.alg, "alg", "ES256", "signing algorithm, ES256 or EdDSA")
	fs.StringVar(&c.addr, "addr", "127.0.0.1:0", "listen address (loopback)")
	fs.StringVar(&c.pprofAddr, "pprof-addr", "", "serve net/http/pprof on this loopback address")
	fs.DurationVar(&c.warmup, "warmup", time.Second, "driver loop: time before the window")
	fs.DurationVar(&c.duration, "duration", 10*time.Second, "driver loop: the window")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	for _, a := range []string{c.addr, c.pprofAddr} {
		if a != "" && !loopbackAddr(a) {
			return nil, fmt.Errorf("%w: %s is not a loopback address", errUsage, a)
		}
	}
	return c, nil
}

// serve listens on addr, prints the listening line bench waits for, and
// serves h until ctx ends; with pprofAddr it serves net/http/pprof there.
func serve(ctx context.Context, addr, pprofAddr string, h http.Handler, stdout io.Writer) error {
	if pprofAddr != "" {
		pl, err := net.Listen("tcp", pprofAddr)
		if err != nil {
			return err
		}
		defer pl.Close()
		go func() { _ = http.Serve(pl, http.DefaultServeMux) }()
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "listening on http://%s\n", ln.Addr())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	}
}

// floorRefreshToken is a floor's refresh token: "sdrt_" and base64url of
// the 16-byte session id and 32 random bytes.
func floorRefreshToken(id []byte) string {
	raw := make([]byte, 48)
	copy(raw, id)
	_, _ = rand.Read(raw[16:])
	return "sdrt_" + base64.RawURLEncoding.EncodeToString(raw)
}

func hashToken(t string) []byte {
	h := sha256.Sum256([]byte(t))
	return h[:]
}

// makeSessions creates n sessions in st, one user each, and returns their
// refresh tokens.
func makeSessions(ctx context.Context, st floorStore, n int) ([]string, error) {
	toks := make([]string, n)
	now := time.Now().Truncate(time.Microsecond)
	for i := range toks {
		id, raw := newSessionID()
		user, _ := newSessionID()
		toks[i] = floorRefreshToken(raw)
		if err := st.create(ctx, id, user, hashToken(toks[i]), now); err != nil {
			return nil, fmt.Errorf("create session: %w", err)
		}
	}
	return toks, nil
}

func writeTokens(path string, toks []string) error {
	return os.WriteFile(path, []byte(strings.Join(toks, "\n")+"\n"), 0o600)
}

// floorServerMain is the composite floor of a refresh: a plain net/http
// server that does only what a refresh cannot avoid. It decodes the same
// JSON body sessiond's POST /v1/refresh takes, makes the one store call of
// floorStore.rotate, signs one access token with sessiond's claims and
// algorithm, and encodes the same answer.
func floorServerMain(ctx context.Context, args []string, stdout io.Writer) error {
	c, err := parseChild(cmdFloorServer, args)
	if err != nil {
		return err
	}
	st, err := openFloorStore(ctx, c.store, c.url, c.prefix, c.dir, c.workers, c.batch)
	if err != nil {
		return err
	}
	defer st.close()
	signer, err := newFloorSigner(c.alg)
	if err != nil {
		return err
	}
	toks, err := makeSessions(ctx, st, c.sessions)
	if err != nil {
		return err
	}
	if err := writeTokens(c.tokensFile, toks); err != nil {
		return err
	}
	f := &compositeFloor{store: st, signer: signer}
	mux := http.NewServeMux()
	mux.Handle("POST /v1/refresh", f)
	return serve(ctx, c.addr, c.pprofAddr, mux, stdout)
}

type compositeFloor struct {
	store  floorStore
	signer *floorSigner
}

// floorAnswer is sessiond's answer to a refresh, field for field.
type floorAnswer struct {
	AccessToken  string `json:"access_token"`
	TokenType    string `json:"token_type"`
	ExpiresIn    int64  `json:"expires_in"`
	RefreshToken string `json:"refresh_token"`
	SessionID    string `json:"session_id"`
}

func (f *compositeFloor) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		floorError(w, http.StatusUnsupportedMediaType, "Content-Type must be application/json")
		return
	}
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		floorError(w, http.StatusBadRequest, "malformed JSON body")
		return
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(req.RefreshToken, "sdrt_"))
	if err != nil || len(raw) != 48 {
		floorError(w, http.StatusUnauthorized, "malformed refresh token")
		return
	}
	sid := base64.RawURLEncoding.EncodeToString(raw[:16])
	child := floorRefreshToken(raw[:16])
	now := time.Now().Truncate(time.Microsecond)
	rec, err := f.store.rotate(r.Context(), sid, hashToken(req.RefreshToken), hashToken(child), now)
	if err != nil {
		floorError(w, http.StatusServiceUnavailable, "store: "+err.Error())
		return
	}
	at, expiresIn, err := f.signer.sign(sid, rec, now)
	if err != nil {
		floorError(w, http.StatusInternalServerError, err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	_ = json.NewEncoder(w).Encode(floorAnswer{AccessToken: at, TokenType: "Bearer", ExpiresIn: expiresIn, RefreshToken: child, SessionID: sid})
}

func floorError(w http.ResponseWriter, code int, desc string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": "floor", "error_description": desc})
}

// driverResult is what a driver loop prints: one JSON line.
type driverResult struct {
	Ops        int     `json:"ops"`
	Seconds    float64 `json:"seconds"`
	CPUSeconds float64 `json:"cpu_seconds"`
	RunWait    float64 `json:"run_wait_seconds"`
	Failures   int     `json:"failures"`
	First      string  `json:"first_failure,omitempty"`
}

// floorDriverMain is the bare driver floor: workers goroutines each making
// floorStore.rotate on a session of its own, with no HTTP, no JSON and no
// signature; or, for --store argon2, a bare argon2id loop with sessiond's
// parameters, as many at once as sessiond hashes (GOMAXPROCS). It runs one
// window and prints a driverResult.
func floorDriverMain(ctx context.Context, args []string, stdout io.Writer) error {
	c, err := parseChild(cmdFloorDriver, args)
	if err != nil {
		return err
	}
	var step stepFunc
	workers := c.workers
	if c.store == "argon2" {
		// account.Service hashes at most GOMAXPROCS passwords at once.
		workers = runtime.GOMAXPROCS(0)
		p := account.DefaultParams
		salt := make([]byte, p.SaltLen)
		_, _ = rand.Read(salt)
		step = func(context.Context, int) (bool, string) {
			argon2.IDKey([]byte("load-test password 1"), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
			return true, ""
		}
	} else {
		st, err := openFloorStore(ctx, c.store, c.url, c.prefix, c.dir, workers, c.batch)
		if err != nil {
			return err
		}
		defer st.close()
		toks, err := makeSessions(ctx, st, workers)
		if err != nil {
			return err
		}
		ids := make([]string, workers)
		prev := make([][]byte, workers)
		for i, t := range toks {
			raw, _ := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(t, "sdrt_"))
			ids[i] = base64.RawURLEncoding.EncodeToString(raw[:16])
			prev[i] = hashToken(t)
		}
		step = func(ctx context.Context, w int) (bool, string) {
			var next [32]byte
			_, _ = rand.Read(next[:])
			if _, err := st.rotate(ctx, ids[w], prev[w], next[:], time.Now().Truncate(time.Microsecond)); err != nil {
				return false, err.Error()
			}
			prev[w] = next[:]
			return true, ""
		}
	}
	res := window(ctx, workers, c.warmup, c.duration, step, nil, nil)
	if err := ctx.Err(); err != nil {
		return err
	}
	return json.NewEncoder(stdout).Encode(driverResult{Ops: res.ops, Seconds: res.window.Seconds(),
		CPUSeconds: res.serverCPU.Seconds(), RunWait: res.serverRunWait.Seconds(), Failures: res.failures, First: res.failWhat})
}

// verifyServerMain serves the floors of a verified call: GET /bare, a bare
// net/http handler answering 204, and GET /auth, the same handler behind
// httpauth's Require on a session.Manager (memstore; Verify reads no
// store), as an application embeds it. GET /tokens mints --sessions new
// sessions (one user each) and answers their access tokens, one a line.
func verifyServerMain(ctx context.Context, args []string, stdout io.Writer) error {
	c, err := parseChild(cmdVerifyServer, args)
	if err != nil {
		return err
	}
	keys, err := token.NewKeyRing(token.Algorithm(c.alg), time.Now())
	if err != nil {
		return err
	}
	refKey := make([]byte, 32)
	_, _ = rand.Read(refKey)
	m, err := session.New(ctx, session.Config{Store: memstore.New(), Keys: keys, Issuer: node.DefaultIssuer,
		Audience: node.DefaultAudience, RefreshKey: refKey, Policy: session.Policy{AccessTTL: time.Hour}})
	if err != nil {
		return err
	}
	defer m.Close()
	bare := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) })
	var (
		mu    sync.Mutex
		batch int
	)
	mux := http.NewServeMux()
	mux.Handle("GET /bare", bare)
	mux.Handle("GET /auth", httpauth.New(m).Require(bare))
	mux.HandleFunc("GET /tokens", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		batch++
		b := batch
		mu.Unlock()
		var sb strings.Builder
		for i := range c.sessions {
			t, err := m.Login(r.Context(), fmt.Sprintf("verify-%d-%d", b, i), session.Meta{IP: "127.0.0.1", UserAgent: browserUA})
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			sb.WriteString(t.AccessToken)
			sb.WriteByte('\n')
		}
		_, _ = io.WriteString(w, sb.String())
	})
	return serve(ctx, c.addr, c.pprofAddr, mux, stdout)
}

// loopbackAddr reports whether addr (host:port) is on loopback.
func loopbackAddr(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && loopbackHost(host)
}

func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

var errNotLoopback = errors.New("not a loopback address: bench sends load to this machine only")
