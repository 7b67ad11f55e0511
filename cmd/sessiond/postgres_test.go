package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/testenv"
)

// freshSchema creates an empty schema and returns a store URL that uses it.
func freshSchema(t *testing.T) string {
	t.Helper()
	base := testenv.PostgresURL(t)
	b := make([]byte, 6)
	rand.Read(b)
	schema := "sdcli_" + hex.EncodeToString(b)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	t.Cleanup(func() {
		conn, err := pgx.Connect(context.Background(), base)
		if err == nil {
			_, _ = conn.Exec(context.Background(), "DROP SCHEMA "+schema+" CASCADE")
			conn.Close(context.Background())
		}
	})
	sep := "?"
	if strings.Contains(base, "?") {
		sep = "&"
	}
	return base + sep + "search_path=" + schema
}

func TestPostgresMigrateAndServe(t *testing.T) {
	url := freshSchema(t)
	key := "SESSIOND_MASTER_KEY=" + base64.StdEncoding.EncodeToString([]byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"))
	run := func(env []string, args ...string) (int, string) {
		cmd := exec.Command(binary, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run([]string{key}, "serve", "--store", url, "--addr", "127.0.0.1:0"); code != 1 || !strings.Contains(out, "run `sessiond migrate`") {
		t.Fatalf("serve on an unmigrated database: %d %s", code, out)
	}
	if code, out := run(nil, "migrate", "--store", url); code != 0 || !strings.Contains(out, "applied migrations [1 2 3 4 5 6 7 8]") {
		t.Fatalf("migrate: %d %s", code, out)
	}
	if code, out := run(nil, "migrate", "--store", url); code != 0 || !strings.Contains(out, "up to date") {
		t.Fatalf("migrate again: %d %s", code, out)
	}
	if code, out := run(nil, "serve", "--store", url, "--addr", "127.0.0.1:0"); code != 2 || !strings.Contains(out, "a master key is required with a shared store") {
		t.Fatalf("serve on a shared store without a master key: %d %s", code, out)
	}
	p := startStore(t, url, []string{key}, "--allow-signup=true")
	cred := map[string]string{"email": "pat@example.com", "password": "correct horse battery"}
	if code, _ := p.call("POST", "/v1/signup", "", cred); code != 201 {
		t.Fatalf("signup on postgres: %d", code)
	}
	if code, v := p.call("POST", "/v1/login", "", cred); code != 200 || s(v, "access_token") == "" {
		t.Fatalf("login on postgres: %d", code)
	}
	// serve --migrate migrates a fresh database itself.
	q := startStore(t, freshSchema(t), []string{key}, "--migrate", "--allow-signup=true")
	if code, _ := q.call("GET", "/readyz", "", nil); code != 200 {
		t.Fatalf("readyz after serve --migrate: %d", code)
	}
}
