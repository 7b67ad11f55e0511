package node_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// A node on a Redis that can lose acknowledged writes says so at start,
// naming the setting; one with appendfsync always says nothing.
func TestOpenWarnsOfRedisThatCanLoseWrites(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"everysec", []string{"--appendonly", "yes", "--appendfsync", "everysec"}, "appendfsync everysec"},
		{"no AOF", []string{"--appendonly", "no"}, "appendonly no"},
		{"always", []string{"--appendonly", "yes", "--appendfsync", "always"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := testenv.StartRedis(t, tc.args...)
			logs := &syncBuf{}
			n, err := node.Open(context.Background(), node.Config{
				Store: r.URL(), MasterKey: []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"), Logger: slog.New(slog.NewJSONHandler(logs, nil)),
			})
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			got := logs.String()
			if tc.want == "" {
				if strings.Contains(got, "store durability") {
					t.Fatalf("warned about a Redis that fsyncs every write: %s", got)
				}
				return
			}
			if !strings.Contains(got, "store durability") || !strings.Contains(got, tc.want) {
				t.Fatalf("no warning naming %q: %s", tc.want, got)
			}
		})
	}
}
