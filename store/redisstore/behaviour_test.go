package redisstore_test

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
)

// keySlot asks the cluster which hash slot a key lives in.
func keySlot(t *testing.T, c redis.UniversalClient, key string) int64 {
	t.Helper()
	n, err := c.ClusterKeySlot(t.Context(), key).Result()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestClusterCrossSlotRevocation: a user's sessions and their index live
// in different slots (on different masters), yet DeleteUser on one node
// revokes them all, and another node's feed hears every one.
func TestClusterCrossSlotRevocation(t *testing.T) {
	url := testenv.RedisClusterURL(t)
	nodeA, prefix := open(t, url)
	nodeB := openPrefix(t, url, prefix)
	ctx := t.Context()

	var rs []*session.Record
	for i := range 8 {
		r := sessiontest.NewRecord("alice", time.Duration(i)*time.Minute)
		if err := nodeA.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		rs = append(rs, r)
	}
	c := nodeA.Client()
	userSlot := keySlot(t, c, prefix+":u:{alice}")
	slots := map[int64]bool{userSlot: true}
	for _, r := range rs {
		slots[keySlot(t, c, prefix+":s:{"+r.ID+"}")] = true
	}
	if len(slots) < 3 {
		t.Fatalf("sessions and index share slots %v; the test needs them spread", slots)
	}

	events := make(chan session.Revocation, 100)
	if err := nodeB.SubscribeRevocations(ctx, func(r session.Revocation) { events <- r }); err != nil {
		t.Fatal(err)
	}
	until := sessiontest.Base.Add(time.Hour)
	gone, err := nodeA.DeleteUser(ctx, "alice", "", until)
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, r := range rs {
		want = append(want, r.ID)
	}
	slices.Sort(want)
	if slices.Sort(gone); !slices.Equal(gone, want) {
		t.Fatalf("DeleteUser = %v, want %v", gone, want)
	}
	var heard []string
	for range want {
		select {
		case ev := <-events:
			if !ev.Until.Equal(until) {
				t.Fatalf("event until %v, want %v", ev.Until, until)
			}
			heard = append(heard, ev.SessionID)
		case <-time.After(10 * time.Second):
			t.Fatalf("node B heard %d of %d revocations", len(heard), len(want))
		}
	}
	if slices.Sort(heard); !slices.Equal(heard, want) {
		t.Fatalf("node B heard %v, want %v", heard, want)
	}
	revs, err := nodeB.Revocations(ctx, sessiontest.Base)
	if err != nil || len(revs) != len(want) {
		t.Fatalf("node B Revocations = %v, %v", revs, err)
	}
	for _, r := range rs {
		if _, err := nodeB.Get(ctx, r.ID); err == nil {
			t.Fatalf("session %s still readable on node B", r.ID)
		}
	}
	if left, err := nodeB.ListUser(ctx, "alice"); err != nil || len(left) != 0 {
		t.Fatalf("ListUser on node B = %d sessions, %v", len(left), err)
	}
	// The log goes by itself once its last Until has passed.
	if ttl, err := c.PTTL(ctx, prefix+":{rev}").Result(); err != nil || time.Now().Add(ttl).Before(until) {
		t.Fatalf("revocation log PTTL = %v, %v; want until %v", ttl, err, until)
	}
}

// TestFeedCatchUpAfterReconnect: a subscriber whose connection is killed
// still hears the revocations recorded while it was cut off, because it
// reloads the log once it is subscribed again. A private server, so that
// killing pub/sub clients disturbs no other test.
func TestFeedCatchUpAfterReconnect(t *testing.T) {
	p := testenv.StartRedis(t)
	node := openPrefix(t, p.URL(), randomPrefix())
	ctx := t.Context()
	events := make(chan session.Revocation, 100)
	if err := node.SubscribeRevocations(ctx, func(r session.Revocation) { events <- r }); err != nil {
		t.Fatal(err)
	}
	next := func(t *testing.T) string {
		t.Helper()
		select {
		case ev := <-events:
			return ev.SessionID
		case <-time.After(10 * time.Second):
			t.Fatal("no revocation arrived")
			return ""
		}
	}
	until := sessiontest.Base.Add(time.Hour)
	create := func() *session.Record {
		r := sessiontest.NewRecord("u", 0)
		if err := node.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	before := create()
	missed := create()
	if _, err := node.Delete(ctx, before.ID, until); err != nil {
		t.Fatal(err)
	}
	if got := next(t); got != before.ID {
		t.Fatalf("event for %s, want %s", got, before.ID)
	}

	// Cut the subscriber off, and revoke at once, while it reconnects.
	admin := redis.NewClient(&redis.Options{Addr: p.Addr()})
	defer admin.Close()
	killed, err := admin.ClientKillByFilter(ctx, "TYPE", "pubsub").Result()
	if err != nil || killed != 1 {
		t.Fatalf("CLIENT KILL TYPE pubsub = %d, %v; want 1 killed", killed, err)
	}
	if _, err := node.Delete(ctx, missed.ID, until); err != nil {
		t.Fatal(err)
	}
	// The reload replays the whole log: both ids, in some order, and the
	// missed one at least once.
	got := map[string]bool{}
	for !got[missed.ID] || !got[before.ID] {
		got[next(t)] = true
	}
	// Subscribed again: a live event arrives by pub/sub too.
	live := create()
	if _, err := node.Delete(ctx, live.ID, until); err != nil {
		t.Fatal(err)
	}
	// (The reload may still be replaying; skip what it repeats.)
	for {
		id := next(t)
		if id == live.ID {
			break
		}
		if id != before.ID && id != missed.ID {
			t.Fatalf("event for unknown session %s", id)
		}
	}
}

// TestAOFSurvivesKill9: with appendfsync always, everything a call
// acknowledged is still there after the server is killed with SIGKILL and
// restarted on the same directory.
func TestAOFSurvivesKill9(t *testing.T) {
	p := testenv.StartRedis(t, "--appendonly", "yes", "--appendfsync", "always")
	prefix := randomPrefix()
	s := openPrefix(t, p.URL(), prefix)
	ctx := t.Context()

	kept := sessiontest.NewRecord("alice", 0)
	rotated := sessiontest.NewRecord("alice", time.Minute)
	revoked := sessiontest.NewRecord("bob", 0)
	for _, r := range []*session.Record{kept, rotated, revoked} {
		if err := s.Create(ctx, r.Clone()); err != nil {
			t.Fatal(err)
		}
	}
	next := sessiontest.NewHash()
	now := sessiontest.Base.Add(time.Hour)
	out, want, err := s.Rotate(ctx, rotated.ID, session.RotateRequest{
		Presented: rotated.RefreshHash, Next: next, Now: now, Grace: 10 * time.Second,
		IdleExpiresAt: now.Add(24 * time.Hour), RevokeHold: time.Hour,
	})
	if err != nil || out != session.Rotated {
		t.Fatalf("Rotate = %v, %v", out, err)
	}
	until := now.Add(time.Hour)
	if ok, err := s.Delete(ctx, revoked.ID, until); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	if err := s.SaveKeyRing(ctx, []byte("ring"), 0); err != nil {
		t.Fatal(err)
	}
	acct := &account.Account{ID: "id-1", Email: "a@example.com", PasswordHash: "$argon2id$x", CreatedAt: time.Now().UTC()}
	if err := s.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}

	p.Kill()
	p.Start()
	s = openPrefix(t, p.URL(), prefix)

	got, err := s.Get(ctx, kept.ID)
	if err != nil || got.Version != 1 || !bytes.Equal(got.RefreshHash, kept.RefreshHash) {
		t.Fatalf("kept session after restart: %+v, %v", got, err)
	}
	got, err = s.Get(ctx, rotated.ID)
	if err != nil || got.Version != 2 || !bytes.Equal(got.RefreshHash, next) ||
		!bytes.Equal(got.PrevRefreshHash, rotated.RefreshHash) || !got.RotatedAt.Equal(want.RotatedAt) {
		t.Fatalf("rotated session after restart: %+v, %v", got, err)
	}
	if _, err := s.Get(ctx, revoked.ID); err == nil {
		t.Fatal("deleted session is back after restart")
	}
	revs, err := s.Revocations(ctx, now)
	if err != nil || len(revs) != 1 || revs[0].SessionID != revoked.ID || !revs[0].Until.Equal(until) {
		t.Fatalf("revocations after restart = %v, %v", revs, err)
	}
	list, err := s.ListUser(ctx, "alice")
	if err != nil || len(list) != 2 {
		t.Fatalf("ListUser after restart = %d, %v", len(list), err)
	}
	// The index goes by itself once its last session's absolute expiry
	// has passed, and the session by its own expiry.
	if ttl, err := s.Client().PTTL(ctx, prefix+":u:{alice}").Result(); err != nil || time.Now().Add(ttl).Before(rotated.AbsExpiresAt) {
		t.Fatalf("index PTTL = %v, %v; want past %v", ttl, err, rotated.AbsExpiresAt)
	}
	if ttl, err := s.Client().PTTL(ctx, prefix+":s:{"+rotated.ID+"}").Result(); err != nil || time.Now().Add(ttl).Before(got.ExpiresAt()) {
		t.Fatalf("session PTTL = %v, %v; want past %v", ttl, err, got.ExpiresAt())
	}
	if blob, v, err := s.LoadKeyRing(ctx); err != nil || string(blob) != "ring" || v != 1 {
		t.Fatalf("key ring after restart = %q, %d, %v", blob, v, err)
	}
	if a, err := s.AccountByEmail(ctx, acct.Email); err != nil || a.ID != acct.ID {
		t.Fatalf("account after restart = %v, %v", a, err)
	}
	// The email claim was made permanent before CreateAccount returned.
	if ttl, err := s.Client().PTTL(ctx, prefix+":e:{"+acct.Email+"}").Result(); err != nil || ttl >= 0 {
		t.Fatalf("email key TTL = %v, %v; want none", ttl, err)
	}
}

// TestMemoryPerSession measures what one session costs in Redis: its
// HASH plus its share of the user index. Target: at most 480 bytes for a
// session without app data or application claims, 96 of them the three
// refresh hashes (current, parent, and the child that lets a lost
// rotation resume, see session.Record.NextRefreshHash), some 40 the RFC
// 9068 client id, auth time and amr; a browser's 120-character user agent
// costs no more than a 15-character one (packed, see packUserAgent). A
// field too long for Redis's compact listpack encoding would triple it.
func TestMemoryPerSession(t *testing.T) {
	s, prefix := open(t, testenv.RedisURL(t))
	ctx := t.Context()
	c := s.Client()
	usage := func(key string) int64 {
		t.Helper()
		n, err := c.MemoryUsage(ctx, key, 0).Result()
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	cases := []struct {
		name string
		ua   string
		max  int64
	}{
		{"short-user-agent", "sessiontest/1.0", 480},
		{"browser-user-agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", 480},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const n = 100
			user := "mem-" + tc.name
			var one int64
			for i := range n {
				r := sessiontest.NewRecord(user, time.Duration(i)*time.Second)
				r.UserAgent = tc.ua
				// As sessiond's own password login makes it: no application
				// claims (they count like app data), its own client id.
				r.Claims, r.ClientID, r.AMR = nil, "sessiond", []string{"pwd"}
				r.PrevRefreshHash = sessiontest.NewHash()
				r.RotatedAt = r.CreatedAt
				if err := s.Create(ctx, r); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					one = usage(prefix + ":s:{" + r.ID + "}")
				}
			}
			perEntry := usage(prefix+":u:{"+user+"}") / n
			total := one + perEntry
			t.Logf("%s: session HASH %d B + index entry %d B = %d B per session", tc.name, one, perEntry, total)
			if total > tc.max {
				t.Fatalf("%d bytes per session, want at most %d", total, tc.max)
			}
		})
	}
}

// Benchmarks: our Rotate beside the floor, the same work issued straight
// through go-redis: one EVALSHA of a script that reads the session's
// current hash (HMGET), writes 5 fields (HSET), bumps the version, sets
// PEXPIREAT and returns the record (HGETALL): one round trip and the same
// reads and writes as Rotate, minus our checks and decoding.
var floorScript = redis.NewScript(`
redis.call('HMGET', KEYS[1], 'i', 'a', 'h', 'q', 'r', 'x', 'u')
redis.call('HSET', KEYS[1], 'q', ARGV[1], 'h', ARGV[2], 'r', ARGV[3], 'l', ARGV[3], 'i', ARGV[4])
redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
return redis.call('HGETALL', KEYS[1])
`)

func BenchmarkRotate(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, _ := open(b, be.url(b))
			sessiontest.BenchRotate(b, s)
		})
	}
}

func BenchmarkFloor(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s, prefix := open(b, be.url(b))
			ctx := b.Context()
			r := sessiontest.NewRecord("bench", 0)
			if err := s.Create(ctx, r); err != nil {
				b.Fatal(err)
			}
			c := s.Client()
			key := []string{prefix + ":s:{" + r.ID + "}"}
			prev, next := string(sessiontest.NewHash()), string(sessiontest.NewHash())
			exp := fmt.Sprint(r.AbsExpiresAt.UnixMilli())
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				at := fmt.Sprint(sessiontest.Base.UnixMicro() + int64(i))
				if err := floorScript.Run(ctx, c, key, prev, next, at, at, exp).Err(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
