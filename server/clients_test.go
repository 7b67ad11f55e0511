package server_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/token"
)

// TestWeakSecretsRefused: a client secret (file or legacy list) or an
// admin token that is long enough but certainly not random ("32×a") is
// refused at start, the error saying why (token.ErrWeakKey), never quoting
// it; a random-looking one of the same length is accepted.
func TestWeakSecretsRefused(t *testing.T) {
	weak := strings.Repeat("a", 32)
	for _, tc := range []struct {
		name string
		err  func() error
		ok   bool
	}{
		{"admin token 32×a", func() error { return server.Config{AdminToken: weak}.Validate() }, false},
		{"admin token abab…", func() error { return server.Config{AdminToken: strings.Repeat("ab", 20)}.Validate() }, false},
		{"admin token random-looking", func() error { return server.Config{AdminToken: "k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"}.Validate() }, true},
		{"legacy client list 32×a", func() error { _, err := server.ParseClients("api:" + weak); return err }, false},
		{"legacy client list random-looking", func() error { _, err := server.ParseClients("api:k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"); return err }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.err()
			if tc.ok {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if !errors.Is(err, token.ErrWeakKey) || !strings.Contains(err.Error(), "not random enough") {
				t.Fatalf("error %v, want token.ErrWeakKey saying it is not random", err)
			}
			if strings.Contains(err.Error(), weak) || strings.Contains(err.Error(), "abababab") {
				t.Fatalf("the error shows the secret: %v", err)
			}
		})
	}
}

func TestClientsFileRefusals(t *testing.T) {
	const good = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, file, want string
	}{
		{"not an array", `{"id":"a"}`, "JSON array"},
		{"unknown member", `[{"id":"a","secret":"` + good + `","permissions":["sessions"],"admin":true}]`, "unknown field"},
		{"short secret", `[{"id":"a","secret":"short","permissions":["sessions"]}]`, "shorter than 32"},
		{"one character repeated", `[{"id":"a","secret":"` + strings.Repeat("a", 32) + `","permissions":["sessions"]}]`, "not random enough to be a secret: token: key too weak: one byte repeated 32 times"},
		{"few distinct characters", `[{"id":"a","secret":"` + strings.Repeat("abc", 12) + `","permissions":["sessions"]}]`, "only 3 distinct byte values"},
		{"no permissions", `[{"id":"a","secret":"` + good + `","permissions":[]}]`, "no permissions"},
		{"unknown permission", `[{"id":"a","secret":"` + good + `","permissions":["root"]}]`, `unknown permission "root"`},
		{"repeated permission", `[{"id":"a","secret":"` + good + `","permissions":["claims","claims"]}]`, "listed twice"},
		{"repeated id", `[{"id":"a","secret":"` + good + `","permissions":["claims"]},{"id":"a","secret":"` + good + `","permissions":["sessions"]}]`, `"a" listed twice`},
		{"bad id", `[{"id":"a b","secret":"` + good + `","permissions":["claims"]}]`, "client id"},
		{"empty id", `[{"id":"","secret":"` + good + `","permissions":["claims"]}]`, "client id"},
		{"trailing data", `[] []`, "after the JSON array"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := server.ParseClientsJSON([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseClientsJSON = %v, want an error with %q", err, tc.want)
			}
			if strings.Contains(err.Error(), good) {
				t.Fatalf("the error shows a secret: %v", err)
			}
		})
	}
	cl, err := server.ParseClientsJSON([]byte(`[{"id":"shop","secret":"` + good + `","permissions":["sessions","claims"]}]`))
	if err != nil || !cl["shop"].Can(server.PermSessions) || !cl["shop"].Can(server.PermClaims) || cl["shop"].Can(server.PermIntrospect) {
		t.Fatalf("good file: %v %v", cl, err)
	}
	// A file others can read is loaded, and said.
	path := filepath.Join(t.TempDir(), "clients.json")
	if err := os.WriteFile(path, []byte(`[{"id":"shop","secret":"`+good+`","permissions":["sessions"]}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, others, err := server.LoadClients(path); err != nil || !others {
		t.Fatalf("LoadClients of a 0644 file = %v, others can read %v", err, others)
	}
	// The deprecated form grants introspect and revoke only.
	old, err := server.ParseClients("api:" + good)
	if err != nil || !old["api"].Can(server.PermIntrospect) || !old["api"].Can(server.PermRevoke) || old["api"].Can(server.PermSessions) {
		t.Fatalf("ParseClients: %v %v", old, err)
	}
	if _, err := old.Merge(old); err == nil {
		t.Fatal("a client configured twice was accepted")
	}
}
