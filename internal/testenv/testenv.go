// Package testenv is how tests reach the real servers they talk to: Redis,
// a Redis Cluster, PostgreSQL (and, for the browser tests, Chromium; for the
// forward-auth tests, nginx and Caddy, which it starts). A test
// that cannot reach its server FAILS with a message that says how to start
// it; it never skips, so a green run means the real thing was tested.
//
// URLs come from the environment (.ci/run exports them), with defaults that
// match the project's machines:
//
//	SESSIOND_TEST_REDIS_URL          redis://127.0.0.1:6379/0
//	SESSIOND_TEST_REDIS_CLUSTER_URL  started on demand by scripts/redis-cluster
//	SESSIOND_TEST_POSTGRES_URL       postgres://postgres@127.0.0.1:5432/test?sslmode=disable
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Defaults used when the environment names no server.
const (
	DefaultRedisURL    = "redis://127.0.0.1:6379/0"
	DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
)

// RedisURL returns the URL of a reachable Redis, or fails the test.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := env("SESSIOND_TEST_REDIS_URL", DefaultRedisURL)
	mustDial(t, "Redis", hostPort(t, u, "6379"), "start it with: redis-server --daemonize yes --port 6379 (or set SESSIOND_TEST_REDIS_URL)")
	return u
}

// PostgresURL returns the URL of a reachable PostgreSQL, or fails the test.
func PostgresURL(t testing.TB) string {
	t.Helper()
	u := env("SESSIOND_TEST_POSTGRES_URL", DefaultPostgresURL)
	mustDial(t, "PostgreSQL", hostPort(t, u, "5432"), "start it with: pg_ctlcluster <version> main start (or set SESSIOND_TEST_POSTGRES_URL)")
	return u
}

var (
	clusterOnce sync.Once
	clusterURL  string
	clusterErr  error
)

// RedisClusterURL returns a redis-cluster:// URL of a reachable Redis
// Cluster (three masters, three replicas). If SESSIOND_TEST_REDIS_CLUSTER_URL
// is not set, it runs scripts/redis-cluster, which starts one on loopback
// ports 7101-7106 or finds it running.
func RedisClusterURL(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("SESSIOND_TEST_REDIS_CLUSTER_URL"); u != "" {
		first := strings.Split(strings.TrimPrefix(u, "redis-cluster://"), ",")[0]
		mustDial(t, "Redis Cluster", first, "run scripts/redis-cluster")
		return u
	}
	clusterOnce.Do(func() {
		script := filepath.Join(RepoRoot(t), "scripts", "redis-cluster")
		var out, errb bytes.Buffer
		cmd := exec.Command("bash", script)
		cmd.Stdout, cmd.Stderr = &out, &errb
		if err := cmd.Run(); err != nil {
			clusterErr = fmt.Errorf("scripts/redis-cluster: %v: %s", err, errb.String())
			return
		}
		clusterURL = strings.TrimSpace(out.String())
	})
	if clusterErr != nil {
		t.Fatalf("testenv: no Redis Cluster: %v", clusterErr)
	}
	return clusterURL
}

// RepoRoot returns the repository's root directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot find the repository root")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func hostPort(t testing.TB, raw, defPort string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatalf("testenv: bad URL %q: %v", raw, err)
	}
	host := u.Hostname()
	if host == "" {
		host = "127.0.0.1"
	}
	port := u.Port()
	if port == "" {
		port = defPort
	}
	return net.JoinHostPort(host, port)
}

func mustDial(t testing.TB, what, addr, hint string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err != nil {
		t.Fatalf("testenv: %s is not reachable at %s (%v); %s. Tests of real backends fail rather than skip.", what, addr, err, hint)
	}
	c.Close()
}
