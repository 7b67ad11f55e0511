package pgstore_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/store/pgstore"
)

// planNode is a node of EXPLAIN (FORMAT JSON).
type planNode struct {
	NodeType  string     `json:"Node Type"`
	IndexName string     `json:"Index Name"`
	Plans     []planNode `json:"Plans"`
}

func (n planNode) walk(fn func(planNode)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// TestListAccountsPagePlan: a page of accounts costs one descent of the
// index accounts_email_c (migration 6) and limit steps, whatever the
// number of accounts: on 20,000 accounts the page query, from the start
// and from a position, is an index scan of that index under the limit,
// with no sort and no scan of the whole table.
func TestListAccountsPagePlan(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	open(t, schema) // migrates
	conn, err := pgx.Connect(ctx, testenv.PostgresURL(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SET search_path TO "+pgx.Identifier{schema}.Sanitize()); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `INSERT INTO accounts (id, email, password_hash, created_at)
		SELECT 'id-' || g, 'user' || g || '@example.com', 'h', now() FROM generate_series(1, 20000) g`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, `ANALYZE accounts`); err != nil {
		t.Fatal(err)
	}
	for _, after := range []string{"", "user5000@example.com"} {
		var raw []byte
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+pgstore.ListAccountsPageSQL, after, 101).Scan(&raw); err != nil {
			t.Fatal(err)
		}
		var plans []struct {
			Plan planNode `json:"Plan"`
		}
		if err := json.Unmarshal(raw, &plans); err != nil || len(plans) != 1 {
			t.Fatalf("EXPLAIN: %v %s", err, raw)
		}
		usesIndex := false
		plans[0].Plan.walk(func(n planNode) {
			switch {
			case n.IndexName == "accounts_email_c" && (n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan"):
				usesIndex = true
			case n.NodeType == "Sort" || n.NodeType == "Seq Scan":
				t.Errorf("after %q: the plan has a %s: %s", after, n.NodeType, raw)
			}
		})
		if !usesIndex {
			t.Errorf("after %q: the plan does not scan accounts_email_c: %s", after, raw)
		}
	}
}
