package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The reverse proxies the forward-auth tests put in front of sessiond:
// Debian's packages, found where they install them (or on PATH), or named
// by the environment. A test that needs one FAILS without it, with the
// command that installs it; it never skips.
const (
	// DefaultNginx is where Debian's nginx-light (and nginx) put nginx.
	DefaultNginx = "/usr/sbin/nginx"
	// DefaultCaddy is where Debian's caddy package puts caddy.
	DefaultCaddy = "/usr/bin/caddy"
)

// Nginx returns the path of nginx: $SESSIOND_TEST_NGINX, else
// /usr/sbin/nginx, else nginx on PATH; it fails the test if there is none.
func Nginx(t testing.TB) string {
	t.Helper()
	return findBinary(t, "nginx", "SESSIOND_TEST_NGINX", DefaultNginx, "apt-get update && apt-get install -y nginx-light")
}

// Caddy returns the path of caddy: $SESSIOND_TEST_CADDY, else
// /usr/bin/caddy, else caddy on PATH; it fails the test if there is none.
func Caddy(t testing.TB) string {
	t.Helper()
	return findBinary(t, "caddy", "SESSIOND_TEST_CADDY", DefaultCaddy, "apt-get update && apt-get install -y caddy")
}

func findBinary(t testing.TB, name, envVar, def, install string) string {
	t.Helper()
	path := env(envVar, def)
	if _, err := os.Stat(path); err != nil {
		if p, lerr := exec.LookPath(name); lerr == nil && path == def {
			return p
		}
		t.Fatalf("testenv: %s not found at %s: %v; install it with: %s (or set %s). The proxy tests fail rather than skip.", name, path, err, install, envVar)
	}
	return path
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: no free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WebProxy is a reverse proxy process (nginx or Caddy) a test started in a
// temporary directory of its own, listening on a loopback port. It is
// stopped, with every process it started, when the test ends.
type WebProxy struct {
	// URL is http://127.0.0.1:port, where the proxy listens.
	URL string
	// Dir is its directory: configuration, logs, pid file, data.
	Dir string

	name   string
	cmd    *exec.Cmd
	exited chan struct{}
	out    *lockedBuffer
}

// Log returns what the proxy printed and, for nginx, its error log.
func (p *WebProxy) Log() string {
	s := p.out.String()
	if b, err := os.ReadFile(filepath.Join(p.Dir, "error.log")); err == nil {
		s += "\n--- error.log\n" + string(b)
	}
	return s
}

// StartNginx runs nginx (master and one worker, in the foreground) with the
// given http{} block, on port, which the block must listen on
// (127.0.0.1:port). Temporary files, the pid file and the logs (error.log,
// access.log) go in the proxy's directory; as root, the worker runs as root
// too, so it can use them. It returns once the port accepts connections.
func StartNginx(t testing.TB, port int, httpBlock string) *WebProxy {
	t.Helper()
	bin := Nginx(t)
	dir := t.TempDir()
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	conf := fmt.Sprintf(`%sworker_processes 1;
pid %[2]s/nginx.pid;
error_log %[2]s/error.log info;
events { worker_connections 1024; }
http {
	access_log %[2]s/access.log;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
%[3]s
}
`, user, dir, httpBlock)
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if out, err := exec.Command(bin, "-t", "-q", "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path).CombinedOutput(); err != nil {
		t.Fatalf("testenv: nginx -t refuses the configuration: %v\n%s\n%s", err, out, conf)
	}
	cmd := exec.Command(bin, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", path, "-g", "daemon off;")
	return startProxy(t, "nginx", cmd, dir, port)
}

// StartCaddy runs `caddy run` with the given Caddyfile site blocks, on
// port, which they must listen on (http://127.0.0.1:port). The global
// options turn off the admin endpoint, automatic HTTPS and saved
// configuration, and keep Caddy's storage, HOME and XDG directories in the
// proxy's directory. It returns once the port accepts connections.
func StartCaddy(t testing.TB, port int, sites string) *WebProxy {
	t.Helper()
	bin := Caddy(t)
	dir := t.TempDir()
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
}

%s
`, filepath.Join(dir, "data"), sites)
	path := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	cmd := exec.Command(bin, "run", "--config", path, "--adapter", "caddyfile")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "HOME="+dir, "XDG_DATA_HOME="+filepath.Join(dir, "xdg-data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "xdg-config"))
	return startProxy(t, "caddy", cmd, dir, port)
}

func startProxy(t testing.TB, name string, cmd *exec.Cmd, dir string, port int) *WebProxy {
	t.Helper()
	p := &WebProxy{URL: "http://127.0.0.1:" + strconv.Itoa(port), Dir: dir, name: name, cmd: cmd, exited: make(chan struct{}), out: &lockedBuffer{}}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	// A process group of its own, so the cleanup reaches nginx's worker
	// even if the master dies first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", name, err)
	}
	go func() { cmd.Wait(); close(p.exited) }()
	t.Cleanup(p.stop)
	deadline := time.Now().Add(20 * time.Second)
	for {
		// Polling a process we just started for its port: there is no
		// readiness signal to wait on.
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			return p
		}
		select {
		case <-p.exited:
			t.Fatalf("testenv: %s exited at start: %v\n%s", name, cmd.ProcessState, p.Log())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s does not listen on %d: %v\n%s", name, port, err, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop ends the proxy: SIGTERM to its process group (nginx's fast
// shutdown, which waits for its worker; Caddy's graceful stop), SIGKILL to
// the group if it lingers.
func (p *WebProxy) stop() {
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		// The whole group: a worker must not outlive its killed master.
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.exited
	}
}

// lockedBuffer is a bytes.Buffer safe for the process's two writers and
// the test's reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
