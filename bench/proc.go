package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// procs starts child processes and stops every one of them: each child is
// the leader of its own process group (so a stop reaches whatever it
// started), gets SIGKILL if bench itself dies (Pdeathsig), and is stopped
// with SIGTERM, then SIGKILL, by stopAll, which the caller defers.
type procs struct {
	mu   sync.Mutex
	list []*proc
	// pin is the taskset CPU list of servers ("" runs them unpinned).
	pin string
	dir string // where logs go
}

// proc is one running child.
type proc struct {
	name    string
	cmd     *exec.Cmd
	done    chan struct{} // closed when it has exited
	waitErr error
	log     string // path of its stdout and stderr
	logFile *os.File
}

// command returns the command line of argv run as a server: pinned with
// taskset to the server CPU, with GOMAXPROCS=1, in its own process group.
func (p *procs) command(argv []string, env []string, pinned bool) *exec.Cmd {
	if pinned && p.pin != "" {
		argv = append([]string{"taskset", "-c", p.pin}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = cleanEnv()
	if pinned {
		cmd.Env = append(cmd.Env, "GOMAXPROCS=1")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	return cmd
}

// cleanEnv is bench's environment without the variables that would change
// what a child does behind the benchmark's back: sessiond's own settings
// (SESSIOND_STORE, ...) and GOMAXPROCS.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SESSIOND_") || k == "GOMAXPROCS" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// listening matches the line a server prints once it accepts connections:
// sessiond's "sessiond listening on http://127.0.0.1:PORT (store ...)" and
// the floor servers' "listening on http://127.0.0.1:PORT".
var listening = regexp.MustCompile(`listening on (http://127\.0\.0\.1:\d+)`)

// startServer starts a server, pinned, and waits (at most timeout) for
// its listening line. It returns the base URL it prints.
func (p *procs) startServer(ctx context.Context, name string, argv, env []string, timeout time.Duration) (*proc, string, error) {
	return p.startReady(ctx, name, argv, env, true, listening, timeout)
}

// startReady starts a process and waits (at most timeout) for a line of
// its standard output that matches ready, whose first group (if any) it
// returns.
func (p *procs) startReady(ctx context.Context, name string, argv, env []string, pinned bool, ready *regexp.Regexp, timeout time.Duration) (*proc, string, error) {
	cmd := p.command(argv, env, pinned)
	logPath := p.dir + "/" + name + ".log"
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, "", err
	}
	cmd.Stderr = lf
	out, err := cmd.StdoutPipe()
	if err != nil {
		lf.Close()
		return nil, "", err
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, "", fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath, logFile: lf}
	p.mu.Lock()
	p.list = append(p.list, pr)
	p.mu.Unlock()
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(lf, line)
			if m := ready.FindStringSubmatch(line); m != nil && !sent {
				if len(m) > 1 {
					urls <- m[1]
				} else {
					urls <- m[0]
				}
				sent = true
			}
		}
		_, _ = io.Copy(lf, out)
		pr.waitErr = cmd.Wait()
		close(pr.done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case u := <-urls:
		return pr, u, nil
	case <-pr.done:
		return nil, "", fmt.Errorf("%s exited before listening (%v):\n%s", name, pr.waitErr, tail(logPath))
	case <-t.C:
		p.stop(pr)
		return nil, "", fmt.Errorf("%s did not listen within %v:\n%s", name, timeout, tail(logPath))
	case <-ctx.Done():
		p.stop(pr)
		return nil, "", ctx.Err()
	}
}

// runChild runs a child to its end (bounded by timeout) and returns its
// standard output.
func (p *procs) runChild(ctx context.Context, name string, argv, env []string, timeout time.Duration) ([]byte, error) {
	cmd := p.command(argv, env, true)
	logPath := p.dir + "/" + name + ".log"
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	var stdout bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = lf
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	pr := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logPath, logFile: lf}
	p.mu.Lock()
	p.list = append(p.list, pr)
	p.mu.Unlock()
	go func() { pr.waitErr = cmd.Wait(); close(pr.done) }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-pr.done:
	case <-t.C:
		p.stop(pr)
		return nil, fmt.Errorf("%s did not finish within %v:\n%s", name, timeout, tail(logPath))
	case <-ctx.Done():
		p.stop(pr)
		return nil, ctx.Err()
	}
	p.forget(pr)
	lf.Close()
	if pr.waitErr != nil {
		return nil, fmt.Errorf("%s: %v:\n%s", name, pr.waitErr, tail(logPath))
	}
	return stdout.Bytes(), nil
}

func (p *procs) forget(pr *proc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, q := range p.list {
		if q == pr {
			p.list = append(p.list[:i], p.list[i+1:]...)
			return
		}
	}
}

// stop ends pr's process group: SIGTERM, and SIGKILL after 10 s.
func (p *procs) stop(pr *proc) {
	pgid := pr.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-pr.done:
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-pr.done
	}
	// Whatever it started and left behind in its group goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	pr.logFile.Close()
	p.forget(pr)
}

// stopAll stops every child still running, the last started first.
func (p *procs) stopAll() {
	for {
		p.mu.Lock()
		if len(p.list) == 0 {
			p.mu.Unlock()
			return
		}
		pr := p.list[len(p.list)-1]
		p.mu.Unlock()
		p.stop(pr)
	}
}

// alive reports an error if pr has exited.
func (pr *proc) alive() error {
	select {
	case <-pr.done:
		return fmt.Errorf("%s exited (%v):\n%s", pr.name, pr.waitErr, tail(pr.log))
	default:
		return nil
	}
}

// procCPU is the CPU time (user and system, all threads) process pid has
// used so far, from /proc/PID/stat in clock ticks of 10 ms (USER_HZ is 100
// on Linux).
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing parenthesis (field 3, state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed /proc stat")
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, errors.New("short /proc stat")
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		return 0, err
	}
	return time.Duration(utime+stime) * 10 * time.Millisecond, nil
}

// procRunWait is how long process pid's threads have waited on a run
// queue so far, ready to run but without a CPU (the second field of
// /proc/PID/task/TID/schedstat, summed over threads): on a busy machine,
// the time other processes took from the server's core.
func procRunWait(pid int) (time.Duration, error) {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return 0, err
	}
	var total int64
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread ended
		}
		f := strings.Fields(string(b))
		if len(f) < 2 {
			continue
		}
		if ns, err := strconv.ParseInt(f[1], 10, 64); err == nil {
			total += ns
		}
	}
	return time.Duration(total), nil
}

// tail is the last lines of a log, for an error message.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log)"
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 20 {
		lines = lines[len(lines)-20:]
	}
	return "    " + strings.Join(lines, "\n    ")
}
