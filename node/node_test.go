package node_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) set(t time.Time) { c.mu.Lock(); c.t = t; c.mu.Unlock() }

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func cfg(b node.Backend, c *clock) node.Config {
	return node.Config{Backend: b, MasterKey: []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"), Now: c.Now, Logger: quiet,
		PasswordParams: account.Params{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}}
}

// A configuration error is found before anything is opened: the data
// directory of a bolt store is never created.
func TestOpenRefusesBadConfigurationBeforeCreatingFiles(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for name, c := range map[string]node.Config{
		"algorithm":       {Store: "bolt://" + dir, SigningAlg: "HS256"},
		"policy":          {Store: "bolt://" + dir, Policy: session.Policy{AccessTTL: 2 * time.Hour}},
		"master key":      {Store: "bolt://" + dir, MasterKey: []byte("short")},
		"zero master key": {Store: "bolt://" + dir, MasterKey: make([]byte, 32)},
		"repeated key":    {Store: "bolt://" + dir, MasterKey: []byte("abababababababababababababababab")},
		"key rotation":    {Store: "bolt://" + dir, KeyRotation: time.Minute},
		"key reload":      {Store: "bolt://" + dir, JWKSMaxAge: 10 * time.Second, KeyReload: 5 * time.Second},
		"reset TTL long":  {Store: "bolt://" + dir, ResetTTL: 5 * time.Hour},
		"reset TTL short": {Store: "bolt://" + dir, ResetTTL: time.Second},
		"mail queue":      {Store: "bolt://" + dir, MailQueue: -1},
		"scheme":          {Store: "ftp://" + dir},
		"shared, no key":  {Store: "redis://127.0.0.1:1/0"},
		"bolt, no folder": {Store: "bolt://"},
	} {
		t.Run(name, func(t *testing.T) {
			if err := c.Validate(); !errors.Is(err, node.ErrConfig) {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := node.Open(context.Background(), c); !errors.Is(err, node.ErrConfig) {
				t.Fatalf("Open: %v", err)
			}
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("the data directory exists after a refused configuration: %v", err)
			}
		})
	}
}

// Open starts nothing: a node whose signing key is long overdue for
// rotation leaves the ring alone until Run, which publishes a successor
// (pending, not yet signing) at once.
func TestOpenStartsNothingRunRotatesWhenDue(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	c := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	first, err := node.Open(ctx, cfg(st, c))
	if err != nil {
		t.Fatal(err)
	}
	first.Close()

	c.set(c.Now().Add(node.DefaultKeyRotation)) // the key is now overdue
	n, err := node.Open(ctx, cfg(st, c))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	if k := n.Keys().Keys(c.Now()); len(k) != 1 {
		t.Fatalf("Open rotated the key ring: %+v", k)
	}
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- n.Run(runCtx) }()
	<-n.Running()
	deadline := time.Now().Add(10 * time.Second)
	for len(n.Keys().Keys(c.Now())) != 2 {
		if time.Now().After(deadline) {
			t.Fatal("Run never rotated an overdue key")
		}
		time.Sleep(time.Millisecond)
	}
	k := n.Keys().Keys(c.Now())
	if !k[0].Pending || !k[1].Active || !k[0].ActivatesAt.After(c.Now().Add(node.DefaultJWKSMaxAge)) {
		t.Fatalf("the successor is not published ahead of its signing: %+v", k)
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatal(err)
	}
}

// A passive node does not hear the revocation feed; a running one does.
func TestRunListensToTheFeed(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	c := &clock{t: time.Now()}
	a, err := node.Open(ctx, cfg(st, c))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := node.Open(ctx, cfg(st, c))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go b.Run(runCtx)
	<-b.Running()
	tk, err := a.Manager().Login(ctx, "u1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Manager().Revoke(ctx, tk.Session.ID); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !b.Manager().Revoked(tk.Session.ID) {
		if time.Now().After(deadline) {
			t.Fatal("the running node never heard the revocation")
		}
		time.Sleep(time.Millisecond)
	}
}

// Every registered driver is found by each of its schemes and says what
// it can do; a shared store needs a master key.
func TestDriverRegistry(t *testing.T) {
	for _, tc := range []struct {
		url            string
		name           string
		shared, persis bool
	}{
		{"bolt:///var/lib/sessiond", "bolt", false, true},
		{"memory://", "memory", false, false},
		{"redis://127.0.0.1:6379/0", "redis", true, true},
		{"rediss://h:6380/1", "redis", true, true},
		{"redis-cluster://h1:7000,h2:7000", "redis", true, true},
		{"postgres://u@h/db", "postgres", true, true},
		{"postgresql://u@h/db", "postgres", true, true},
	} {
		d, err := node.LookupStore(tc.url)
		if err != nil {
			t.Fatalf("%s: %v", tc.url, err)
		}
		if d.Name != tc.name || d.Shared != tc.shared || d.Persistent != tc.persis {
			t.Fatalf("%s: %+v", tc.url, d)
		}
	}
	if n := len(node.Drivers()); n != 4 {
		t.Fatalf("%d drivers registered", n)
	}
}

func TestRotateKeysImmediately(t *testing.T) {
	ctx := context.Background()
	c := &clock{t: time.Now()}
	n, err := node.Open(ctx, cfg(memstore.New(), c))
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	k, err := n.RotateKeys(ctx, node.Rotation{Alg: token.ES256, Immediately: true})
	if err != nil {
		t.Fatal(err)
	}
	if keys := n.Keys().Keys(c.Now()); !keys[0].Active || keys[0].ID != k.ID || keys[0].Alg != token.ES256 {
		t.Fatalf("an immediate rotation does not sign at once: %+v", keys)
	}
	if _, err := n.RotateKeys(ctx, node.Rotation{Alg: token.HS256}); !errors.Is(err, node.ErrConfig) {
		t.Fatalf("rotation to HS256: %v", err)
	}
}
