package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
)

// The JWKS interop tests run the real server (run "serve" on memory://, the
// JWKS cached for 2 s) and check its tokens with two real JWKS-caching
// verifiers that fetch the key set once and never refetch during the test,
// not even for an unknown kid:
//
//   - Go: github.com/MicahParks/keyfunc/v3 over a jwkset HTTP storage
//     (refresh every hour, no unknown-kid refresh) with golang-jwt/jwt/v5;
//   - Node: npm jose createRemoteJWKSet with cooldownDuration and
//     cacheMaxAge of an hour (testdata/jwks-interop/verifier.mjs, installed
//     with npm ci from its package-lock.json into a temporary folder).
//
// verifier_algorithms_test.go adds npm jsonwebtoken with jwks-rsa, from
// the same folder, and checks each algorithm with all three.
//
// Node and npm are required: without them the test fails.

const (
	interopAdminToken = "interop-admin-token-0123456789abcdef0123"
	interopIssuer     = "https://sessiond.interop.test"
	interopAudience   = "interop-api"
)

// A scheduled or admin rotation publishes the new key before it signs: a
// client that fetched the JWKS right after the rotation accepts the first
// token the new key signs, from its cache.
func TestJWKSCachingClientsAcceptTokenSignedRightAfterRotation(t *testing.T) {
	interopNodeDir(t) // npm ci before the clock starts
	srv := startInteropServer(t)
	oldKID := srv.activeKID()

	rotated := srv.admin("POST", "/admin/v1/keys/rotate")
	pending := interopFindKey(rotated, func(k interopKey) bool { return k.ID != oldKID })
	if pending == nil || pending.Active || pending.ActivatesAt == nil || !pending.ActivatesAt.After(time.Now()) {
		t.Fatalf("POST /admin/v1/keys/rotate answered %+v; want a new key, not active yet, with activates_at in the future (old key %s)", rotated, oldKID)
	}
	newKID := pending.ID

	// Both clients fetch the JWKS now, after the rotation, and cache it.
	goClient := newInteropGoClient(t, srv.jwksURL())
	nodeClient := startInteropNodeClient(t, srv.jwksURL())
	if kids := nodeClient.fetch(); !slices.Contains(kids, newKID) || !slices.Contains(kids, oldKID) {
		t.Fatalf("jose fetched kids %v; want the old %s and the pending %s", kids, oldKID, newKID)
	}
	if !goClient.has(newKID) {
		t.Fatalf("keyfunc did not cache the pending key %s", newKID)
	}
	// The clients cached the set while the new key was still pending.
	if k := interopFindKey(srv.admin("GET", "/admin/v1/keys"), func(k interopKey) bool { return k.ID == newKID }); k == nil || k.Active {
		t.Fatalf("key %s already active when the clients had fetched the JWKS: %+v", newKID, k)
	}

	srv.waitActive(newKID, 30*time.Second)
	tok := srv.login()
	if kid := interopKID(t, tok); kid != newKID || kid == oldKID {
		t.Fatalf("token signed by %q; want the new key %s (old %s)", kid, newKID, oldKID)
	}

	if err := goClient.verify(tok); err != nil {
		t.Errorf("keyfunc refused a token of the pre-published key: %v", err)
	}
	if n := goClient.fetches.Load(); n != 1 {
		t.Errorf("keyfunc fetched the JWKS %d times; want 1 (the token must verify from its cache)", n)
	}
	if got := nodeClient.verify(tok); !got.OK || got.Kid != newKID || got.Fetches != 1 {
		t.Errorf("jose: %+v; want ok for kid %s with the JWKS fetched once", got, newKID)
	}
}

// The control: an immediate rotation (?now=1, after a key compromise)
// makes a client that cached the JWKS just before it refuse the new token,
// while a client that fetches afresh accepts it. This shows the test above
// can fail and that these clients verify from their caches.
func TestJWKSCachingClientsRefuseTokenAfterImmediateRotation(t *testing.T) {
	interopNodeDir(t)
	srv := startInteropServer(t)
	oldKID := srv.activeKID()

	goClient := newInteropGoClient(t, srv.jwksURL())
	nodeClient := startInteropNodeClient(t, srv.jwksURL())
	if kids := nodeClient.fetch(); !slices.Equal(kids, []string{oldKID}) {
		t.Fatalf("jose fetched kids %v; want only %s", kids, oldKID)
	}

	rotated := srv.admin("POST", "/admin/v1/keys/rotate?now=1")
	active := interopFindKey(rotated, func(k interopKey) bool { return k.Active })
	if active == nil || active.ID == oldKID {
		t.Fatalf("POST /admin/v1/keys/rotate?now=1 answered %+v; want a new key active at once (old key %s)", rotated, oldKID)
	}
	tok := srv.login()
	if kid := interopKID(t, tok); kid != active.ID {
		t.Fatalf("token signed by %q; want the new key %s", kid, active.ID)
	}

	if err := goClient.verify(tok); err == nil || !errors.Is(err, jwkset.ErrKeyNotFound) {
		t.Errorf("keyfunc with the JWKS cached before the rotation: %v; want the kid not found", err)
	}
	if n := goClient.fetches.Load(); n != 1 {
		t.Errorf("keyfunc fetched the JWKS %d times; want 1", n)
	}
	if got := nodeClient.verify(tok); got.OK || got.Code != "ERR_JWKS_NO_MATCHING_KEY" || got.Fetches != 1 {
		t.Errorf("jose with the JWKS cached before the rotation: %+v; want ERR_JWKS_NO_MATCHING_KEY without a refetch", got)
	}

	// The same token is good: a client that fetches now accepts it.
	if err := newInteropGoClient(t, srv.jwksURL()).verify(tok); err != nil {
		t.Errorf("a fresh keyfunc refused the token: %v", err)
	}
	fresh := startInteropNodeClient(t, srv.jwksURL())
	fresh.fetch()
	if got := fresh.verify(tok); !got.OK {
		t.Errorf("a fresh jose refused the token: %+v", got)
	}
}

// interopServer is `sessiond serve` run in-process through run.
type interopServer struct {
	t    *testing.T
	base string
}

// syncBuffer is a bytes.Buffer safe for the server's log writes while the
// test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startInteropServer runs serve on memory:// with the interop issuer and
// audience, the JWKS cached for 2 s, and the extra flags given.
func startInteropServer(t *testing.T, extra ...string) *interopServer {
	t.Helper()
	p := startStore(t, "memory://", []string{"SESSIOND_ADMIN_TOKEN=" + interopAdminToken},
		append([]string{"--jwks-max-age", "2s", "--key-reload", "1s", "--issuer", interopIssuer, "--audience", interopAudience, "--log-format", "text"}, extra...)...)
	return &interopServer{t: t, base: p.base}
}

func (s *interopServer) jwksURL() string { return s.base + "/.well-known/jwks.json" }

// interopKey is one key of the admin API's key list.
type interopKey struct {
	ID          string     `json:"kid"`
	Alg         string     `json:"alg"`
	Active      bool       `json:"active"`
	ActivatesAt *time.Time `json:"activates_at"`
	RetireAt    *time.Time `json:"retire_at"`
}

func interopFindKey(keys []interopKey, match func(interopKey) bool) *interopKey {
	for i := range keys {
		if match(keys[i]) {
			return &keys[i]
		}
	}
	return nil
}

func (s *interopServer) do(method, path, bearer string, body any) (int, []byte) {
	s.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			s.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.base+path, rd)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return res.StatusCode, b
}

// admin calls the admin API and returns the key list of its answer.
func (s *interopServer) admin(method, path string) []interopKey {
	s.t.Helper()
	code, b := s.do(method, path, interopAdminToken, nil)
	var v struct {
		Keys []interopKey `json:"keys"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &v) != nil {
		s.t.Fatalf("%s %s: %d %s", method, path, code, b)
	}
	return v.Keys
}

func (s *interopServer) activeKID() string {
	s.t.Helper()
	keys := s.admin("GET", "/admin/v1/keys")
	k := interopFindKey(keys, func(k interopKey) bool { return k.Active })
	if k == nil {
		s.t.Fatalf("no active key in %+v", keys)
	}
	return k.ID
}

// waitActive polls the admin key list until kid is the active key.
func (s *interopServer) waitActive(kid string, limit time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(limit)
	for {
		keys := s.admin("GET", "/admin/v1/keys")
		if k := interopFindKey(keys, func(k interopKey) bool { return k.ID == kid }); k != nil && k.Active {
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("key %s not active within %v: %+v", kid, limit, keys)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var interopUsers atomic.Int32

// login signs up a fresh user, logs in and returns the access token.
func (s *interopServer) login() string {
	s.t.Helper()
	cred := map[string]string{
		"email":    fmt.Sprintf("interop%d@example.com", interopUsers.Add(1)),
		"password": "correct horse battery staple",
	}
	if code, b := s.do("POST", "/v1/signup", "", cred); code != http.StatusCreated {
		s.t.Fatalf("signup: %d %s", code, b)
	}
	code, b := s.do("POST", "/v1/login", "", cred)
	var v struct {
		AccessToken string `json:"access_token"`
	}
	if code != http.StatusOK || json.Unmarshal(b, &v) != nil || v.AccessToken == "" {
		s.t.Fatalf("login: %d %s", code, b)
	}
	return v.AccessToken
}

// interopKID reads the kid of a token's header, without verifying it.
func interopKID(t *testing.T, tok string) string {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var v struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("token header %s: %v", raw, err)
	}
	return v.Kid
}

// interopGoClient is keyfunc/v3 over a jwkset HTTP storage that fetches
// the JWKS when built, refreshes it hourly and never on an unknown kid.
type interopGoClient struct {
	kf      keyfunc.Keyfunc
	fetches *atomic.Int32
}

type countingTransport struct{ n *atomic.Int32 }

func (c countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.URL.Path == "/.well-known/jwks.json" {
		c.n.Add(1)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func newInteropGoClient(t *testing.T, url string) *interopGoClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	n := &atomic.Int32{}
	storage, err := jwkset.NewStorageFromHTTP(url, jwkset.HTTPClientStorageOptions{
		Client:          &http.Client{Transport: countingTransport{n}, Timeout: 10 * time.Second},
		Ctx:             ctx,
		RefreshInterval: time.Hour,
	})
	if err != nil {
		t.Fatalf("jwkset: %v", err)
	}
	// RefreshUnknownKID nil: an unknown kid is refused from the cache.
	client, err := jwkset.NewHTTPClient(jwkset.HTTPClientOptions{HTTPURLs: map[string]jwkset.Storage{url: storage}})
	if err != nil {
		t.Fatalf("jwkset client: %v", err)
	}
	kf, err := keyfunc.New(keyfunc.Options{Ctx: ctx, Storage: client})
	if err != nil {
		t.Fatalf("keyfunc: %v", err)
	}
	return &interopGoClient{kf: kf, fetches: n}
}

func (c *interopGoClient) has(kid string) bool {
	_, err := c.kf.Storage().KeyRead(context.Background(), kid)
	return err == nil
}

func (c *interopGoClient) verify(tok string) error {
	_, err := jwt.Parse(tok, c.kf.Keyfunc,
		jwt.WithValidMethods([]string{"ES256", "EdDSA", "RS256"}),
		jwt.WithIssuer(interopIssuer), jwt.WithAudience(interopAudience),
		jwt.WithExpirationRequired(), jwt.WithIssuedAt())
	return err
}

// interopNodeClient is testdata/jwks-interop/verifier.mjs run by node.
type interopNodeClient struct {
	t     *testing.T
	in    io.Writer
	lines chan string
	errs  *syncBuffer
}

type interopNodeAnswer struct {
	OK      bool     `json:"ok"`
	Kid     string   `json:"kid"`
	Kids    []string `json:"kids"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Fetches int      `json:"fetches"`
}

var (
	interopNPMOnce sync.Once
	interopNPMDir  string
	interopNPMErr  error
)

// interopNodeDir installs the Node verifiers (npm ci from their lock
// file) into a temporary folder, once per test binary.
func interopNodeDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the JWKS interop test needs %s (Node 20 or later) on PATH: %v", tool, err)
		}
	}
	interopNPMOnce.Do(func() {
		dir, err := os.MkdirTemp("", "sessiond-jwks-interop")
		if err != nil {
			interopNPMErr = err
			return
		}
		for _, f := range []string{"package.json", "package-lock.json", "verifier.mjs", "jsonwebtoken-verifier.mjs"} {
			b, err := os.ReadFile(filepath.Join("testdata", "jwks-interop", f))
			if err == nil {
				err = os.WriteFile(filepath.Join(dir, f), b, 0o644)
			}
			if err != nil {
				interopNPMErr = err
				return
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			interopNPMErr = errors.New("npm ci: " + err.Error() + ": " + string(out))
			return
		}
		interopNPMDir = dir
	})
	if interopNPMErr != nil {
		t.Fatal(interopNPMErr)
	}
	return interopNPMDir
}

func startInteropNodeClient(t *testing.T, url string) *interopNodeClient {
	t.Helper()
	dir := interopNodeDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, "node", "verifier.mjs", url, interopIssuer, interopAudience)
	cmd.Dir = dir
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	errs := &syncBuffer{}
	cmd.Stderr = errs
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	t.Cleanup(func() { in.Close(); cancel(); _ = cmd.Wait() })
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	return &interopNodeClient{t: t, in: in, lines: lines, errs: errs}
}

func (c *interopNodeClient) ask(cmd string) interopNodeAnswer {
	c.t.Helper()
	if _, err := io.WriteString(c.in, cmd+"\n"); err != nil {
		c.t.Fatalf("node verifier: %v; stderr: %s", err, c.errs)
	}
	select {
	case line, ok := <-c.lines:
		if !ok {
			c.t.Fatalf("node verifier exited; stderr: %s", c.errs)
		}
		var a interopNodeAnswer
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			c.t.Fatalf("node verifier said %q: %v", line, err)
		}
		return a
	case <-time.After(30 * time.Second):
		c.t.Fatalf("node verifier did not answer %q; stderr: %s", strings.Fields(cmd)[0], c.errs)
	}
	return interopNodeAnswer{}
}

// fetch makes jose fetch and cache the JWKS now; it returns the cached kids.
func (c *interopNodeClient) fetch() []string {
	c.t.Helper()
	a := c.ask("fetch")
	if !a.OK {
		c.t.Fatalf("jose could not fetch the JWKS: %+v", a)
	}
	return a.Kids
}

func (c *interopNodeClient) verify(tok string) interopNodeAnswer {
	c.t.Helper()
	return c.ask("verify " + tok)
}
