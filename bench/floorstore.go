package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"
	bolt "go.etcd.io/bbolt"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/pgstore"
)

// browserUA is the 120-character user agent of every benchmark session:
// what a desktop browser sends.
const browserUA = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.6422.0 Safari/537.36"

// floorRecord is what a rotation hands back that the access token needs.
type floorRecord struct {
	UserID    string
	ClientID  string
	AuthTime  time.Time
	AMR       []string
	ExpiresAt time.Time
}

// floorStore is the single store call of a refresh as a floor makes it,
// straight through the driver: no decision (grace window, reuse
// detection), nothing but the reads and writes a rotation cannot do
// without. The composite floor server and the bare driver loop make the
// same call.
type floorStore interface {
	// create stores a new session whose refresh token hashes to hash.
	create(ctx context.Context, id, userID string, hash []byte, now time.Time) error
	// rotate replaces the session's refresh hash (presented becomes the
	// previous one), moves its idle expiry and returns the record.
	rotate(ctx context.Context, id string, presented, next []byte, now time.Time) (floorRecord, error)
	close() error
}

// Lifetimes of floor sessions: sessiond's defaults.
const (
	floorIdle     = 24 * time.Hour
	floorAbsolute = 7 * 24 * time.Hour
)

// openFloorStore opens the floor's store of kind: "redis" at url with key
// prefix, "postgres" at url in schema, "bolt" in a file under dir. Every
// store gets pool connections for workers concurrent calls; bolt groups
// commits of at most batch calls (bbolt's Batch), or with batch 0 commits
// each call in its own fsync'd Update.
func openFloorStore(ctx context.Context, kind, url, prefix, dir string, workers, batch int) (floorStore, error) {
	switch kind {
	case "redis":
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, err
		}
		opt.PoolSize = workers
		opt.MinIdleConns = workers
		c := redis.NewClient(opt)
		if err := c.Ping(ctx).Err(); err != nil {
			c.Close()
			return nil, err
		}
		return &redisFloor{c: c, prefix: prefix}, nil
	case "postgres":
		// The table is sessiond's own, made by its migrations in a schema
		// of the floor's: the same columns and indexes the UPDATE maintains.
		ps, err := pgstore.Open(ctx, url, pgstore.WithSchema(prefix), pgstore.WithAutoMigrate())
		if err != nil {
			return nil, err
		}
		pc, err := pgxpool.ParseConfig(url)
		if err != nil {
			ps.Close()
			return nil, err
		}
		pc.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{prefix}.Sanitize()
		pc.MaxConns = int32(workers)
		// Idle connections go within a second or so: the composite floor
		// and the driver loop take turns with 64 connections each, and a
		// PostgreSQL server allows 100 by default.
		pc.MaxConnIdleTime = time.Second
		pc.HealthCheckPeriod = 250 * time.Millisecond
		pool, err := pgxpool.NewWithConfig(ctx, pc)
		if err != nil {
			ps.Close()
			return nil, err
		}
		if err := openConns(ctx, pool, workers); err != nil {
			ps.Close()
			pool.Close()
			return nil, err
		}
		return &pgFloor{ps: ps, pool: pool}, nil
	case "bolt":
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		db, err := bolt.Open(filepath.Join(dir, prefix+".db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
		if err != nil {
			return nil, err
		}
		if batch > 0 {
			db.MaxBatchSize = batch
		}
		if err := db.Update(func(tx *bolt.Tx) error {
			_, err := tx.CreateBucketIfNotExists(boltBucket)
			return err
		}); err != nil {
			db.Close()
			return nil, err
		}
		return &boltFloor{db: db, batch: batch > 0}, nil
	}
	return nil, fmt.Errorf("%w: no floor for store %q", errUsage, kind)
}

// newSessionID is a random 16-byte id and its base64url form, as sessiond
// makes them.
func newSessionID() (string, []byte) {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:]), b[:]
}

// --- Redis

// redisFloorScript is the floor of a rotation on Redis, the script of
// store/redisstore's BenchmarkFloor: one EVALSHA that reads the session's
// current hashes (HMGET), writes 5 fields (HSET), bumps the version, sets
// PEXPIREAT and returns the record (HGETALL), the same reads and writes as
// sessiond's rotation minus its checks.
var redisFloorScript = redis.NewScript(`
redis.call('HMGET', KEYS[1], 'i', 'a', 'h', 'q', 'r', 'x', 'u')
redis.call('HSET', KEYS[1], 'q', ARGV[1], 'h', ARGV[2], 'r', ARGV[3], 'l', ARGV[3], 'i', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return redis.call('HGETALL', KEYS[1])
`)

type redisFloor struct {
	c      *redis.Client
	prefix string
}

func (f *redisFloor) key(id string) string { return f.prefix + ":s:{" + id + "}" }

func micros(t time.Time) string { return strconv.FormatInt(t.UnixMicro(), 10) }

// create writes a session HASH laid out as sessiond's is today (one-letter
// fields, integer microseconds, raw hashes, the user agent in fields of at
// most 64 bytes), so the script moves as many bytes as sessiond's.
func (f *redisFloor) create(ctx context.Context, id, userID string, hash []byte, now time.Time) error {
	fields := []any{"u", userID, "c", micros(now), "l", micros(now), "i", micros(now.Add(floorIdle)),
		"a", micros(now.Add(floorAbsolute)), "p", "127.0.0.1", "m", "password", "h", string(hash), "v", "1",
		"g", browserUA[:64], "g1", browserUA[64:], "k", "sessiond", "t", micros(now), "w", `["pwd"]`}
	_, err := f.c.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, f.key(id), fields...)
		p.PExpireAt(ctx, f.key(id), now.Add(floorAbsolute))
		return nil
	})
	return err
}

func (f *redisFloor) rotate(ctx context.Context, id string, presented, next []byte, now time.Time) (floorRecord, error) {
	v, err := redisFloorScript.Run(ctx, f.c, []string{f.key(id)}, string(presented), string(next),
		micros(now), micros(now.Add(floorIdle)), now.Add(floorAbsolute).UnixMilli()).Slice()
	if err != nil {
		return floorRecord{}, err
	}
	var rec floorRecord
	var abs, idle int64
	for i := 0; i+1 < len(v); i += 2 {
		k, _ := v[i].(string)
		s, _ := v[i+1].(string)
		switch k {
		case "u":
			rec.UserID = s
		case "k":
			rec.ClientID = s
		case "t":
			us, _ := strconv.ParseInt(s, 10, 64)
			rec.AuthTime = time.UnixMicro(us)
		case "w":
			_ = json.Unmarshal([]byte(s), &rec.AMR)
		case "a":
			abs, _ = strconv.ParseInt(s, 10, 64)
		case "i":
			idle, _ = strconv.ParseInt(s, 10, 64)
		}
	}
	if rec.UserID == "" {
		return floorRecord{}, errors.New("no such session")
	}
	rec.ExpiresAt = time.UnixMicro(min(abs, idle))
	return rec, nil
}

func (f *redisFloor) close() error { return f.c.Close() }

// --- PostgreSQL

type pgFloor struct {
	ps   *pgstore.Store
	pool *pgxpool.Pool
}

// create inserts the session through sessiond's own store, so the row is
// one sessiond would have written.
func (f *pgFloor) create(ctx context.Context, id, userID string, hash []byte, now time.Time) error {
	return f.ps.Create(ctx, &session.Record{ID: id, UserID: userID, CreatedAt: now, LastSeenAt: now,
		IdleExpiresAt: now.Add(floorIdle), AbsExpiresAt: now.Add(floorAbsolute), IP: "127.0.0.1",
		UserAgent: browserUA, AuthMethod: "password", RefreshHash: hash, ClientID: "sessiond",
		AuthTime: now, AMR: []string{"pwd"}})
}

// rotate is store/pgstore's BenchmarkFloor statement: one UPDATE that
// rotates the hashes and returns the row, with the columns an access token
// needs.
func (f *pgFloor) rotate(ctx context.Context, id string, _, next []byte, now time.Time) (floorRecord, error) {
	var (
		rid, ip, ua, method           string
		created, seen, idle, abs, rot time.Time
		refresh, prev                 []byte
		data                          map[string]any
		version                       int64
		client                        *string
		authTime                      *time.Time
		rec                           floorRecord
	)
	err := f.pool.QueryRow(ctx, `UPDATE sessions SET prev_refresh_hash = refresh_hash, refresh_hash = $2,
			rotated_at = $3, last_seen_at = $3, idle_expires_at = $4, version = version + 1
		WHERE id = $1
		RETURNING id, user_id, created_at, last_seen_at, idle_expires_at, abs_expires_at,
			ip, user_agent, auth_method, refresh_hash, prev_refresh_hash, rotated_at, data, version,
			client_id, auth_time, amr`,
		id, next, now, now.Add(floorIdle)).Scan(&rid, &rec.UserID, &created, &seen, &idle, &abs,
		&ip, &ua, &method, &refresh, &prev, &rot, &data, &version, &client, &authTime, &rec.AMR)
	if err != nil {
		return floorRecord{}, err
	}
	if client != nil {
		rec.ClientID = *client
	}
	if authTime != nil {
		rec.AuthTime = *authTime
	}
	rec.ExpiresAt = idle
	if abs.Before(idle) {
		rec.ExpiresAt = abs
	}
	return rec, nil
}

// openConns opens n connections of pool, waiting (30 s at most) for the
// server to have room: the floor that ran before may not have closed its
// connections yet.
func openConns(ctx context.Context, pool *pgxpool.Pool, n int) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conns := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for len(conns) < n {
		c, err := pool.Acquire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return fmt.Errorf("open %d connections to PostgreSQL: %w", n, err)
			}
			time.Sleep(100 * time.Millisecond)
			continue
		}
		conns = append(conns, c)
	}
	return nil
}

func (f *pgFloor) close() error {
	f.pool.Close()
	f.ps.Close()
	return nil
}

// --- bbolt

var boltBucket = []byte("sessions")

// boltRecord is a floor session in bbolt, as JSON: about the size of
// sessiond's record.
type boltRecord struct {
	UserID   string    `json:"u"`
	Created  time.Time `json:"c"`
	LastSeen time.Time `json:"l"`
	Idle     time.Time `json:"i"`
	Abs      time.Time `json:"a"`
	IP       string    `json:"p"`
	UA       string    `json:"g"`
	Method   string    `json:"m"`
	Hash     []byte    `json:"h"`
	Prev     []byte    `json:"q,omitempty"`
	Rotated  time.Time `json:"r"`
	Version  int64     `json:"v"`
	Client   string    `json:"k"`
	AuthTime time.Time `json:"t"`
	AMR      []string  `json:"w"`
}

type boltFloor struct {
	db    *bolt.DB
	batch bool // group commit (Batch) rather than one Update per call
}

func (f *boltFloor) create(_ context.Context, id, userID string, hash []byte, now time.Time) error {
	b, err := json.Marshal(boltRecord{UserID: userID, Created: now, LastSeen: now, Idle: now.Add(floorIdle),
		Abs: now.Add(floorAbsolute), IP: "127.0.0.1", UA: browserUA, Method: "password", Hash: hash, Version: 1,
		Client: "sessiond", AuthTime: now, AMR: []string{"pwd"}})
	if err != nil {
		return err
	}
	return f.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(boltBucket).Put([]byte(id), b) })
}

// rotate reads the record, rotates its hashes and writes it back, in one
// write transaction whose commit is fsync'd: alone (Update) or with the
// calls made meanwhile (Batch). Batch may run the function again; it sets
// the same values each time.
func (f *boltFloor) rotate(_ context.Context, id string, _, next []byte, now time.Time) (floorRecord, error) {
	var rec floorRecord
	fn := func(tx *bolt.Tx) error {
		bk := tx.Bucket(boltBucket)
		v := bk.Get([]byte(id))
		if v == nil {
			return errors.New("no such session")
		}
		var r boltRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		r.Prev, r.Hash = r.Hash, next
		r.Rotated, r.LastSeen, r.Idle = now, now, now.Add(floorIdle)
		r.Version++
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		rec = floorRecord{UserID: r.UserID, ClientID: r.Client, AuthTime: r.AuthTime, AMR: r.AMR, ExpiresAt: r.Idle}
		if r.Abs.Before(r.Idle) {
			rec.ExpiresAt = r.Abs
		}
		return bk.Put([]byte(id), b)
	}
	var err error
	if f.batch {
		err = f.db.Batch(fn)
	} else {
		err = f.db.Update(fn)
	}
	return rec, err
}

func (f *boltFloor) close() error { return f.db.Close() }
