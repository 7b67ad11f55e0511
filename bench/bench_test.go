package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
)

// The smoke test runs the whole command, very briefly, on every store: it
// keeps the command from rotting. It never judges a number (the machine
// running it may be busy): only that every target ran, answered without a
// failure, and that nothing is left behind.

// mainEnv makes the test binary run bench's main, for the signal test.
const mainEnv = "SESSIOND_BENCH_TEST_MAIN"

// TestMain lets the test binary be bench's children (it starts them from
// os.Executable, this binary) and bench itself.
func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" || os.Getenv(mainEnv) == "1" {
		os.Exit(mainArgs(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// privateRedis starts a redis-server of the test's own on a free loopback
// port (no persistence), stopped at the end of the test, and returns its
// URL: bench flushes its Redis database, so it gets one no one else uses.
func privateRedis(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the smoke test needs redis-server: %v", err)
		}
		t.Skipf("redis-server missing: %v", err)
	}
	addr := freeAddr()
	_, port, _ := strings.Cut(addr, ":")
	cmd := exec.Command(bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", t.TempDir())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	for i := 0; c.Ping(context.Background()).Err() != nil; i++ {
		if i == 100 {
			t.Fatalf("redis-server on %s did not answer", addr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return "redis://" + addr + "/0"
}

// testPostgresURL is the machine's PostgreSQL, where bench makes (and
// drops) a database of its own.
func testPostgresURL() string {
	if u := os.Getenv("SESSIOND_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// postgresUp fails the test (or, outside CI, skips it) unless PostgreSQL
// answers.
func postgresUp(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testPostgresURL())
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("the smoke test needs PostgreSQL: %v", err)
		}
		t.Skipf("PostgreSQL missing: %v", err)
	}
	conn.Close(ctx)
}

// leftovers is what bench may leave behind: its databases, keys in its
// Redis database, and processes of its working directories.
type leftovers struct {
	dbs   map[string]bool
	keys  int64
	procs []string
}

func look(t *testing.T, redisURL string) leftovers {
	t.Helper()
	ctx := context.Background()
	l := leftovers{dbs: map[string]bool{}}
	conn, err := pgx.Connect(ctx, testPostgresURL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE 'sessiond_bench_%'")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		l.dbs[n] = true
	}
	rows.Close()
	opt, _ := redis.ParseURL(redisURL)
	c := redis.NewClient(opt)
	defer c.Close()
	if l.keys, err = c.DBSize(ctx).Result(); err != nil {
		t.Fatal(err)
	}
	self, _ := os.Executable()
	pids, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range pids {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		cmd := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(cmd, "sessiond-bench-") || (strings.HasPrefix(cmd, self+" _")) {
			l.procs = append(l.procs, cmd)
		}
	}
	return l
}

// nothingLeft fails if bench left a database, a key or a process.
func nothingLeft(t *testing.T, redisURL string, before leftovers) {
	t.Helper()
	// A stopped process may take a moment to be reaped.
	var after leftovers
	for range 50 {
		after = look(t, redisURL)
		if len(after.procs) == 0 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	for n := range after.dbs {
		if !before.dbs[n] {
			t.Errorf("database %s left behind", n)
		}
	}
	if after.keys != 0 {
		t.Errorf("%d keys left in %s", after.keys, redisURL)
	}
	for _, p := range after.procs {
		t.Errorf("process left running: %s", p)
	}
}

func TestSmoke(t *testing.T) {
	postgresUp(t)
	redisURL := privateRedis(t)
	before := look(t, redisURL)
	var out, log bytes.Buffer
	args := []string{"--pin=false", "--rounds", "1", "--duration", "300ms", "--warmup", "50ms",
		"--concurrency", "4", "--login-concurrency", "1", "--memory-sessions", "50", "--verify-tokens", "20",
		"--redis", redisURL, "--postgres", testPostgresURL()}
	if err := run(t.Context(), args, &out, &log); err != nil {
		t.Fatalf("bench: %v\n%s", err, log.String())
	}
	report := out.String()
	for _, want := range []string{
		"## Over HTTP, beside floors", "- Machine: ", "### Refresh", "### Verified call", "### Login", "### Redis memory per session", "### Each round",
		"| bbolt |", "| Redis |", "| PostgreSQL |",
		"| refresh, bbolt: bare `Batch` |", "| refresh, bbolt: bare `Update`, fsync each |",
		"| refresh, Redis: bare driver call |", "| refresh, PostgreSQL: composite floor |",
		"| verify: `httpauth`, 20 tokens |", "| verify: sessiond `GET /v1/session`, PostgreSQL |",
		"| login: bare argon2id loop |", "| login: sessiond, Redis |",
		"| change of `used_memory`, per session |",
	} {
		if !strings.Contains(report, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
	// Every target ran; none had a failed request (the last column of the
	// diagnostics table).
	sc := bufio.NewScanner(strings.NewReader(report))
	inDiag, rows := false, 0
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "| target (medians) |") {
			inDiag = true
			continue
		}
		if !inDiag || !strings.HasPrefix(line, "| ") || strings.HasPrefix(line, "|---") {
			continue
		}
		rows++
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if last := cells[len(cells)-1]; last != "0" {
			t.Errorf("%s: %s failed requests", cells[0], last)
		}
	}
	if want := 20; rows != want {
		t.Errorf("%d targets in the diagnostics table, want %d", rows, want)
	}
	if t.Failed() {
		t.Logf("report:\n%s\nlog:\n%s", report, log.String())
	}
	nothingLeft(t, redisURL, before)
}

// TestStopsEverythingOnSignal interrupts a run in its first window: bench
// must end, stop every process it started, drop its database and flush its
// Redis database.
func TestStopsEverythingOnSignal(t *testing.T) {
	postgresUp(t)
	redisURL := privateRedis(t)
	before := look(t, redisURL)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "--pin=false", "--rounds", "1", "--duration", "1m", "--warmup", "0s",
		"--concurrency", "2", "--stores", "bolt,redis,postgres", "--only", "refresh",
		"--redis", redisURL, "--postgres", testPostgresURL())
	cmd.Env = append(os.Environ(), mainEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	sc := bufio.NewScanner(stderr)
	started := false
	var seen []string
	for sc.Scan() {
		seen = append(seen, sc.Text())
		if strings.Contains(sc.Text(), "round 1/1: refresh/bolt/sessiond") {
			started = true
			break
		}
	}
	if !started {
		_ = cmd.Wait()
		t.Fatalf("bench never reached its first window:\n%s", strings.Join(seen, "\n"))
	}
	// In the window: every server is up, sessiond is under load.
	time.Sleep(500 * time.Millisecond)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	go func() {
		for sc.Scan() {
		}
	}()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("bench exited 0 after SIGTERM in its first window")
		}
	case <-time.After(2 * time.Minute):
		t.Fatal("bench did not end within 2 minutes of SIGTERM")
	}
	nothingLeft(t, redisURL, before)
}

// TestRefusals: bad usage changes nothing and contacts no store; a Redis
// database that holds keys is refused and left as it was.
func TestRefusals(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"redis off loopback", []string{"--redis", "redis://192.0.2.1:6379/10"}, "not a loopback address"},
		{"postgres off loopback", []string{"--postgres", "postgres://postgres@192.0.2.1/test"}, "not a loopback address"},
		{"unknown store", []string{"--stores", "bolt,mongo"}, `"mongo" is not one of`},
		{"unknown op", []string{"--only", "logout"}, `"logout" is not one of`},
		{"too long", []string{"--duration", "3m"}, "--duration must be in (0, 2m]"},
		{"no rounds", []string{"--rounds", "0"}, "--rounds must be 1..20"},
		{"one cpu for both", []string{"--server-cpu", "0", "--load-cpu", "0"}, "must differ"},
		{"bad alg", []string{"--alg", "HS256"}, "--alg must be ES256 or EdDSA"},
		{"argument", []string{"extra"}, "unexpected argument"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, log bytes.Buffer
			err := run(t.Context(), tc.args, &out, &log)
			if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("run(%q) = %v; want a usage error saying %q", tc.args, err, tc.want)
			}
		})
	}
	t.Run("redis database in use", func(t *testing.T) {
		redisURL := privateRedis(t)
		ctx := context.Background()
		opt, _ := redis.ParseURL(redisURL)
		c := redis.NewClient(opt)
		defer c.Close()
		if err := c.Set(ctx, "someone-else", "theirs", time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
		defer c.Del(ctx, "someone-else")
		var out, log bytes.Buffer
		err := run(ctx, []string{"--pin=false", "--stores", "redis", "--only", "refresh", "--redis", redisURL,
			"--sessiond", "/bin/true"}, &out, &log)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "holds 1 keys") {
			t.Fatalf("run on a Redis database in use = %v; want it refused", err)
		}
		if v, err := c.Get(ctx, "someone-else").Result(); err != nil || v != "theirs" {
			t.Fatalf("the other user's key is %q, %v after the refusal", v, err)
		}
	})
}

func TestBrowserUserAgent(t *testing.T) {
	if len(browserUA) != 120 {
		t.Fatalf("the benchmark's user agent is %d characters, want 120", len(browserUA))
	}
}
