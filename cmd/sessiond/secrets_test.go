package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
)

// TestStorePasswordNeverPrinted: a password in the store URL (user info or
// a password query parameter, as pgx accepts) appears nowhere in what
// sessiond prints: not in the listening line, not in its logs, not in a
// one-line error however the store URL is wrong.
func TestStorePasswordNeverPrinted(t *testing.T) {
	const secret = "hunter2-s3cret"
	rd := testenv.StartRedis(t)
	t.Run("serve on redis", func(t *testing.T) {
		url := "redis://default:" + secret + "@" + rd.Addr() + "/0"
		p := startStore(t, url, []string{"SESSIOND_MASTER_KEY=" + base64.StdEncoding.EncodeToString([]byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"))})
		if code, _ := p.call("GET", "/healthz", "", nil); code != 200 {
			t.Fatalf("healthz %d", code)
		}
		// Stop it so its stderr is complete and no longer written.
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if strings.Contains(p.base, secret) || strings.Contains(p.line, secret) || strings.Contains(p.errs.String(), secret) {
			t.Fatalf("the store password was printed:\nstdout: %s\nstderr: %s", p.line, p.errs)
		}
	})
	tests := []struct {
		name string
		args []string
		env  string
	}{
		{"unknown scheme", []string{"gc", "--store", "ftp://admin:" + secret + "@db.example"}, ""},
		{"unknown scheme in the environment", []string{"gc"}, "SESSIOND_STORE=ftp://admin:" + secret + "@db.example"},
		{"memory with user info", []string{"serve", "--addr", "127.0.0.1:0", "--store=memory://admin:" + secret + "@x"}, ""},
		{"unreachable postgres, password in the query", []string{"gc", "--store", "postgres://admin@127.0.0.1:1/db?connect_timeout=1&password=" + secret}, ""},
		{"migrate, password in user info", []string{"migrate", "--store", "redis://admin:" + secret + "@127.0.0.1:1/0"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, tc.args...)
			cmd.Dir = t.TempDir()
			cmd.Env = os.Environ()
			if tc.env != "" {
				cmd.Env = append(cmd.Env, tc.env)
			}
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			if err := cmd.Run(); err == nil {
				t.Fatalf("succeeded: %s", out.String())
			}
			if strings.Contains(out.String()+errb.String(), secret) {
				t.Fatalf("the store password was printed:\nstdout: %s\nstderr: %s", out.String(), errb.String())
			}
			if !strings.Contains(errb.String(), "sessiond: ") {
				t.Fatalf("no error line: %s", errb.String())
			}
		})
	}
}

func TestRedactURL(t *testing.T) {
	tests := []struct{ in, want string }{
		{"bolt:///var/lib/sessiond", "bolt:///var/lib/sessiond"},
		{"redis://127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"},
		{"redis://:pw-secret@h:6379/0", "redis://:xxxxx@h:6379/0"},
		{"redis-cluster://u:pw-secret@h1:7000,h2:7001", "redis-cluster://u:xxxxx@h1:7000,h2:7001"},
		{"postgres://u:p%40ss-secret@h/db", "postgres://u:xxxxx@h/db"},
		{"postgres://u@h/db?sslmode=verify-full&password=pw-secret", "postgres://u@h/db?sslmode=verify-full&password=xxxxx"},
		{"postgres://u@h/db?PASSWORD=pw-secret&sslpassword=key-secret", "postgres://u@h/db?PASSWORD=xxxxx&sslpassword=xxxxx"},
		{"postgres://u:a@b-secret@h/db", "postgres://u:xxxxx@h/db"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			if got := node.RedactStoreURL(tc.in); got != tc.want {
				t.Fatalf("RedactStoreURL = %q, want %q", got, tc.want)
			}
		})
	}
}
