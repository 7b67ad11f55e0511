package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// PostgresBinDir is where the PostgreSQL server binaries are looked for
// (Debian's postgresql-15), unless SESSIOND_TEST_POSTGRES_BIN names
// another directory; initdb and postgres in PATH are tried last.
const PostgresBinDir = "/usr/lib/postgresql/15/bin"

// PostgresProc is a private PostgreSQL server started by a test, for tests
// that must stall or stop their server. It runs in a temporary directory
// of its own on a free loopback port, as the postgres user when the test
// runs as root (PostgreSQL refuses to run as root), and Pause stalls the
// postmaster and every backend.
type PostgresProc struct {
	t    testing.TB
	port int
	dir  string

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// StartPostgres runs initdb and starts postgres, and returns once it
// accepts connections. It fails the test if it cannot, and stops the
// server (resuming it first if paused) and removes its files when the test
// ends.
func StartPostgres(t testing.TB) *PostgresProc {
	t.Helper()
	bin := postgresBin(t)
	cred, uid, gid := runAs(t)
	dir, err := os.MkdirTemp("", "sessiond-pg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if cred != nil {
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("testenv: chown %s: %v", dir, err)
		}
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: no free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &PostgresProc{t: t, port: port, dir: dir}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "max_connections=50")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	logf, err := os.Create(filepath.Join(dir, "postgres.log"))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start postgres: %v", err)
	}
	p.cmd, p.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		// Polling for readiness of a process we just started: there is no
		// event to wait on.
		if err := pgReady(bin, port); err == nil {
			return p
		} else if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			t.Fatalf("testenv: postgres on %s did not come up: %v\n%s", p.Addr(), err, log)
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(filepath.Join(dir, "postgres.log"))
			t.Fatalf("testenv: postgres exited at start:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// URL returns a postgres:// URL of the server's postgres database.
func (p *PostgresProc) URL() string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", p.port)
}

// Addr returns host:port of the server.
func (p *PostgresProc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Pause stops the postmaster and all its children with SIGSTOP: connections
// stay open and the kernel still accepts new ones, but nothing answers,
// as with a stalled server, until Resume.
func (p *PostgresProc) Pause() { p.signal(syscall.SIGSTOP) }

// Resume continues a server stopped by Pause (SIGCONT).
func (p *PostgresProc) Resume() { p.signal(syscall.SIGCONT) }

func (p *PostgresProc) signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatal("testenv: postgres is not running")
	}
	// Each backend makes itself a process group of its own (setsid), so
	// the postmaster and its children are signalled one by one; a
	// stopped postmaster forks no new ones meanwhile.
	pm := p.cmd.Process.Pid
	if err := syscall.Kill(pm, sig); err != nil {
		p.t.Fatalf("testenv: signal postgres: %v", err)
	}
	for _, pid := range childrenOf(pm) {
		syscall.Kill(pid, sig) // one that exited meanwhile is no matter
	}
}

// childrenOf lists the processes whose parent is pid (from /proc).
func childrenOf(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ')'.
		rest := string(b)
		if i := strings.LastIndexByte(rest, ')'); i >= 0 {
			rest = rest[i+1:]
		}
		if f := strings.Fields(rest); len(f) > 1 && f[1] == strconv.Itoa(pid) {
			out = append(out, child)
		}
	}
	return out
}

// stop resumes the server (in case it is paused) and stops it: a fast
// shutdown (SIGINT), then SIGKILL of the whole group if that takes long.
func (p *PostgresProc) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	pm := p.cmd.Process.Pid
	children := childrenOf(pm)
	for _, pid := range append(children, pm) {
		syscall.Kill(pid, syscall.SIGCONT)
	}
	syscall.Kill(pm, syscall.SIGINT)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		for _, pid := range append(children, pm) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		<-p.exited
	}
	p.cmd = nil
}

func postgresBin(t testing.TB) string {
	t.Helper()
	for _, dir := range []string{os.Getenv("SESSIOND_TEST_POSTGRES_BIN"), PostgresBinDir} {
		if dir == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir
		}
	}
	if p, err := exec.LookPath("postgres"); err == nil {
		return filepath.Dir(p)
	}
	t.Fatalf("testenv: no PostgreSQL server binaries in %s or PATH (install postgresql, or set SESSIOND_TEST_POSTGRES_BIN). Tests of real backends fail rather than skip.", PostgresBinDir)
	return ""
}

// runAs is the credential to run PostgreSQL with: none (this process's)
// unless we are root, then the postgres user's.
func runAs(t testing.TB) (cred *syscall.Credential, uid, gid int) {
	t.Helper()
	if os.Geteuid() != 0 {
		return nil, 0, 0
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("testenv: running as root, and there is no postgres user to run PostgreSQL as: %v", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, uid, gid
}

// pgReady reports whether the PostgreSQL server at port accepts
// connections (pg_isready exits 0).
func pgReady(bin string, port int) error {
	out, err := exec.Command(filepath.Join(bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "postgres", "-t", "1").CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_isready: %v %s", err, out)
	}
	return nil
}
