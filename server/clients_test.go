package server_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sessiond/sessiond/server"
)

func TestClientsFileRefusals(t *testing.T) {
	const good = "0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name, file, want string
	}{
		{"not an array", `{"id":"a"}`, "JSON array"},
		{"unknown member", `[{"id":"a","secret":"` + good + `","permissions":["sessions"],"admin":true}]`, "unknown field"},
		{"short secret", `[{"id":"a","secret":"short","permissions":["sessions"]}]`, "shorter than 32"},
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
