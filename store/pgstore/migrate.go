package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migration is one embedded schema change, applied in its own transaction.
type migration struct {
	version int
	name    string
	sql     string
}

// migrations are the embedded migrations in version order, checked at
// init: named NNNN_what.sql and numbered 1, 2, 3... with no gap. A bad
// file is a build mistake, so it panics rather than fail at run time.
var migrations = mustLoadMigrations(migrationFS)

func mustLoadMigrations(fsys fs.FS) []migration {
	ms, err := loadMigrations(fsys)
	if err != nil {
		panic(err)
	}
	return ms
}

func loadMigrations(fsys fs.FS) ([]migration, error) {
	names, err := fs.Glob(fsys, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, n := range names {
		base := path.Base(n)
		num, _, ok := strings.Cut(base, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || len(num) != 4 {
			return nil, fmt.Errorf("pgstore: migration %s is not named NNNN_name.sql", base)
		}
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: base, sql: string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("pgstore: migration %s: want version %d", m.name, i+1)
		}
	}
	return ms, nil
}

func latestVersion() int { return len(migrations) }

const migrationsTable = "sessiond_schema_migrations"

// Migrate applies the embedded migrations the database at url lacks, in
// order, each in its own transaction together with its row in
// sessiond_schema_migrations, and returns the versions it applied (none
// when the schema is up to date). Every transaction first takes a
// transaction-scoped advisory lock, so nodes that migrate at once apply
// each migration exactly once. With WithSchema, the schema is created if
// it does not exist.
func Migrate(ctx context.Context, url string, opts ...Option) (applied []int, err error) {
	c := newConfig(opts)
	pc, err := poolConfig(url, c)
	if err != nil {
		return nil, err
	}
	pc.MaxConns = 1
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, wrapErr(ctx, "migrate", err)
	}
	defer pool.Close()
	return migrate(ctx, pool, c.schema)
}

func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) ([]int, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pgstore: migrate: %w", err)
	}
	var applied []int
	for {
		v, err := migrateOne(ctx, pool, schema)
		if err != nil {
			return applied, err
		}
		if v == 0 {
			return applied, nil
		}
		applied = append(applied, v)
	}
}

// migrateOne applies the first pending migration in one transaction and
// returns its version, or 0 if none is pending.
func migrateOne(ctx context.Context, pool *pgxpool.Pool, schema string) (version int, err error) {
	tx, err := pool.Begin(ctx)
	if err != nil {
		return 0, wrapErr(ctx, "migrate", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))

	// A migration may wait for another node's (the lock below) and may
	// take long: the per-statement limits of WithStatementTimeout are off.
	if _, err := tx.Exec(ctx, `SET LOCAL statement_timeout = 0; SET LOCAL lock_timeout = 0`); err != nil {
		return 0, wrapErr(ctx, "migrate: lift timeouts", err)
	}

	// One lock per schema: hashtext is stable across servers of a version.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('sessiond migrate ' || $1))`, schema); err != nil {
		return 0, wrapErr(ctx, "migrate: lock", err)
	}
	if schema != "" {
		if _, err := tx.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{schema}.Sanitize()); err != nil {
			return 0, wrapErr(ctx, "migrate: create schema", err)
		}
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+migrationsTable+` (
		version int PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return 0, wrapErr(ctx, "migrate: create "+migrationsTable, err)
	}
	var have int
	if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+migrationsTable).Scan(&have); err != nil {
		return 0, wrapErr(ctx, "migrate: read version", err)
	}
	if have >= len(migrations) {
		return 0, nil // the deferred rollback keeps nothing worth keeping
	}
	m := migrations[have]
	// No arguments: pgx sends it with the simple protocol, which runs a
	// script of several statements.
	if _, err := tx.Exec(ctx, m.sql); err != nil {
		return 0, wrapErr(ctx, "migrate: apply "+m.name, err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO `+migrationsTable+` (version) VALUES ($1)`, m.version); err != nil {
		return 0, wrapErr(ctx, "migrate: record "+m.name, err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, wrapErr(ctx, "migrate: commit "+m.name, err)
	}
	return m.version, nil
}

// schemaVersion returns the highest applied migration, 0 if none.
func schemaVersion(ctx context.Context, pool *pgxpool.Pool) (int, error) {
	var exists bool
	if err := pool.QueryRow(ctx, `SELECT to_regclass($1) IS NOT NULL`, migrationsTable).Scan(&exists); err != nil {
		return 0, wrapErr(ctx, "read schema version", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := pool.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+migrationsTable).Scan(&v); err != nil {
		return 0, wrapErr(ctx, "read schema version", err)
	}
	return v, nil
}
