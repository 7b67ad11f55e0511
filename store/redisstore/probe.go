package redisstore

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Probe checks that Redis takes writes (for /readyz): it writes a random
// value under <prefix>:{probe} (expiring after a minute) and reads it
// back. A Redis that refuses writes (a full disk with
// stop-writes-on-bgsave-error, OOM under noeviction, a read-only replica)
// fails it.
func (s *Store) Probe(ctx context.Context) error {
	want := rand.Text()
	key := s.prefix + ":{probe}"
	if err := s.c.Set(ctx, key, want, time.Minute).Err(); err != nil {
		return fail("probe: write", err)
	}
	// Another node's probe may write between the two commands: any probe
	// value read back shows that writes land.
	switch err := s.c.Get(ctx, key).Err(); {
	case err == redis.Nil:
		return fail("probe: read back", errors.New("the probe key is missing"))
	case err != nil:
		return fail("probe: read back", err)
	}
	return nil
}
