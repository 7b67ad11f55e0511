package express_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestExpressExample runs the example's tests (node --test, app.test.js)
// on a copy of the example with its locked packages installed by npm ci,
// against a sessiond built from this tree. Node 20 or later and npm are
// required: without them the test fails when CI=true, and is skipped
// otherwise.
func TestExpressExample(t *testing.T) {
	requireNode(t)
	dir := copyExample(t)
	run(t, dir, 3*time.Minute, nil, "npm", "ci", "--no-audit", "--no-fund", "--prefer-offline")
	bin := buildSessiond(t)
	out := run(t, dir, 3*time.Minute, []string{"SESSIOND_BIN=" + bin}, "node", "--test")
	// node --test closes with "# pass N" and "# fail N".
	pass := regexp.MustCompile(`(?m)^# pass (\d+)$`).FindStringSubmatch(out)
	fail := regexp.MustCompile(`(?m)^# fail (\d+)$`).FindStringSubmatch(out)
	if pass == nil || fail == nil || fail[1] != "0" || pass[1] == "0" {
		t.Fatalf("node --test: no passing run reported:\n%s", out)
	}
	t.Logf("node --test: %s passed", pass[1])
}

// requireNode fails (CI=true) or skips the test without node 20+ and npm.
func requireNode(t *testing.T) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		msg := fmt.Sprintf(format, args...) + " (install Node.js 20 or later with npm: apt-get install nodejs npm)"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; set CI=true to make this a failure")
	}
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			missing("the Express example's tests need %s on PATH: %v", tool, err)
		}
	}
	v, err := exec.Command("node", "--version").Output()
	if err != nil {
		missing("node --version: %v", err)
	}
	major, _, _ := strings.Cut(strings.TrimPrefix(strings.TrimSpace(string(v)), "v"), ".")
	if n, err := strconv.Atoi(major); err != nil || n < 20 {
		missing("the Express example needs Node 20 or later; node --version says %s", bytes.TrimSpace(v))
	}
}

// copyExample copies the example's files (not node_modules, not Go) into
// a temporary folder, so npm ci never touches the tree.
func copyExample(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() || strings.HasSuffix(name, ".go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, need := range []string{"package.json", "package-lock.json", "app.test.js"} {
		if _, err := os.Stat(filepath.Join(dir, need)); err != nil {
			t.Fatalf("the example lacks %s: %v", need, err)
		}
	}
	return dir
}

// buildSessiond builds cmd/sessiond from this tree into a temporary folder.
func buildSessiond(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sessiond")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/sessiond/sessiond/cmd/sessiond").CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/sessiond: %v\n%s", err, out)
	}
	return bin
}

// run runs a command in dir with env added, within limit, and returns its
// output, failing the test with the output if it fails. The command runs
// in a process group of its own, which is killed whatever happens, so no
// process it started (node's test workers, the sessiond they run)
// outlives the test.
func run(t *testing.T, dir string, limit time.Duration, env []string, name string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	err := cmd.Wait()
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // whatever it left behind
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatalf("%s %s: no end within %v:\n%s", name, strings.Join(args, " "), limit, out.String())
	}
	if err != nil {
		t.Fatalf("%s %s: %v:\n%s", name, strings.Join(args, " "), err, out.String())
	}
	return out.String()
}
