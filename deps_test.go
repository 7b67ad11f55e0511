package sessiond_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/sessiond/sessiond"

// A pattern names packages the way the go command does: "x" is the package x
// alone, "x/..." is x and every package below it. Two words are special, and
// stand alone: "std" is any package of the standard library, "any" is any
// package at all.
//
// In layer.uses a pattern is a path relative to the module ("store/...");
// everywhere else it is a full import path ("net/http/...").

// ban is a group of packages a layer must not import, with the reason that
// the failure message states.
type ban struct {
	why  string
	pkgs []string
}

// The groups DESIGN.md keeps out of its lower layers.
var (
	noHTTP       = ban{"no HTTP", []string{"net/http/..."}}
	noPrometheus = ban{"no Prometheus", []string{"github.com/prometheus/..."}}
	redisDriver  = []string{"github.com/redis/..."}
	pgDriver     = []string{"github.com/jackc/..."}
	boltDriver   = []string{"go.etcd.io/bbolt/..."}
	sqlDriver    = []string{"database/sql/..."}
	noDrivers    = ban{"no database or Redis driver", slices.Concat(redisDriver, pgDriver, boltDriver, sqlDriver)}
	// ratelimit/redislimit is the Redis backend of the limiter: it has its
	// driver, and no other.
	noOtherDrivers = ban{"no database driver but go-redis", slices.Concat(pgDriver, boltDriver, sqlDriver)}
	// A backend of session.Store brings its own driver and no other; for
	// the standard library's share of the drivers, that is no database/sql.
	noSQL = ban{"a backend brings only its own driver", sqlDriver}
)

// layer is the rule for the non-test code of one package (or, with a key
// ending in "/...", of a tree of packages; the longest key wins).
type layer struct {
	uses   []string // packages of this module it may import, relative to the module
	allow  []string // packages outside the module it may import
	forbid []ban    // packages outside the module it must not import, even if allow says any
}

var (
	// What every backend of session.Store may use of this module, and what
	// none may use from outside it.
	storeUses   = []string{"session", "account", "token", "store/internal/..."}
	storeForbid = []ban{noHTTP, noPrometheus, noSQL}
	// token: the standard library's crypto and encoding, and the few other
	// standard packages it needs; nothing from outside.
	tokenAllow = []string{
		"crypto/...", "encoding/...",
		"bytes", "context", "errors", "fmt", "hash", "hash/crc32", "math/big",
		"sync", "sync/atomic", "time", "unicode/utf8",
	}
)

// layers keeps DESIGN.md's layering true: imports point down only, session
// knows nothing of HTTP, Redis or SQL, a backend knows nothing of HTTP and
// brings only its own driver.
var layers = map[string]layer{
	"token":                   {uses: nil, allow: tokenAllow, forbid: []ban{noHTTP}},
	"audit":                   {uses: nil, allow: []string{"any"}, forbid: []ban{noHTTP, noDrivers}},
	"ratelimit":               {uses: nil, allow: []string{"any"}, forbid: []ban{noHTTP, noDrivers}},
	"ratelimit/ratelimittest": {uses: []string{"ratelimit"}, allow: []string{"any"}, forbid: []ban{noHTTP, noDrivers}},
	"ratelimit/redislimit":    {uses: []string{"ratelimit"}, allow: []string{"any"}, forbid: []ban{noHTTP, noOtherDrivers}},
	"account":                 {uses: nil, allow: []string{"any"}, forbid: []ban{noHTTP, noDrivers}},
	"mail":                    {uses: nil, allow: []string{"std"}, forbid: []ban{noHTTP}},
	"account/accounttest":     {uses: []string{"account"}, allow: []string{"any"}, forbid: []ban{noHTTP, noDrivers}},
	"session":                 {uses: []string{"token", "audit"}, allow: []string{"any"}, forbid: []ban{noHTTP, noDrivers, noPrometheus}},
	"session/sessiontest":     {uses: []string{"session", "token"}, allow: []string{"any"}, forbid: []ban{noHTTP, noDrivers, noPrometheus}},
	// store/...: a package of the store tree without a rule of its own
	// (store/internal/revfeed, a new backend) has no driver at all.
	"store/...":        {uses: storeUses, allow: []string{"std"}, forbid: storeForbid},
	"store/memstore":   {uses: storeUses, allow: []string{"std"}, forbid: storeForbid},
	"store/boltstore":  {uses: storeUses, allow: []string{"std", "go.etcd.io/bbolt/..."}, forbid: storeForbid},
	"store/redisstore": {uses: storeUses, allow: []string{"std", "github.com/redis/go-redis/..."}, forbid: storeForbid},
	"store/pgstore":    {uses: storeUses, allow: []string{"std", "github.com/jackc/pgx/..."}, forbid: storeForbid},
	"httpauth":         {uses: []string{"session", "token", "audit", "ratelimit"}, allow: []string{"any"}, forbid: []ban{noDrivers, noPrometheus}},
	"node": {uses: []string{"session", "token", "account", "audit", "ratelimit", "ratelimit/redislimit", "store/...", "mail"},
		allow: []string{"any"}, forbid: []ban{noHTTP}},
	"server": {uses: []string{"node", "httpauth", "session", "account", "token", "audit", "ratelimit", "ui", "mail"},
		allow: []string{"any"}},
	"cmd/...": {uses: []string{"node", "server", "httpauth", "session", "account", "token", "audit", "ratelimit", "store/...", "mail"},
		allow: []string{"any"}},
	"internal/...": {uses: nil, allow: []string{"any"}},
	"e2e":          {uses: nil, allow: []string{"any"}}, // end-to-end tests only: their imports are test imports
	"faults":       {uses: nil, allow: []string{"std"}}, // the fault-injection suite: tests only, a doc.go
	"ui":           {uses: nil, allow: []string{"std"}}, // embed, io/fs and net/http serve the pages
	// examples/...: programs that use sessiond as an application would,
	// through its public packages only.
	"examples/...": {uses: []string{"node", "server", "httpauth", "session", "account", "token", "audit", "ratelimit", "store/..."},
		allow: []string{"any"}},
}

// matches reports whether pkg is one of the packages pattern names.
func matches(pattern, pkg string) bool {
	switch pattern {
	case "any":
		return true
	case "std":
		return standard(pkg)
	}
	if tree, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == tree || strings.HasPrefix(pkg, tree+"/")
	}
	return pkg == pattern
}

// standard reports whether an import path is in the standard library: its
// first element has no dot, as the go command decides.
func standard(pkg string) bool {
	first, _, _ := strings.Cut(pkg, "/")
	return !strings.Contains(first, ".")
}

func matchesAny(patterns []string, pkg string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return matches(p, pkg) })
}

// rule finds the layer rule for a package path relative to the module, and
// the key it was found under.
func rule(rel string) (layer, string, bool) {
	if l, ok := layers[rel]; ok {
		return l, rel, true
	}
	best := ""
	for k := range layers {
		if strings.HasSuffix(k, "/...") && matches(k, rel) && len(k) > len(best) {
			best = k
		}
	}
	if best == "" {
		return layer{}, "", false
	}
	return layers[best], best, true
}

// check says why the layer rule l (found under key) refuses the import imp
// (a full import path), or returns nil if it allows it.
func check(l layer, key, imp string) error {
	if dep, ok := strings.CutPrefix(imp, module+"/"); ok {
		if !matchesAny(l.uses, dep) {
			return fmt.Errorf("rule %q lets it import of this module only %v (imports point down only)", key, l.uses)
		}
		return nil
	}
	for _, b := range l.forbid {
		for _, p := range b.pkgs {
			if matches(p, imp) {
				return fmt.Errorf("rule %q forbids %s: %s", key, p, b.why)
			}
		}
	}
	if !matchesAny(l.allow, imp) {
		return fmt.Errorf("rule %q lets it import from outside the module only %v", key, l.allow)
	}
	return nil
}

func TestLayers(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "./...").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("go list: %v\n%s", err, ee.Stderr)
		}
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
		l, key, ok := rule(rel)
		if !ok {
			t.Errorf("package %s has no layer rule in deps_test.go: add one", rel)
			continue
		}
		for _, imp := range p.Imports {
			if err := check(l, key, imp); err != nil {
				t.Errorf("%s imports %s: not allowed by the layering of DESIGN.md: %v", rel, strings.TrimPrefix(imp, module+"/"), err)
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d packages listed: go list did not see the tree", seen)
	}
}

func TestLayerRuleCatchesUpwardImport(t *testing.T) {
	l, key, _ := rule("session")
	if check(l, key, module+"/server") == nil || check(l, key, module+"/httpauth") == nil {
		t.Fatal("the rule for session lets it import a higher layer")
	}
	l, key, _ = rule("store/boltstore")
	if check(l, key, module+"/session") != nil || check(l, key, module+"/server") == nil {
		t.Fatal("store rule is wrong")
	}
}

// TestLayerRules pins what the table means, so that a rule that stops
// biting (a typo in a pattern, a lost ban) fails here and not in review.
func TestLayerRules(t *testing.T) {
	tests := []struct {
		pkg, imp string // pkg relative to the module; imp a full import path, "@x" for module/x
		ok       bool
	}{
		{"session", "net/http", false},
		{"session", "net/http/httptest", false},
		{"session", "github.com/redis/go-redis/v9", false},
		{"session", "github.com/jackc/pgx/v5", false},
		{"session", "go.etcd.io/bbolt", false},
		{"session", "database/sql", false},
		{"session", "github.com/prometheus/client_golang/prometheus", false},
		{"session", "net", true},
		{"session", "crypto/rand", true},
		{"session", "@token", true},
		{"session", "@store/memstore", false},
		{"session/sessiontest", "github.com/redis/go-redis/v9", false},

		{"token", "net/http", false},
		{"token", "net/url", false},
		{"token", "os", false},
		{"token", "github.com/go-jose/go-jose/v4", false},
		{"token", "golang.org/x/crypto/hkdf", false},
		{"token", "crypto/ecdsa", true},
		{"token", "crypto", true},
		{"token", "encoding/json", true},
		{"token", "@session", false},

		{"store/boltstore", "github.com/jackc/pgx/v5", false},
		{"store/boltstore", "github.com/redis/go-redis/v9", false},
		{"store/boltstore", "go.etcd.io/bbolt", true},
		{"store/boltstore", "go.etcd.io/bbolt/errors", true},
		{"store/boltstore", "net/http", false},
		{"store/boltstore", "@store/internal/revfeed", true},
		{"store/boltstore", "@httpauth", false},
		{"store/redisstore", "github.com/redis/go-redis/v9", true},
		{"store/redisstore", "go.etcd.io/bbolt", false},
		{"store/redisstore", "github.com/prometheus/client_golang/prometheus", false},
		{"store/pgstore", "github.com/jackc/pgx/v5/pgxpool", true},
		{"store/pgstore", "github.com/jackc/puddle/v2", false},
		{"store/pgstore", "database/sql", false},
		{"store/pgstore", "net/http", false},
		{"store/memstore", "go.etcd.io/bbolt", false},
		{"store/memstore", "sync", true},
		{"store/internal/revfeed", "github.com/redis/go-redis/v9", false},
		{"store/newstore", "github.com/redis/go-redis/v9", false}, // a new backend needs its own rule

		{"account", "net/http", false},
		{"account", "github.com/jackc/pgx/v5", false},
		{"account", "golang.org/x/crypto/argon2", true},
		{"audit", "net/http", false},
		{"audit", "github.com/redis/go-redis/v9", false},
		{"ratelimit", "net/http", false},
		{"ratelimit", "github.com/redis/go-redis/v9", false},
		{"ratelimit/redislimit", "github.com/redis/go-redis/v9", true},
		{"ratelimit/redislimit", "github.com/jackc/pgx/v5", false},
		{"ratelimit/redislimit", "net/http", false},

		{"httpauth", "net/http", true},
		{"httpauth", "github.com/redis/go-redis/v9", false},
		{"httpauth", "github.com/prometheus/client_golang/prometheus", false},
		{"httpauth", "@server", false},

		{"ui", "embed", true},
		{"ui", "net/http", true},
		{"ui", "io/fs", true},
		{"ui", "@session", false},
		{"ui", "github.com/redis/go-redis/v9", false},

		{"node", "net/http", false},
		{"node", "net/http/httptest", false},
		{"node", "@httpauth", false},
		{"node", "@server", false},
		{"node", "@store/pgstore", true},
		{"node", "@ratelimit/redislimit", true},
		{"node", "@session", true},

		{"server", "@node", true},
		{"server", "@store/boltstore", false},
		{"server", "@ratelimit/redislimit", false},
		{"server", "net/http", true},
		{"cmd/sessiond", "@node", true},
		{"cmd/sessiond", "@store/pgstore", true},
		{"cmd/sessiond", "@ui", false},

		{"examples/gobackend", "@httpauth", true},
		{"examples/gobackend", "@session", true},
		{"examples/gobackend", "github.com/golang-jwt/jwt/v5", true},
		{"examples/gobackend", "@internal/testenv", false},
		{"examples/gobackend", "@cmd/sessiond", false},
		{"examples/express", "@ui", false},
		{"examples/shop", "@httpauth", true},
		{"examples/shop", "@store/memstore", true},
	}
	for _, tt := range tests {
		imp := tt.imp
		if dep, ok := strings.CutPrefix(imp, "@"); ok {
			imp = module + "/" + dep
		}
		t.Run(tt.pkg+"→"+tt.imp, func(t *testing.T) {
			l, key, ok := rule(tt.pkg)
			if !ok {
				t.Fatalf("no rule for %s", tt.pkg)
			}
			err := check(l, key, imp)
			if tt.ok && err != nil {
				t.Errorf("%s may import %s, but: %v", tt.pkg, tt.imp, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("%s may not import %s, but rule %q allows it", tt.pkg, tt.imp, key)
			}
		})
	}
}
