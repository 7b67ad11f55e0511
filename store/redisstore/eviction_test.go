package redisstore_test

import (
	"strings"
	"testing"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/store/redisstore"
)

// A Redis that evicts keys under memory pressure could drop a user's
// index (then "log out everywhere" misses sessions that live on), the
// revocation log (nodes that start later accept revoked sessions' tokens)
// or the key ring (a node would make a new one). Revocation would fail
// open, silently. Open refuses such a server with an error that says why.
func TestOpenRefusesEvictingRedis(t *testing.T) {
	tests := []struct {
		policy string
		ok     bool
	}{
		{"noeviction", true},
		{"allkeys-lru", false},
		{"volatile-lru", false}, // the index, the log and sessions all have TTLs
		{"allkeys-random", false},
	}
	for _, tt := range tests {
		t.Run(tt.policy, func(t *testing.T) {
			p := testenv.StartRedis(t, "--save", "", "--appendonly", "no", "--maxmemory-policy", tt.policy)
			s, err := redisstore.Open(t.Context(), p.URL())
			if tt.ok {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				s.Close()
				return
			}
			if err == nil {
				s.Close()
				t.Fatal("Open accepted a Redis that evicts keys")
			}
			if !strings.Contains(err.Error(), "noeviction") {
				t.Fatalf("error does not say what to do: %v", err)
			}
		})
	}
}
