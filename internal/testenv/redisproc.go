package testenv

import (
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// RedisProc is a private redis-server started by a test, for tests that
// must stop, kill or restart their server (durability, failure handling).
// It listens on a free loopback port that stays the same across restarts
// and keeps its files in a temporary directory of the test.
type RedisProc struct {
	t    testing.TB
	args []string
	port int
	dir  string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// StartRedis starts redis-server with extra args (e.g. "--appendonly",
// "yes") and returns once it answers. It fails the test if redis-server
// cannot be started, and kills it when the test ends.
func StartRedis(t testing.TB, args ...string) *RedisProc {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("testenv: redis-server not found in PATH (%v); install Redis. Tests of real backends fail rather than skip.", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: no free port: %v", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	p := &RedisProc{t: t, args: args, port: port, dir: t.TempDir()}
	p.Start()
	t.Cleanup(func() { p.Kill() })
	return p
}

// URL returns the redis:// URL of the server.
func (p *RedisProc) URL() string { return fmt.Sprintf("redis://127.0.0.1:%d/0", p.port) }

// Addr returns host:port of the server.
func (p *RedisProc) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// Dir returns the server's working directory (its AOF and RDB files).
func (p *RedisProc) Dir() string { return p.dir }

// Start starts the server (again, after Stop or Kill) on the same port and
// directory and waits until it accepts connections.
func (p *RedisProc) Start() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd != nil {
		p.t.Fatal("testenv: redis-server already running")
	}
	args := append([]string{
		"--port", strconv.Itoa(p.port), "--bind", "127.0.0.1", "--dir", p.dir,
		"--save", "", "--daemonize", "no", "--logfile", "redis.log",
	}, p.args...)
	cmd := exec.Command("redis-server", args...)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("testenv: start redis-server: %v", err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Polling for readiness of a process we just started: there is no
		// event to wait on.
		err := ping(p.Addr())
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("testenv: redis-server on %s did not come up: %v (see %s/redis.log)", p.Addr(), err, p.dir)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill kills the server with SIGKILL (no shutdown, no final save) and
// waits for it to exit. It does nothing if the server is not running.
func (p *RedisProc) Kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGCONT) // a paused server is resumed first
	p.cmd.Process.Kill()
	p.cmd.Wait()
	p.cmd = nil
}

// Pause stops the server with SIGSTOP: it keeps its connections and its
// listening socket (the kernel still accepts connections) but answers
// nothing, as a stalled server does, until Resume. Kill, and so the
// test's cleanup, works on a paused server too.
func (p *RedisProc) Pause() { p.signal(syscall.SIGSTOP) }

// Resume continues a server stopped by Pause (SIGCONT).
func (p *RedisProc) Resume() { p.signal(syscall.SIGCONT) }

func (p *RedisProc) signal(sig syscall.Signal) {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		p.t.Fatal("testenv: redis-server is not running")
	}
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("testenv: signal redis-server: %v", err)
	}
}

// Stop is Kill: a test that stops its server means an abrupt failure.
func (p *RedisProc) Stop() { p.Kill() }

// ping sends PING and expects +PONG (a server still loading its AOF
// answers -LOADING instead).
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil {
		return err
	}
	if string(buf[:n]) != "+PONG\r\n" {
		return fmt.Errorf("PING answered %q", buf[:n])
	}
	return nil
}
