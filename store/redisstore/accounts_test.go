package redisstore_test

import (
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sessiond/sessiond/account"
)

// TestListAccountsPageSkipsStaleEntries: a listing entry whose account is
// gone (a DeleteAccount that stopped after deleting the account, or an
// entry naming an id that never existed) is left out of the page, the page
// is still filled from the entries after it (a short page means nothing
// follows), and the entry is removed.
func TestListAccountsPageSkipsStaleEntries(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			ctx := t.Context()
			s, prefix := open(t, b.url(t))
			c := s.Client()
			listKey := prefix + ":{accounts}"
			for _, e := range []string{"a", "b", "c", "d", "e"} {
				a := &account.Account{ID: "id-" + e, Email: e + "@example.com", PasswordHash: "h", CreatedAt: time.Unix(1, 0).UTC()}
				if err := s.CreateAccount(ctx, a); err != nil {
					t.Fatal(err)
				}
			}
			// b's deletion stopped after the account went; an entry for
			// c2 names an account that was never written.
			if err := c.Del(ctx, prefix+":a:{id-b}").Err(); err != nil {
				t.Fatal(err)
			}
			if err := c.ZAdd(ctx, listKey, redis.Z{Member: "c2@example.com\x00id-c2"}).Err(); err != nil {
				t.Fatal(err)
			}
			for _, tc := range []struct {
				after string
				limit int
				want  []string
			}{
				{"", 2, []string{"a@example.com", "c@example.com"}},
				{"a@example.com", 2, []string{"c@example.com", "d@example.com"}},
				{"", 4, []string{"a@example.com", "c@example.com", "d@example.com", "e@example.com"}},
				{"", 10, []string{"a@example.com", "c@example.com", "d@example.com", "e@example.com"}},
			} {
				as, err := s.ListAccountsPage(ctx, tc.after, tc.limit)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, a := range as {
					got = append(got, a.Email)
				}
				if !slices.Equal(got, tc.want) {
					t.Fatalf("ListAccountsPage(%q, %d) = %q, want %q", tc.after, tc.limit, got, tc.want)
				}
			}
			members, err := c.ZRange(ctx, listKey, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			if want := []string{"a@example.com\x00id-a", "c@example.com\x00id-c", "d@example.com\x00id-d", "e@example.com\x00id-e"}; !slices.Equal(members, want) {
				t.Fatalf("listing after the pages: %q, want the stale entries gone: %q", members, want)
			}
		})
	}
}
