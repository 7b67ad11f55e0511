package pgstore_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/account/accounttest"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/pgstore"
)

// freshSchema returns the name of a schema no one uses yet and drops it
// (with everything in it) when the test ends.
func freshSchema(t testing.TB) string {
	t.Helper()
	return freshSchemaNamed(t, "sessiond_test_")
}

// freshSchemaNamed is freshSchema with the name's prefix chosen.
func freshSchemaNamed(t testing.TB, prefix string) string {
	t.Helper()
	url := testenv.PostgresURL(t)
	b := make([]byte, 8)
	rand.Read(b)
	name := prefix + hex.EncodeToString(b)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Errorf("drop schema %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{name}.Sanitize()+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", name, err)
		}
	})
	return name
}

// open opens a migrated store in schema and closes it when the test ends.
func open(t testing.TB, schema string, opts ...pgstore.Option) *pgstore.Store {
	t.Helper()
	opts = append([]pgstore.Option{pgstore.WithSchema(schema), pgstore.WithAutoMigrate()}, opts...)
	s, err := pgstore.Open(context.Background(), testenv.PostgresURL(t), opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return open(t, freshSchema(t))
	})
}

// A tiny batch makes every DeleteExpired of the suite cross batch
// boundaries.
func TestConformanceSmallBatches(t *testing.T) {
	sessiontest.Run(t, func(t *testing.T) session.Store {
		return open(t, freshSchema(t), pgstore.WithDeleteBatch(3))
	})
}

func TestAccounts(t *testing.T) {
	accounttest.Run(t, func(t *testing.T) account.Store {
		return open(t, freshSchema(t))
	})
}

func TestMigrate(t *testing.T) {
	ctx := t.Context()
	url := testenv.PostgresURL(t)
	schema := freshSchema(t)

	t.Run("open-unmigrated", func(t *testing.T) {
		s, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema))
		if !errors.Is(err, pgstore.ErrNotMigrated) {
			if s != nil {
				s.Close()
			}
			t.Fatalf("Open on an empty schema = %v, want ErrNotMigrated", err)
		}
		if !strings.Contains(err.Error(), "run `sessiond migrate` (or serve --migrate)") {
			t.Fatalf("error %q does not say how to migrate", err)
		}
	})
	t.Run("apply", func(t *testing.T) {
		applied, err := pgstore.Migrate(ctx, url, pgstore.WithSchema(schema))
		if err != nil || len(applied) == 0 || applied[0] != 1 {
			t.Fatalf("Migrate = %v, %v; want [1 ...]", applied, err)
		}
		for i, v := range applied {
			if v != i+1 {
				t.Fatalf("applied %v, want consecutive versions from 1", applied)
			}
		}
	})
	t.Run("again", func(t *testing.T) {
		applied, err := pgstore.Migrate(ctx, url, pgstore.WithSchema(schema))
		if err != nil || len(applied) != 0 {
			t.Fatalf("second Migrate = %v, %v; want nothing applied", applied, err)
		}
	})
	t.Run("open-migrated", func(t *testing.T) {
		s, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema))
		if err != nil {
			t.Fatalf("Open after Migrate: %v", err)
		}
		defer s.Close()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
	})
	t.Run("concurrent", func(t *testing.T) {
		schema := freshSchema(t)
		const n = 4
		results := make([][]int, n)
		errs := make([]error, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() { results[i], errs[i] = pgstore.Migrate(ctx, url, pgstore.WithSchema(schema)) })
		}
		wg.Wait()
		var all []int
		for i := range n {
			if errs[i] != nil {
				t.Fatalf("Migrate %d: %v", i, errs[i])
			}
			all = append(all, results[i]...)
		}
		slices.Sort(all)
		if len(all) == 0 || slices.Compact(slices.Clone(all)) == nil || len(slices.Compact(slices.Clone(all))) != len(all) {
			t.Fatalf("versions applied by %d concurrent Migrates: %v; want each exactly once", n, all)
		}
		s, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema))
		if err != nil {
			t.Fatalf("Open after concurrent Migrate: %v", err)
		}
		s.Close()
	})
	t.Run("database-ahead", func(t *testing.T) {
		// A newer node migrated further: an older build still opens it
		// (rolling upgrades).
		schema := freshSchema(t)
		if _, err := pgstore.Migrate(ctx, url, pgstore.WithSchema(schema)); err != nil {
			t.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, url)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "INSERT INTO "+pgx.Identifier{schema, "sessiond_schema_migrations"}.Sanitize()+" (version) VALUES (9999)"); err != nil {
			t.Fatal(err)
		}
		s, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema))
		if err != nil {
			t.Fatalf("Open of a database ahead of this build: %v", err)
		}
		s.Close()
		if applied, err := pgstore.Migrate(ctx, url, pgstore.WithSchema(schema)); err != nil || len(applied) != 0 {
			t.Fatalf("Migrate of a database ahead = %v, %v; want nothing", applied, err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		schema := freshSchema(t)
		dead, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := pgstore.Migrate(dead, url, pgstore.WithSchema(schema)); !errors.Is(err, context.Canceled) {
			t.Fatalf("Migrate(cancelled) = %v, want context.Canceled", err)
		}
		if _, err := pgstore.Open(ctx, url, pgstore.WithSchema(schema)); !errors.Is(err, pgstore.ErrNotMigrated) {
			t.Fatalf("Open after a cancelled Migrate = %v, want ErrNotMigrated", err)
		}
	})
	t.Run("auto-migrate", func(t *testing.T) {
		schema := freshSchema(t)
		s := open(t, schema) // WithAutoMigrate
		r := sessiontest.NewRecord("u", 0)
		if err := s.Create(ctx, r); err != nil {
			t.Fatalf("Create on an auto-migrated store: %v", err)
		}
		if applied, err := pgstore.Migrate(ctx, url, pgstore.WithSchema(schema)); err != nil || len(applied) != 0 {
			t.Fatalf("Migrate after auto-migrate = %v, %v; want nothing", applied, err)
		}
	})
}

// recv waits for the revocations of ids (in any order, others ignored).
func recv(t *testing.T, ch <-chan session.Revocation, ids ...string) {
	t.Helper()
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	deadline := time.After(10 * time.Second)
	for len(want) > 0 {
		select {
		case r := <-ch:
			delete(want, r.SessionID)
		case <-deadline:
			t.Fatalf("no revocation event for %v", want)
		}
	}
}

// TestFeedAcrossNodes runs two stores (two pools: two nodes) on one
// schema: a revocation on one reaches the other's subscriber, also when
// the subscriber's connection was killed and the revocation was made
// while it was gone.
func TestFeedAcrossNodes(t *testing.T) {
	ctx := t.Context()
	schema := freshSchema(t)
	a, b := open(t, schema), open(t, schema)
	events := make(chan session.Revocation, 100)
	if err := b.SubscribeRevocations(ctx, func(r session.Revocation) { events <- r }); err != nil {
		t.Fatal(err)
	}
	until := sessiontest.Base.Add(time.Hour)
	r1 := sessiontest.NewRecord("u", 0)
	if err := a.Create(ctx, r1); err != nil {
		t.Fatal(err)
	}
	if ok, err := a.Delete(ctx, r1.ID, until); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	recv(t, events, r1.ID)

	// Kill the listener's backend, then revoke at once: the listener
	// waits at least its minimum backoff before it reconnects.
	conn, err := pgx.Connect(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	listenerPID := func() []int32 {
		rows, _ := conn.Query(ctx, `SELECT pid FROM pg_stat_activity WHERE application_name = $1`, "sessiond_rev_"+schema)
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			t.Fatal(err)
		}
		return pids
	}
	pids := listenerPID()
	if len(pids) != 1 {
		t.Fatalf("listener backends %v, want one", pids)
	}
	r2 := sessiontest.NewRecord("u", time.Minute)
	if err := a.Create(ctx, r2); err != nil {
		t.Fatal(err)
	}
	var killed bool
	if err := conn.QueryRow(ctx, `SELECT pg_terminate_backend($1)`, pids[0]).Scan(&killed); err != nil || !killed {
		t.Fatalf("pg_terminate_backend = %v, %v", killed, err)
	}
	if ok, err := a.Delete(ctx, r2.ID, until); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	// The catch-up after reconnecting re-delivers r1 too: a NOTIFY alone
	// could not, so this proves the catch-up ran.
	recv(t, events, r1.ID, r2.ID)

	// And the new connection listens.
	r3 := sessiontest.NewRecord("u", 2*time.Minute)
	if err := a.Create(ctx, r3); err != nil {
		t.Fatal(err)
	}
	if _, err := a.DeleteUser(ctx, "u", "", until); err != nil {
		t.Fatal(err)
	}
	recv(t, events, r3.ID)
	if now := listenerPID(); len(now) != 1 || now[0] == pids[0] {
		t.Fatalf("listener backends after reconnect %v (killed %d)", now, pids[0])
	}
}

// TestOddSchemaNames: names that need quoting, and names too long to fit
// a NOTIFY channel after the prefix, still work, feed included.
func TestOddSchemaNames(t *testing.T) {
	prefixes := map[string]string{
		"quoted": `Odd "Name"; DROP TABLE x -- `,
		"long":   strings.Repeat("l", 40) + "_",
	}
	for name, prefix := range prefixes {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t, freshSchemaNamed(t, prefix))
			events := make(chan session.Revocation, 10)
			if err := s.SubscribeRevocations(ctx, func(r session.Revocation) { events <- r }); err != nil {
				t.Fatal(err)
			}
			r := sessiontest.NewRecord("u", 0)
			if err := s.Create(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Delete(ctx, r.ID, sessiontest.Base.Add(time.Hour)); err != nil {
				t.Fatal(err)
			}
			recv(t, events, r.ID)
		})
	}
}

// TestSchemasAreIsolated: a subscriber hears only its own schema.
func TestSchemasAreIsolated(t *testing.T) {
	ctx := t.Context()
	a, b := open(t, freshSchema(t)), open(t, freshSchema(t))
	events := make(chan session.Revocation, 10)
	if err := b.SubscribeRevocations(ctx, func(r session.Revocation) { events <- r }); err != nil {
		t.Fatal(err)
	}
	until := sessiontest.Base.Add(time.Hour)
	for _, s := range []*pgstore.Store{a, b} {
		r := sessiontest.NewRecord("u", 0)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Delete(ctx, r.ID, until); err != nil {
			t.Fatal(err)
		}
		if s == a {
			continue
		}
		// Events arrive in order; b's own is the first b hears.
		select {
		case got := <-events:
			if got.SessionID != r.ID {
				t.Fatalf("subscriber of one schema heard %s of another", got.SessionID)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no event")
		}
	}
}

func TestCountSessions(t *testing.T) {
	ctx := t.Context()
	s := open(t, freshSchema(t))
	base := sessiontest.Base
	for _, idle := range []time.Duration{time.Hour, 2 * time.Hour, 3 * time.Hour} {
		r := sessiontest.NewRecord("u", 0)
		r.IdleExpiresAt = base.Add(idle)
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		at   time.Duration
		want int64
	}{{0, 3}, {time.Hour, 2}, {2*time.Hour + time.Microsecond, 1}, {3 * time.Hour, 0}}
	for _, tt := range tests {
		t.Run(tt.at.String(), func(t *testing.T) {
			n, err := s.CountSessions(ctx, base.Add(tt.at))
			if err != nil || n != tt.want {
				t.Fatalf("CountSessions = %d, %v; want %d", n, err, tt.want)
			}
		})
	}
}

// TestOutage: with the database out of reach every call fails closed with
// an error wrapping session.ErrStore.
func TestOutage(t *testing.T) {
	ctx := t.Context()
	t.Run("unreachable", func(t *testing.T) {
		_, err := pgstore.Open(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2")
		if !errors.Is(err, session.ErrStore) {
			t.Fatalf("Open of a closed port = %v, want ErrStore", err)
		}
		if _, err := pgstore.Migrate(ctx, "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=2"); !errors.Is(err, session.ErrStore) {
			t.Fatalf("Migrate of a closed port = %v, want ErrStore", err)
		}
	})
	t.Run("bad-url", func(t *testing.T) {
		_, err := pgstore.Open(ctx, "postgres://user:s3cret@[::1")
		if err == nil || strings.Contains(err.Error(), "s3cret") {
			t.Fatalf("Open of a bad URL = %v; want an error that does not echo the password", err)
		}
	})
	s := open(t, freshSchema(t))
	r := sessiontest.NewRecord("u", 0)
	if err := s.Create(ctx, r); err != nil {
		t.Fatal(err)
	}
	s.Close()
	far := sessiontest.Base.Add(time.Hour)
	ops := []struct {
		name string
		op   func() error
	}{
		{"ping", func() error { return s.Ping(ctx) }},
		{"create", func() error { return s.Create(ctx, sessiontest.NewRecord("u", 0)) }},
		{"get", func() error { _, err := s.Get(ctx, r.ID); return err }},
		{"update", func() error { return s.Update(ctx, r) }},
		{"rotate", func() error {
			_, _, err := s.Rotate(ctx, r.ID, session.RotateRequest{Presented: r.RefreshHash, Next: sessiontest.NewHash(), Now: sessiontest.Base})
			return err
		}},
		{"delete", func() error { _, err := s.Delete(ctx, r.ID, far); return err }},
		{"delete-user", func() error { _, err := s.DeleteUser(ctx, "u", "", far); return err }},
		{"list-user", func() error { _, err := s.ListUser(ctx, "u"); return err }},
		{"revocations", func() error { _, err := s.Revocations(ctx, sessiontest.Base); return err }},
		{"delete-expired", func() error { _, err := s.DeleteExpired(ctx, far); return err }},
		{"count", func() error { _, err := s.CountSessions(ctx, sessiontest.Base); return err }},
		{"subscribe", func() error { return s.SubscribeRevocations(ctx, func(session.Revocation) {}) }},
		{"load-ring", func() error { _, _, err := s.LoadKeyRing(ctx); return err }},
		{"save-ring", func() error { return s.SaveKeyRing(ctx, []byte("x"), 0) }},
		{"create-account", func() error {
			return s.CreateAccount(ctx, &account.Account{ID: "a", Email: "a@example.com", CreatedAt: sessiontest.Base})
		}},
		{"account-by-id", func() error { _, err := s.AccountByID(ctx, "a"); return err }},
		{"list-accounts-page", func() error { _, err := s.ListAccountsPage(ctx, "", 10); return err }},
		{"delete-account", func() error { return s.DeleteAccount(ctx, "a") }},
	}
	for _, tc := range ops {
		t.Run("closed/"+tc.name, func(t *testing.T) {
			if err := tc.op(); !errors.Is(err, session.ErrStore) {
				t.Fatalf("on a closed store: %v, want an error wrapping session.ErrStore", err)
			}
		})
	}
}
