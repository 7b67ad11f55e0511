package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sessiond-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "sessiond")
	if out, err := exec.Command("go", "build", "-buildvcs=true", "-o", binary, ".").CombinedOutput(); err != nil {
		os.Stderr.Write(out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	line string // the listening line serve printed
	errs *bytes.Buffer
}

var listenLine = regexp.MustCompile(`listening on (http://\S+)`)

// start runs `sessiond serve` on a free port with the data in dir.
func start(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	return startStore(t, "bolt://"+dir, nil, extra...)
}

// startStore runs `sessiond serve` on a free port on the store at url,
// with env added to the environment.
func startStore(t *testing.T, url string, env []string, extra ...string) *proc {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"serve", "--store", url}, extra...)...)
	cmd.Env = append(append(os.Environ(), "SESSIOND_ADDR=127.0.0.1:0"), env...)
	stdout, _ := cmd.StdoutPipe()
	errs := &bytes.Buffer{}
	cmd.Stderr = errs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proc{t: t, cmd: cmd, errs: errs}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(stdout)
		s, _ := r.ReadString('\n')
		line <- s
		_, _ = io.Copy(io.Discard, r)
	}()
	select {
	case s := <-line:
		m := listenLine.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("serve printed %q; stderr: %s", s, errs)
		}
		p.base, p.line = m[1], s
	case <-time.After(30 * time.Second):
		t.Fatalf("serve did not start; stderr: %s", errs)
	}
	return p
}

func (p *proc) call(method, path, bearer string, body any) (int, map[string]any) {
	p.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, p.base+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	var v map[string]any
	_ = json.NewDecoder(res.Body).Decode(&v)
	return res.StatusCode, v
}

func s(v map[string]any, k string) string { x, _ := v[k].(string); return x }

// TestKillDashNine: a kill -9 and a restart on the same data directory keep
// sessions, refresh tokens and issued access tokens working, and revoked
// sessions revoked.
func TestKillDashNine(t *testing.T) {
	dir := t.TempDir()
	p := start(t, dir)
	cred := map[string]string{"email": "kim@example.com", "password": "correct horse battery"}
	if code, v := p.call("POST", "/v1/signup", "", cred); code != 201 {
		t.Fatalf("signup %d %v", code, v)
	}
	_, a := p.call("POST", "/v1/login", "", cred)
	_, b := p.call("POST", "/v1/login", "", cred)
	code, a1 := p.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": s(a, "refresh_token")})
	if code != 200 {
		t.Fatalf("refresh %d %v", code, a1)
	}
	if code, _ := p.call("POST", "/v1/logout", s(b, "access_token"), nil); code != 200 {
		t.Fatalf("logout %d", code)
	}

	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
	q := start(t, dir)

	if code, v := q.call("GET", "/v1/session", s(a1, "access_token"), nil); code != 200 || s(v, "id") != s(a, "session_id") {
		t.Fatalf("access token issued before the crash: %d %v", code, v)
	}
	if code, _ := q.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": s(a1, "refresh_token")}); code != 200 {
		t.Fatalf("refresh token issued before the crash: %d", code)
	}
	if code, _ := q.call("GET", "/v1/session", s(b, "access_token"), nil); code != 401 {
		t.Fatalf("revoked session's access token after restart: %d", code)
	}
	if code, _ := q.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": s(b, "refresh_token")}); code != 401 {
		t.Fatalf("revoked session's refresh token after restart: %d", code)
	}
	// A stolen-and-replayed token from before the crash is still theft.
	if code, _ := q.call("POST", "/v1/refresh", "", map[string]string{"refresh_token": s(a, "refresh_token")}); code != 401 {
		t.Fatalf("replayed pre-crash parent: %d", code)
	}

	// A second server on the same data directory is refused clearly.
	second := exec.Command(binary, "serve", "--store", "bolt://"+dir, "--addr", "127.0.0.1:0")
	out, err := second.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "in use") {
		t.Fatalf("second serve on the same directory: %v %s", err, out)
	}
}

func TestGracefulShutdown(t *testing.T) {
	p := start(t, t.TempDir())
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v; %s", err, p.errs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no exit after SIGTERM")
	}
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	store := "bolt://" + dir
	tests := []struct {
		name  string
		args  []string
		stdin string
		code  int
		out   string // regexp the stdout must match
		err   string // regexp the stderr must match
	}{
		{"version from the build info", []string{"version"}, "", 0, `^sessiond (v\d|devel-[0-9a-f]{12})`, ``},
		{"serve help", []string{"serve", "-h"}, "", 0, `(?s)--allow-signup\n.*--jwks-max-age duration.*--key-reload duration`, ``},
		{"no command", nil, "", 2, ``, `no command`},
		{"unknown command", []string{"frobnicate"}, "", 2, ``, `unknown command "frobnicate"`},
		{"bad flag", []string{"serve", "--nope"}, "", 2, ``, `flag provided but not defined`},
		{"bad duration", []string{"serve", "--access-ttl", "soon"}, "", 2, ``, `invalid value`},
		{"access ttl over the cap", []string{"serve", "--store", store, "--access-ttl", "2h"}, "", 2, ``, `access TTL`},
		{"grace over the cap", []string{"serve", "--store", "memory://", "--refresh-grace", "5m"}, "", 2, ``, `refresh grace`},
		{"no re-authentication limit", []string{"serve", "--store", "memory://", "--reauth-max-age", "0"}, "", 2, ``, `--reauth-max-age 0s: want at least 1s`},
		{"a re-authentication limit under a second", []string{"serve", "--store", "memory://", "--reauth-max-age", "500ms"}, "", 2, ``, `--reauth-max-age 500ms`},
		{"a reserved claim name", []string{"serve", "--store", "memory://", "--claims", "role,sub"}, "", 2, ``, `claim name`},
		{"a secret-looking claim name", []string{"serve", "--store", "memory://", "--claims", "api_token"}, "", 2, ``, `claim name`},
		{"claims cap over the limit", []string{"serve", "--store", "memory://", "--claims-max-bytes", "4096"}, "", 2, ``, `claims cap`},
		{"a clients file that is missing", []string{"serve", "--store", "memory://", "--clients", "/nonexistent/clients.json"}, "", 2, ``, `--clients`},
		{"HS256 refused in server mode", []string{"serve", "--store", "memory://", "--signing-alg", "HS256"}, "", 2, ``, `library mode`},
		{"plain HTTP off loopback", []string{"serve", "--store", "memory://", "--addr", "0.0.0.0:0"}, "", 2, ``, `not a loopback address and serves plain HTTP.*--insecure-http`},
		{"bad store", []string{"gc", "--store", "ftp://x"}, "", 2, ``, `unknown scheme`},
		{"bolt store without a directory", []string{"users", "list", "--store", "bolt://"}, "", 2, ``, `needs a directory`},
		{"shared store without a master key", []string{"gc", "--store", "redis://127.0.0.1:1/0"}, "", 2, ``, `SESSIOND_MASTER_KEY`},
		{"unreachable store is a failure", []string{"gc", "--store", "redis://127.0.0.1:1/0"}, "", 1, ``, `cannot reach`},
		{"users add", []string{"users", "add", "--store", store, "lee@example.com"}, "correct horse battery\n", 0, `^\S{22}\n$`, ``},
		{"users add a taken email", []string{"users", "add", "--store", store, "lee@example.com"}, "another good password\n", 1, ``, `already registered`},
		{"users add weak password", []string{"users", "add", "--store", store, "lou@example.com"}, "short\n", 1, ``, `password`},
		{"users list", []string{"users", "list", "--store", store}, "", 0, `lee@example.com`, ``},
		{"users claims", []string{"users", "claims", "--store", store, "--claims", "role", "lee@example.com", `{"role":"admin"}`}, "", 0, `^set the claims of \S{22} \(lee@example.com\) and updated 0 sessions\n$`, ``},
		{"users claims --revoke", []string{"users", "claims", "--store", store, "--claims", "role", "--revoke", "lee@example.com", `{}`}, "", 0, `and revoked 0 sessions\n$`, ``},
		{"users claims of no account", []string{"users", "claims", "--store", store, "nobody@example.com", `{}`}, "", 1, ``, `no account "nobody@example.com"`},
		{"users claims over the cap", []string{"users", "claims", "--store", store, "--claims", "role", "lee@example.com", `{"role":"` + strings.Repeat("x", 1100) + `"}`}, "", 2, ``, `the cap is 1024`},
		{"sessions list needs a user", []string{"sessions", "list", "--store", store}, "", 2, ``, `--user`},
		{"sessions revoke needs one selector", []string{"sessions", "revoke", "--store", store}, "", 2, ``, `exactly one`},
		{"keys list: a new ring is ES256", []string{"keys", "list", "--store", store}, "", 0, `^KID[^\n]*\n\S+\s+ES256\s+\S+\s+true\s[^\n]*\n$`, ``},
		{"keys rotate keeps the ring's algorithm", []string{"keys", "rotate", "--store", store}, "", 0, `^KID[^\n]*\n\S+\s+ES256\s+\S+\s+false\s[^\n]*\n\S+\s+ES256\s+\S+\s+true\s[^\n]*\n$`, ``},
		{"keys rotate --signing-alg changes it", []string{"keys", "rotate", "--store", store, "--now", "--signing-alg", "EdDSA"}, "", 0, `^KID[^\n]*\n\S+\s+EdDSA\s+\S+\s+true\s[^\n]*\n\S+\s+ES256\s+\S+\s+false\s[^\n]*\n$`, ``},
		{"keys rotate then keeps the new one", []string{"keys", "rotate", "--store", store, "--now"}, "", 0, `^KID[^\n]*\n\S+\s+EdDSA\s+\S+\s+true\s[^\n]*\n\S+\s+EdDSA\s+\S+\s+false\s`, ``},
		{"gc", []string{"gc", "--store", store}, "", 0, `deleted 0 expired sessions`, ``},
		{"migrate on bolt", []string{"migrate", "--store", store}, "", 2, ``, `postgres`},
		{"env twin", []string{"gc"}, "", 2, ``, `unknown scheme "nope"`},
		// Bad usage changes nothing: these use the default store in the
		// working directory, which must stay empty.
		{"users: unknown subcommand", []string{"users", "frobnicate"}, "", 2, ``, `want add, list, delete, claims or reset-link`},
		{"users add without an email", []string{"users", "add"}, "", 2, ``, `users add <email>`},
		{"users delete without an id", []string{"users", "delete"}, "", 2, ``, `users delete <id>`},
		{"users claims without the claims", []string{"users", "claims", "lee@example.com"}, "", 2, ``, `users claims <email-or-id>`},
		{"users claims not an object", []string{"users", "claims", "--claims", "role", "lee@example.com", `["admin"]`}, "", 2, ``, `not a JSON object`},
		{"users claims of a claim not configured", []string{"users", "claims", "lee@example.com", `{"role":"admin"}`}, "", 2, ``, `claim "role" is not one --claims names`},
		{"users claims with a claim name given twice", []string{"users", "claims", "--claims", "role,role", "lee@example.com", `{}`}, "", 2, ``, `"role" listed twice`},
		{"users claims with a cap over the limit", []string{"users", "claims", "--claims-max-bytes", "4096", "lee@example.com", `{}`}, "", 2, ``, `claims cap`},
		{"sessions: unknown subcommand", []string{"sessions", "frob"}, "", 2, ``, `want list or revoke`},
		{"sessions list without a user", []string{"sessions", "list"}, "", 2, ``, `--user`},
		{"sessions revoke without a selector", []string{"sessions", "revoke"}, "", 2, ``, `exactly one`},
		{"keys: unknown subcommand", []string{"keys", "frob"}, "", 2, ``, `want list or rotate`},
		{"gc with an argument", []string{"gc", "now"}, "", 2, ``, `no arguments`},
		// Admin subcommands have their own flags, never serve's.
		{"users add takes no serve flag", []string{"users", "add", "--key-rotation=1ns", "x@y.z"}, "", 2, ``, `flag provided but not defined: -key-rotation`},
		{"gc takes no serve flag", []string{"gc", "--dev-tls", "--tls-cert=x"}, "", 2, ``, `flag provided but not defined: -dev-tls`},
		{"keys list takes no rotate flag", []string{"keys", "list", "--now"}, "", 2, ``, `flag provided but not defined: -now`},
		{"allow-signup is a boolean", []string{"serve", "--allow-signup=maybe"}, "", 2, ``, `allow-signup`},
		{"CORS origin with a path", []string{"serve", "--cors-origins", "http://localhost:5173,https://app.example.com/"}, "", 2, ``, `CORS origin "https://app.example.com/": .*no path`},
		{"CORS wildcard", []string{"serve", "--cors-origins", "https://*.example.com"}, "", 2, ``, `CORS origin .*no wildcard`},
		{"CORS null origin", []string{"serve", "--cors-origins", "null"}, "", 2, ``, `CORS origin "null": .*cannot be allowed`},
		{"CORS origin without a scheme", []string{"serve", "--cors-origins", "app.example.com"}, "", 2, ``, `CORS origin "app.example.com": .*scheme must be http or https`},
		{"bad log level", []string{"serve", "--log-level", "loud"}, "", 2, ``, `log-level`},
		{"no free login failure", []string{"serve", "--login-failures", "0"}, "", 2, ``, `--login-failures 0: want 1 to`},
		{"login back-off under a second", []string{"serve", "--login-backoff-max", "500ms"}, "", 2, ``, `--login-backoff-max 500ms: want 1s to 24h`},
		{"bad master key", []string{"gc"}, "", 2, ``, `master key: not base64`},
		{"short admin token", []string{"serve"}, "", 2, ``, `admin token`},
		{"admin token of one character repeated", []string{"serve"}, "", 2, ``, `admin token is not random enough to be a secret.*one byte repeated 32 times`},
		{"keys rotate to an unknown algorithm", []string{"keys", "rotate", "--signing-alg", "HS256"}, "", 2, ``, `signing-alg`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, tc.args...)
			cmd.Dir = t.TempDir()
			cmd.Env = os.Environ()
			switch tc.name {
			case "env twin":
				cmd.Env = append(cmd.Env, "SESSIOND_STORE=nope://x")
			case "unreachable store is a failure":
				cmd.Env = append(cmd.Env, "SESSIOND_MASTER_KEY="+base64.StdEncoding.EncodeToString([]byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe")))
			case "bad master key":
				cmd.Env = append(cmd.Env, "SESSIOND_MASTER_KEY=not base64!")
			case "short admin token":
				cmd.Env = append(cmd.Env, "SESSIOND_ADMIN_TOKEN=aaaa")
			case "admin token of one character repeated":
				cmd.Env = append(cmd.Env, "SESSIOND_ADMIN_TOKEN="+strings.Repeat("a", 32))
			}
			cmd.Stdin = strings.NewReader(tc.stdin)
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stdout %q stderr %q", code, tc.code, out.String(), errb.String())
			}
			if tc.out != "" && !regexp.MustCompile(tc.out).MatchString(out.String()) {
				t.Fatalf("stdout %q does not match %q", out.String(), tc.out)
			}
			if tc.err != "" && !regexp.MustCompile(tc.err).MatchString(errb.String()) {
				t.Fatalf("stderr %q does not match %q", errb.String(), tc.err)
			}
			if tc.code != 0 && strings.Count(strings.TrimSpace(lastLines(errb.String())), "\n") > 0 {
				t.Fatalf("error is not one line: %q", errb.String())
			}
			if tc.code == 2 {
				if left, _ := os.ReadDir(cmd.Dir); len(left) != 0 {
					t.Fatalf("bad usage left %s in the working directory", left[0].Name())
				}
			}
		})
	}
}

// lastLines returns the error line(s) sessiond printed, skipping the usage
// text and log lines that precede it.
func lastLines(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "sessiond: ") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

func TestLoadCommand(t *testing.T) {
	p := start(t, t.TempDir(), "--login-rate-ip", "1000", "--session-rate", "100000")
	out, err := exec.Command(binary, "load", "--target", p.base, "--clients", "2", "--duration", "2s", "--mix", "refresh=1,verify=3").CombinedOutput()
	if err != nil {
		t.Fatalf("load: %v\n%s", err, out)
	}
	for _, want := range []string{"sessiond load: 2 clients", "refresh", "verify", "p99"} {
		if !strings.Contains(string(out), want) {
			t.Fatalf("load output lacks %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`(?m)^\s*verify\s+(\d+)`).FindStringSubmatch(string(out))
	if m == nil || m[1] == "0" {
		t.Fatalf("no verified call succeeded:\n%s", out)
	}
	if out, err := exec.Command(binary, "load", "--target", "http://192.0.2.1:8080").CombinedOutput(); err == nil || !strings.Contains(string(out), "loopback") {
		t.Fatalf("load accepted a non-loopback target: %s", out)
	}
}

func jsonDecode(res *http.Response, v any) error { return json.NewDecoder(res.Body).Decode(v) }
