package main

import (
	"context"
	"fmt"
	"io"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/store/pgstore"
)

func cmdMigrate(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var store string
	c := newCommand("migrate", "sessiond migrate --store postgres://...   apply the PostgreSQL schema", stderr)
	storeFlag(c.fs, &store)
	if err := c.parse(args, stdout, getenv); err != nil {
		return err
	}
	if err := c.noArgs("migrate"); err != nil {
		return err
	}
	d, err := node.LookupStore(store)
	if err != nil {
		return err
	}
	if d.Name != "postgres" {
		return fmt.Errorf("%w: migrate: %s needs no schema; migrate is for postgres:// stores", errUsage, node.RedactStoreURL(store))
	}
	applied, err := pgstore.Migrate(ctx, store)
	if err != nil {
		return err
	}
	if len(applied) == 0 {
		fmt.Fprintln(stdout, "schema is up to date")
		return nil
	}
	fmt.Fprintf(stdout, "applied migrations %v\n", applied)
	return nil
}
