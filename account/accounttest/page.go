package accounttest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sessiond/sessiond/account"
)

// pageAll lists the accounts a page of limit at a time from the start,
// calling between (if not nil) with the position after each full page,
// and returns every account listed in order.
func pageAll(t *testing.T, s account.Store, limit int, between func(after string)) []*account.Account {
	t.Helper()
	var all []*account.Account
	after := ""
	for page := 0; ; page++ {
		if page > 100000 {
			t.Fatal("ListAccountsPage never ends")
		}
		as, err := s.ListAccountsPage(t.Context(), after, limit)
		if err != nil {
			t.Fatalf("ListAccountsPage(%q, %d): %v", after, limit, err)
		}
		if len(as) > limit {
			t.Fatalf("ListAccountsPage(limit %d) returned %d accounts", limit, len(as))
		}
		all = append(all, as...)
		if len(as) < limit {
			return all
		}
		after = as[len(as)-1].Email
		if between != nil {
			between(after)
		}
	}
}

// listAll returns every account, read a page of limit at a time.
func listAll(t *testing.T, s account.Store, limit int) []*account.Account {
	t.Helper()
	return pageAll(t, s, limit, nil)
}

func emailsOf(as []*account.Account) []string {
	out := make([]string, 0, len(as))
	for _, a := range as {
		out = append(out, a.Email)
	}
	return out
}

// testListPage: ListAccountsPage pages the accounts in byte order of the
// email, covering each exactly once whatever the page size; a position
// need not be an account's email (one deleted meanwhile, or none at all)
// and the page resumes after it; a position past the end gives an empty
// page; accounts created and deleted between pages never make a listing
// repeat or skip one that exists throughout; a limit outside
// 1..MaxStorePage is refused and changes nothing.
func testListPage(t *testing.T, s account.Store) {
	ctx := t.Context()
	// Byte order, not the order of a locale: punctuation before letters
	// and digits ("a-b" < "a.b" < "a0" < "a@" < "ab"), one email a prefix
	// of another's local part, non-ASCII local parts after ASCII ones.
	emails := []string{
		"zed@example.com", "ab@example.com", "a.b@example.com", "a@example.com", "m@a.example",
		"a-b@example.com", "a0@example.com", "ab@example.co", "abc@example.com", "b@example.com",
		"élan@example.com", "ünal@example.com", "z@example.com", "y@example.com", "x@example.com",
		"_@example.com", "0@example.com", "9@example.com", "a+tag@example.com", "a_b@example.com",
		"ba@example.com", "bb@example.com", "c@example.com",
	}
	for i, e := range emails {
		mustCreate(t, s, newAcct(fmt.Sprintf("id-%02d", len(emails)-i), e))
	}
	want := slices.Sorted(slices.Values(emails))

	t.Run("every-size", func(t *testing.T) {
		for _, limit := range []int{1, 2, 3, 4, 7, 22, 23, 24, account.MaxStorePage} {
			got := listAll(t, s, limit)
			if !slices.Equal(emailsOf(got), want) {
				t.Fatalf("limit %d: pages list\n %q\nwant %q", limit, emailsOf(got), want)
			}
			for _, a := range got {
				full, err := s.AccountByID(ctx, a.ID)
				if err != nil {
					t.Fatal(err)
				}
				checkEqual(t, "listed account", a, full)
			}
		}
	})
	t.Run("positions-between-emails", func(t *testing.T) {
		for _, after := range []string{"a", "a@example.co", "ab@example.com0", "b", "m", "y@example.com", "é"} {
			as, err := s.ListAccountsPage(ctx, after, 3)
			if err != nil {
				t.Fatalf("ListAccountsPage(%q): %v", after, err)
			}
			i, found := slices.BinarySearch(want, after)
			if found {
				i++
			}
			if w := want[i:min(i+3, len(want))]; !slices.Equal(emailsOf(as), w) {
				t.Fatalf("ListAccountsPage(%q, 3) = %q, want %q", after, emailsOf(as), w)
			}
		}
	})
	t.Run("past-the-end", func(t *testing.T) {
		for _, after := range []string{want[len(want)-1], "\U0010FFFF"} {
			as, err := s.ListAccountsPage(ctx, after, 10)
			if err != nil || len(as) != 0 {
				t.Fatalf("ListAccountsPage(%q) = %q, %v; want an empty page", after, emailsOf(as), err)
			}
		}
	})
	t.Run("bad-limit", func(t *testing.T) {
		for _, limit := range []int{0, -1, account.MaxStorePage + 1} {
			as, err := s.ListAccountsPage(ctx, "", limit)
			if !errors.Is(err, account.ErrInvalidPage) || as != nil {
				t.Errorf("limit %d: %q, %v; want ErrInvalidPage", limit, emailsOf(as), err)
			}
		}
		if got := listAll(t, s, 5); !slices.Equal(emailsOf(got), want) {
			t.Fatalf("after bad limits: %q", emailsOf(got))
		}
	})
	t.Run("deleted-position", func(t *testing.T) {
		// The position's own account deleted: the page resumes after it.
		mustCreate(t, s, newAcct("id-victim", "bc@example.com"))
		if err := s.DeleteAccount(ctx, "id-victim"); err != nil {
			t.Fatal(err)
		}
		as, err := s.ListAccountsPage(ctx, "bc@example.com", 2)
		if err != nil {
			t.Fatal(err)
		}
		if w := []string{"c@example.com", "m@a.example"}; !slices.Equal(emailsOf(as), w) {
			t.Fatalf("after a deleted position: %q, want %q", emailsOf(as), w)
		}
	})
	t.Run("changes-between-pages", func(t *testing.T) {
		// Between pages, an account ahead of the position and one behind
		// it are deleted, one is created behind it and one ahead: every
		// account that exists throughout is listed exactly once, in
		// order, the one deleted ahead is not listed, the one created
		// ahead is.
		deleted := map[string]bool{}      // behind or ahead
		deletedAhead := map[string]bool{} // not listed yet when deleted
		var created []string
		page := 0
		got := pageAll(t, s, 4, func(after string) {
			page++
			i, _ := slices.BinarySearch(want, after)
			// Behind: the first account not deleted yet; ahead: the one
			// two past the position (not the next, which the next page
			// would show).
			for _, e := range want[:i] {
				if !deleted[e] {
					deleteByEmail(t, s, e)
					deleted[e] = true
					break
				}
			}
			if i+2 < len(want) && !deleted[want[i+2]] {
				deleteByEmail(t, s, want[i+2])
				deleted[want[i+2]] = true
				deletedAhead[want[i+2]] = true
			}
			behind := fmt.Sprintf("0%d@behind.example", page)
			ahead := fmt.Sprintf("ÿ%d@ahead.example", page) // after every other
			if ahead <= after {
				t.Fatalf("%q is not ahead of the position %q", ahead, after)
			}
			mustCreate(t, s, newAcct("id-behind-"+fmt.Sprint(page), behind))
			mustCreate(t, s, newAcct("id-ahead-"+fmt.Sprint(page), ahead))
			created = append(created, ahead)
		})
		gotEmails := emailsOf(got)
		if !slices.IsSorted(gotEmails) || len(slices.Compact(slices.Clone(gotEmails))) != len(gotEmails) {
			t.Fatalf("listing out of order or repeated: %q", gotEmails)
		}
		for _, e := range want {
			n := 0
			for _, g := range gotEmails {
				if g == e {
					n++
				}
			}
			// An account deleted behind the position was listed once
			// already; one deleted ahead of it never is.
			switch {
			case deletedAhead[e] && n != 0:
				t.Errorf("%s, deleted before its page, listed %d times", e, n)
			case !deletedAhead[e] && n != 1:
				t.Errorf("%s, which existed until it was listed, listed %d times", e, n)
			}
		}
		for _, e := range created {
			if !slices.Contains(gotEmails, e) {
				t.Errorf("%s, created ahead of the position, not listed", e)
			}
		}
		if page == 0 || len(deletedAhead) == 0 {
			t.Fatalf("%d pages, %d deleted ahead: the test changed too little", page+1, len(deletedAhead))
		}
	})
}

// deleteByEmail deletes the account with email.
func deleteByEmail(t *testing.T, s account.Store, email string) {
	t.Helper()
	a, err := s.AccountByEmail(t.Context(), email)
	if err != nil {
		t.Fatalf("AccountByEmail(%q): %v", email, err)
	}
	if err := s.DeleteAccount(t.Context(), a.ID); err != nil {
		t.Fatalf("DeleteAccount(%q): %v", a.ID, err)
	}
}

// testListPageConcurrent: listings run while other goroutines create and
// delete accounts among the ones that stay; each listing is in strictly
// increasing order and holds every account that exists throughout
// exactly once.
func testListPageConcurrent(t *testing.T, s account.Store) {
	const (
		stable = 60
		churn  = 300 // changes per writer at most, so a listing ends
	)
	var want []string
	for i := range stable {
		e := fmt.Sprintf("stable%02d@example.com", i)
		mustCreate(t, s, newAcct(fmt.Sprintf("id-stable-%02d", i), e))
		want = append(want, e)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := 0; i < churn && !stop.Load(); i++ {
				// Emails that sort among the stable ones and around them.
				e := fmt.Sprintf("stable%02d-%d-%d@example.com", i%stable, w, i)
				id := fmt.Sprintf("id-churn-%d-%d", w, i)
				if err := s.CreateAccount(t.Context(), newAcct(id, e)); err != nil {
					t.Errorf("CreateAccount(%q): %v", e, err)
					return
				}
				if i%2 == 0 {
					if err := s.DeleteAccount(t.Context(), id); err != nil {
						t.Errorf("DeleteAccount(%q): %v", id, err)
						return
					}
				}
			}
		})
	}
	for _, limit := range []int{1, 3, 10} {
		got := emailsOf(listAll(t, s, limit))
		for i := 1; i < len(got); i++ {
			if got[i-1] >= got[i] {
				t.Errorf("limit %d: %q listed before %q", limit, got[i-1], got[i])
			}
		}
		var stableGot []string
		for _, e := range got {
			if _, ok := slices.BinarySearch(want, e); ok {
				stableGot = append(stableGot, e)
			}
		}
		if !slices.Equal(stableGot, want) {
			t.Errorf("limit %d: the accounts that existed throughout listed as\n %q\nwant %q", limit, stableGot, want)
		}
	}
	stop.Store(true)
	wg.Wait()
}
