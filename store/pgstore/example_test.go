package pgstore_test

import (
	"context"
	"log"

	"github.com/sessiond/sessiond/store/pgstore"
)

// Migrate once per deployment (`sessiond migrate`), then every node opens
// the store; Open refuses a database whose schema is behind.
func Example() {
	ctx := context.Background()
	url := "postgres://sessiond@db.internal:5432/sessiond?sslmode=verify-full"
	if _, err := pgstore.Migrate(ctx, url); err != nil {
		log.Fatal(err)
	}
	s, err := pgstore.Open(ctx, url)
	if err != nil {
		log.Fatal(err) // errors.Is(err, pgstore.ErrNotMigrated) if someone skipped the step
	}
	defer s.Close()
}
