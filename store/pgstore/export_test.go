package pgstore

import "github.com/jackc/pgx/v5/pgxpool"

// ParseNotification exposes the NOTIFY payload parser to the fuzz target.
var ParseNotification = parseNotification

// ListAccountsPageSQL is the page query of ListAccountsPage, for the test
// of its plan.
const ListAccountsPageSQL = listAccountsPageSQL

// Pool is the store's connection pool, for the tests of its size.
func Pool(s *Store) *pgxpool.Pool { return s.pool }

// SlowRotations counts the Rotate calls sessiond_rotate decided.
func SlowRotations(s *Store) int64 { return s.slowRotations.Load() }
