package pgstore_test

import (
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session/sessiontest"
)

// BenchmarkRotate is one refresh rotation through Store.Rotate: one round
// trip, the UPDATE ... RETURNING of the current token (rotateFast).
// Compare it with BenchmarkFloor, the bare UPDATE a rotation cannot do
// without.
func BenchmarkRotate(b *testing.B) { sessiontest.BenchRotate(b, open(b, freshSchema(b))) }

// BenchmarkFloor is the floor under BenchmarkRotate: the same table, the
// same row, one UPDATE that rotates the hashes and returns the row, sent
// straight through pgx with no decision and no outcome.
func BenchmarkFloor(b *testing.B) {
	schema := freshSchema(b)
	s := open(b, schema) // migrates the schema
	ctx := b.Context()
	r := sessiontest.NewRecord("u", 0)
	if err := s.Create(ctx, r); err != nil {
		b.Fatal(err)
	}
	s.Close()
	pc, err := pgxpool.ParseConfig(testenv.PostgresURL(b))
	if err != nil {
		b.Fatal(err)
	}
	pc.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		b.Fatal(err)
	}
	defer pool.Close()
	next := make([][]byte, 1024)
	for i := range next {
		next[i] = sessiontest.NewHash()
	}
	now := sessiontest.Base
	i := 0
	for b.Loop() {
		n := next[i%len(next)]
		i++
		var (
			id, user, ip, ua, method      string
			created, seen, idle, abs, rot time.Time
			refresh, prev                 []byte
			data                          map[string]any
			version                       int64
		)
		err := pool.QueryRow(ctx, `UPDATE sessions SET prev_refresh_hash = refresh_hash, refresh_hash = $2,
				rotated_at = $3, last_seen_at = $3, idle_expires_at = $4, version = version + 1
			WHERE id = $1
			RETURNING id, user_id, created_at, last_seen_at, idle_expires_at, abs_expires_at,
				ip, user_agent, auth_method, refresh_hash, prev_refresh_hash, rotated_at, data, version`,
			r.ID, n, now, now.Add(24*time.Hour)).Scan(&id, &user, &created, &seen, &idle, &abs,
			&ip, &ua, &method, &refresh, &prev, &rot, &data, &version)
		if err != nil {
			b.Fatal(err)
		}
	}
}
