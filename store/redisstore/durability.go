package redisstore

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"
)

// Durability is what one Redis master keeps of the writes it acknowledged,
// read from its configuration at Open.
type Durability struct {
	// Addr is the master's address.
	Addr string
	// Known is false when the server refuses CONFIG GET (some managed
	// services): nothing below is then known.
	Known bool
	// AOF: appendonly yes.
	AOF bool
	// Fsync is appendfsync: always, everysec or no.
	Fsync string
}

// Risk says in a sentence what a crash of the machine (not just of Redis)
// can lose, or "" when every acknowledged write is on disk. Sessions
// refreshed in a lost window come back holding a refresh token that is no
// longer current: their users must log in again.
func (d Durability) Risk() string {
	switch {
	case !d.Known:
		return ""
	case !d.AOF:
		return fmt.Sprintf("Redis %s has appendonly no: a restart loses every session, revocation and key since the last snapshot (set appendonly yes, appendfsync always)", d.Addr)
	case d.Fsync != "always":
		return fmt.Sprintf("Redis %s has appendfsync %s: a crash of its machine can lose up to a second of acknowledged logins, refreshes and revocations; refreshed sessions then end, and a revoked one may come back (set appendfsync always)", d.Addr, d.Fsync)
	}
	return ""
}

// Durability reads the persistence settings of every master.
func (s *Store) Durability(ctx context.Context) ([]Durability, error) {
	var out []Durability
	err := s.forEachMaster(ctx, func(ctx context.Context, c *redis.Client) error {
		d := Durability{Addr: c.Options().Addr}
		cfg, err := c.ConfigGet(ctx, "append*").Result()
		if err == nil {
			d.Known = true
			d.AOF = cfg["appendonly"] == "yes"
			d.Fsync = cfg["appendfsync"]
		}
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, wrap(err)
	}
	return out, nil
}
