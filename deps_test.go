package sessiond_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/sessiond/sessiond"

// layers says which project packages each package may import (its non-test
// code), keeping DESIGN.md's layering true: imports point down only.
var layers = map[string][]string{
	"token":                   {},
	"audit":                   {},
	"ratelimit":               {},
	"ratelimit/ratelimittest": {"ratelimit"},
	"ratelimit/redislimit":    {"ratelimit"},
	"account":                 {},
	"account/accounttest":     {"account"},
	"session":                 {"token", "audit"},
	"session/sessiontest":     {"session", "token"},
	"store/":                  {"session", "account", "token", "store/internal/"},
	"httpauth":                {"session", "token", "audit", "ratelimit"},
	"server":                  {"httpauth", "session", "account", "token", "audit", "ratelimit", "ratelimit/redislimit", "store/", "ui"},
	"cmd/":                    {"server", "httpauth", "session", "account", "token", "audit", "ratelimit", "store/"},
	"internal/":               {},
	"e2e":                     {}, // end-to-end tests only: their imports are test imports
	"ui":                      {},
}

// rule finds the layer rule for a package path relative to the module.
func rule(rel string) ([]string, bool) {
	if allowed, ok := layers[rel]; ok {
		return allowed, true
	}
	best := ""
	for k := range layers {
		if strings.HasSuffix(k, "/") && strings.HasPrefix(rel+"/", k) && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return nil, false
	}
	return layers[best], true
}

func allowedImport(allowed []string, dep string) bool {
	for _, a := range allowed {
		if dep == a || (strings.HasSuffix(a, "/") && strings.HasPrefix(dep, a)) {
			return true
		}
	}
	return false
}

func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	seen := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p.ImportPath, module), "/")
		if rel == "" {
			continue
		}
		seen++
		allowed, ok := rule(rel)
		if !ok {
			t.Errorf("package %s has no layer rule in deps_test.go: add one", rel)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := strings.TrimPrefix(imp, module+"/")
			if !allowedImport(allowed, dep) {
				t.Errorf("%s imports %s: not allowed by the layering of DESIGN.md", rel, dep)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d packages listed: go list did not see the tree", seen)
	}
}

func TestLayerRuleCatchesUpwardImport(t *testing.T) {
	allowed, _ := rule("session")
	if allowedImport(allowed, "server") || allowedImport(allowed, "httpauth") {
		t.Fatal("the rule for session lets it import a higher layer")
	}
	allowed, _ = rule("store/boltstore")
	if !allowedImport(allowed, "session") || allowedImport(allowed, "server") {
		t.Fatal("store rule is wrong")
	}
}
