package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOAuthClientsInterop runs strict OAuth clients from npm against the
// real server (serve on memory:// with two service clients and the claims
// role and tenant): oauth4webapi's validateJwtAccessToken (RFC 9068),
// introspectionRequest/processIntrospectionResponse (RFC 7662) and
// revocationRequest/processRevocationResponse (RFC 7009), and jose's
// jwtVerify with typ at+jwt and client_id required. The assertions are in
// testdata/oauth-interop/interop.test.mjs (node --test), installed with
// npm ci from its package-lock.json into a temporary folder.
//
// oauth4webapi talks only HTTPS unless told otherwise; the script passes
// its allowInsecureRequests option because this server listens on
// http://127.0.0.1.
//
// Node and npm are required: without them the test fails.
func TestOAuthClientsInterop(t *testing.T) {
	dir := oauthInteropDir(t)
	const (
		rsID, rsSecret     = "resource-server", "rs-secret-for-the-oauth-interop-test-0123"
		weakID, weakSecret = "mint-only", "mint-only-secret-for-the-interop-test-012"
	)
	clients, err := json.Marshal([]map[string]any{
		{"id": rsID, "secret": rsSecret, "permissions": []string{"sessions", "introspect", "revoke"}},
		{"id": weakID, "secret": weakSecret, "permissions": []string{"sessions"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	clientsFile := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(clientsFile, clients, 0o600); err != nil {
		t.Fatal(err)
	}
	srv := startStore(t, "memory://", nil, "--clients", clientsFile, "--claims", "role,tenant",
		"--issuer", interopIssuer, "--audience", interopAudience)

	out := runNode(t, dir, 2*time.Minute, []string{
		"SESSIOND_URL=" + srv.base, "SESSIOND_ISSUER=" + interopIssuer, "SESSIOND_AUDIENCE=" + interopAudience,
		"CLIENT_ID=" + rsID, "CLIENT_SECRET=" + rsSecret, "WEAK_ID=" + weakID, "WEAK_SECRET=" + weakSecret,
	}, "--test", "interop.test.mjs")
	pass := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindStringSubmatch(out)
	if pass == nil || pass[1] == "0" || !regexp.MustCompile(`(?m)^# fail 0$`).MatchString(out) {
		t.Fatalf("node --test reported no passing run:\n%s", out)
	}
	t.Logf("oauth4webapi and jose: %s passed", pass[1])
}

// oauthInteropDir installs testdata/oauth-interop (npm ci from its lock
// file) into a temporary folder.
func oauthInteropDir(t *testing.T) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the OAuth interop test needs %s (Node 20 or later) on PATH: %v", tool, err)
		}
	}
	dir := t.TempDir()
	for _, f := range []string{"package.json", "package-lock.json", "interop.test.mjs"} {
		b, err := os.ReadFile(filepath.Join("testdata", "oauth-interop", f))
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, f), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v: %s", err, out)
	}
	return dir
}

// runNode runs node with args in dir, env added, within limit, in a
// process group of its own that is killed whatever happens (node --test
// runs each file in a child process). It returns the output, or fails the
// test with it.
func runNode(t *testing.T, dir string, limit time.Duration, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v", err)
	}
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("node %s: no end within %v:\n%s", strings.Join(args, " "), limit, out.String())
	}
	if err != nil {
		t.Fatalf("node %s: %v:\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
