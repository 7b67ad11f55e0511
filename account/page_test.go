package account_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/store/memstore"
)

// countingStore counts the listing reads of the store it wraps.
type countingStore struct {
	account.Store
	pages atomic.Int64
}

func (c *countingStore) ListAccountsPage(ctx context.Context, after string, limit int) ([]*account.Account, error) {
	c.pages.Add(1)
	return c.Store.ListAccountsPage(ctx, after, limit)
}

// newListing returns a Service over n accounts user000@example.com ...
// created straight in the store, and the store's read counter.
func newListing(t *testing.T, n int) (*account.Service, *countingStore) {
	t.Helper()
	st := &countingStore{Store: memstore.New()}
	for i := range n {
		a := &account.Account{ID: fmt.Sprintf("id-%03d", i), Email: fmt.Sprintf("user%03d@example.com", i), PasswordHash: "h", CreatedAt: testNow}
		if err := st.CreateAccount(context.Background(), a); err != nil {
			t.Fatal(err)
		}
	}
	return &account.Service{Store: st, Params: testParams}, st
}

// TestListPage: ListPage hands out pages in email order with a next
// cursor on every page but the last, each account exactly once, and the
// default and largest page sizes; a cursor still works after its
// account is deleted.
func TestListPage(t *testing.T) {
	ctx := context.Background()
	s, _ := newListing(t, 120)
	for _, tc := range []struct {
		limit, pages, first int // first: size of the first page
	}{
		{1, 120, 1}, {7, 18, 7}, {0, 3, account.DefaultPageSize}, {account.MaxPageSize, 2, account.MaxPageSize}, {60, 2, 60},
	} {
		var got []string
		pages := 0
		for cursor := ""; ; {
			list, next, err := s.ListPage(ctx, cursor, tc.limit)
			if err != nil {
				t.Fatalf("limit %d, cursor %q: %v", tc.limit, cursor, err)
			}
			if pages == 0 && len(list) != tc.first {
				t.Fatalf("limit %d: first page of %d, want %d", tc.limit, len(list), tc.first)
			}
			pages++
			for _, a := range list {
				got = append(got, a.Email)
			}
			if next == "" {
				break
			}
			if next == cursor {
				t.Fatalf("limit %d: next cursor %q repeats the cursor", tc.limit, next)
			}
			cursor = next
		}
		if pages != tc.pages || len(got) != 120 || !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != 120 {
			t.Fatalf("limit %d: %d pages (want %d), %d accounts, sorted %v", tc.limit, pages, tc.pages, len(got), slices.IsSorted(got))
		}
	}
	// The account a cursor names is deleted: the next page follows it.
	list, next, err := s.ListPage(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, list[9].ID); err != nil {
		t.Fatal(err)
	}
	list, _, err = s.ListPage(ctx, next, 2)
	if err != nil || len(list) != 2 || list[0].Email != "user010@example.com" {
		t.Fatalf("after the cursor's account went: %v, %v", list, err)
	}
	// An exact last page has no next cursor.
	s, _ = newListing(t, 10)
	if list, next, err := s.ListPage(ctx, "", 10); err != nil || len(list) != 10 || next != "" {
		t.Fatalf("exact page: %d accounts, next %q, %v; want 10 and none", len(list), next, err)
	}
	s, _ = newListing(t, 0)
	if list, next, err := s.ListPage(ctx, "", 0); err != nil || len(list) != 0 || next != "" {
		t.Fatalf("no accounts: %d, %q, %v", len(list), next, err)
	}
}

// TestListPageRefusesBadInput: a limit out of range or a cursor that
// ListPage does not hand out is ErrInvalidPage, and the store is not read.
func TestListPageRefusesBadInput(t *testing.T) {
	ctx := context.Background()
	s, st := newListing(t, 3)
	enc := base64.RawURLEncoding.EncodeToString
	good := account.EncodeCursor("user000@example.com")
	tests := []struct {
		name, cursor string
		limit        int
	}{
		{"negative limit", "", -1},
		{"limit over the largest page", "", account.MaxPageSize + 1},
		{"not base64", "!!", 10},
		{"standard base64", enc([]byte("\x01a+b/c@x")) + "+", 10},
		{"padded", base64.URLEncoding.EncodeToString([]byte("\x01a@b.cd")), 10},
		{"line break inside", good[:4] + "\n" + good[4:], 10},
		{"version only", enc([]byte{1}), 10},
		{"unknown version", enc([]byte("\x02user000@example.com")), 10},
		{"not UTF-8", enc([]byte("\x01a\xff@b.c")), 10},
		{"control character", enc([]byte("\x01a\x00@b.c")), 10},
		{"white space", enc([]byte("\x01a b@c.d")), 10},
		{"too long", enc(append([]byte{1}, strings.Repeat("a", account.MaxEmailLen+1)...)), 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			list, next, err := s.ListPage(ctx, tc.cursor, tc.limit)
			if !errors.Is(err, account.ErrInvalidPage) || list != nil || next != "" {
				t.Fatalf("ListPage(%q, %d) = %v, %q, %v; want ErrInvalidPage", tc.cursor, tc.limit, list, next, err)
			}
		})
	}
	if n := st.pages.Load(); n != 0 {
		t.Fatalf("bad requests read the store %d times", n)
	}
	if list, _, err := s.ListPage(ctx, good, 10); err != nil || len(list) != 2 {
		t.Fatalf("a good cursor after the bad ones: %v, %v", list, err)
	}
}

// FuzzParseCursor: a cursor comes from outside. Whatever parseCursor
// accepts, it accepts in one spelling only (the one the encoder writes
// back), and it never panics.
func FuzzParseCursor(f *testing.F) {
	f.Add("")
	f.Add(account.EncodeCursor("ann@example.com"))
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		email, err := account.ParseCursor(s)
		if err != nil {
			if !errors.Is(err, account.ErrInvalidPage) {
				t.Fatalf("ParseCursor(%q) = %v, not ErrInvalidPage", s, err)
			}
			return
		}
		if s == "" {
			if email != "" {
				t.Fatalf("ParseCursor(\"\") = %q", email)
			}
			return
		}
		if back := account.EncodeCursor(email); back != s {
			t.Fatalf("ParseCursor(%q) = %q, which is written %q", s, email, back)
		}
	})
}
