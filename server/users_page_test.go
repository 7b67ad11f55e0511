package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/store/boltstore"
	"github.com/sessiond/sessiond/store/pgstore"
	"github.com/sessiond/sessiond/store/redisstore"
)

// accountBackends are the stores the account listing is served from.
var accountBackends = []struct {
	name string
	open func(t *testing.T) node.Backend // nil: memory
}{
	{"memory", nil},
	{"bolt", func(t *testing.T) node.Backend {
		st, err := boltstore.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"redis", func(t *testing.T) node.Backend {
		st, err := redisstore.Open(context.Background(), testenv.RedisURL(t), redisstore.WithPrefix(randomName("sdt")))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}},
	{"postgres", func(t *testing.T) node.Backend {
		url, schema := testenv.PostgresURL(t), randomName("sdt_")
		st, err := pgstore.Open(context.Background(), url, pgstore.WithSchema(schema), pgstore.WithAutoMigrate())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close(); dropSchema(t, url, schema) })
		return st
	}},
}

// userPageBody is one page of GET /admin/v1/users as a client reads it.
type userPageBody struct {
	Users      []map[string]any `json:"users"`
	NextCursor *string          `json:"next_cursor"`
}

// listUsers follows the cursor of GET /admin/v1/users from its first page
// with the given limit and returns the pages.
func (e *env) listUsers(limit int) []userPageBody {
	e.t.Helper()
	var pages []userPageBody
	for cursor := ""; ; {
		q := fmt.Sprintf("/admin/v1/users?limit=%d", limit)
		if cursor != "" {
			q += "&cursor=" + cursor
		}
		r := e.do("GET", q, adminToken, "", "")
		if r.status != 200 {
			e.t.Fatalf("GET %s: %d %s", q, r.status, r.raw)
		}
		var p userPageBody
		if err := json.Unmarshal([]byte(r.raw), &p); err != nil {
			e.t.Fatal(err)
		}
		pages = append(pages, p)
		if p.NextCursor == nil {
			return pages
		}
		if *p.NextCursor == "" {
			e.t.Fatalf("GET %s: next_cursor is present but empty", q)
		}
		cursor = *p.NextCursor
		if len(pages) > 10000 {
			e.t.Fatal("the listing never ends")
		}
	}
}

// addAccounts creates n accounts user000@example.com ... straight in the
// store, in a shuffled order, and returns their emails in listing order.
func addAccounts(t *testing.T, st account.Store, n int) []string {
	t.Helper()
	var emails []string
	for _, i := range rand.Perm(n) {
		e := fmt.Sprintf("user%03d@example.com", i)
		a := &account.Account{ID: fmt.Sprintf("id-%03d", i), Email: e, PasswordHash: "$argon2id$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaA", CreatedAt: time.Unix(1700000000, 0).UTC()}
		if err := st.CreateAccount(context.Background(), a); err != nil {
			t.Fatal(err)
		}
		emails = append(emails, e)
	}
	slices.Sort(emails)
	return emails
}

// TestUsersPaged: GET /admin/v1/users answers a page at a time, ordered by
// email: 250 accounts read 100 at a time come in pages of 100, 100 and 50,
// each account exactly once, next_cursor on every page but the last, and
// no account carries more than its id, email and creation time. Without a
// limit the page is account.DefaultPageSize.
func TestUsersPaged(t *testing.T) {
	for _, b := range accountBackends {
		t.Run(b.name, func(t *testing.T) {
			e := newEnv(t, func(c *config) {
				if b.open != nil {
					c.Node.Backend = b.open(t)
				}
				c.Server.AdminToken = adminToken
			})
			want := addAccounts(t, e.backend, 250)
			pages := e.listUsers(100)
			if len(pages) != 3 {
				t.Fatalf("%d pages, want 3", len(pages))
			}
			var got []string
			for i, p := range pages {
				if n := []int{100, 100, 50}[i]; len(p.Users) != n {
					t.Fatalf("page %d has %d accounts, want %d", i, len(p.Users), n)
				}
				for _, u := range p.Users {
					if len(u) != 3 || u["id"] == "" || u["created_at"] != "2023-11-14T22:13:20Z" {
						t.Fatalf("page %d: account %v, want id, email and created_at only", i, u)
					}
					got = append(got, u["email"].(string))
				}
			}
			if !slices.Equal(got, want) {
				t.Fatalf("the pages list %d accounts, not the 250 in email order once each:\n%q", len(got), got)
			}
			// No limit: the default page size, and a next cursor.
			r := e.do("GET", "/admin/v1/users", adminToken, "", "")
			var p userPageBody
			if err := json.Unmarshal([]byte(r.raw), &p); err != nil || r.status != 200 || len(p.Users) != account.DefaultPageSize || p.NextCursor == nil {
				t.Fatalf("GET /admin/v1/users: %d, %d accounts, next %v, %v; want %d and a next cursor", r.status, len(p.Users), p.NextCursor, err, account.DefaultPageSize)
			}
			// The last page has no next_cursor member at all.
			r = e.do("GET", "/admin/v1/users?limit=100&cursor="+*pages[1].NextCursor, adminToken, "", "")
			if _, ok := r.body["next_cursor"]; ok || r.status != 200 || len(r.body["users"].([]any)) != 50 {
				t.Fatalf("last page: %d %s", r.status, r.raw)
			}
		})
	}
}

// TestUsersPageBadQuery: a limit or cursor that is not one this API hands
// out is 400 invalid_request with a description, and changes nothing.
func TestUsersPageBadQuery(t *testing.T) {
	e := newEnv(t, func(c *config) { c.Server.AdminToken = adminToken })
	want := addAccounts(t, e.backend, 5)
	wrongVersion := base64.RawURLEncoding.EncodeToString([]byte("\x09user001@example.com"))
	notEmail := base64.RawURLEncoding.EncodeToString([]byte("\x01a\nb"))
	for _, q := range []string{
		"limit=0", "limit=-1", "limit=101", "limit=abc", "limit=", "limit=1.5", "limit=1&limit=2",
		"cursor=%21%21", "cursor=AAAA", "cursor=AQ", "cursor=" + wrongVersion, "cursor=" + notEmail, "cursor=a&cursor=b",
	} {
		r := e.do("GET", "/admin/v1/users?"+q, adminToken, "", "")
		if r.status != 400 || str(r, "error") != "invalid_request" || str(r, "error_description") == "" {
			t.Errorf("GET /admin/v1/users?%s: %d %s; want 400 invalid_request", q, r.status, r.raw)
		}
	}
	var got []string
	for _, p := range e.listUsers(2) {
		for _, u := range p.Users {
			got = append(got, u["email"].(string))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("after bad queries: %q, want %q", got, want)
	}
}
