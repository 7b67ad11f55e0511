package accounttest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"

	"github.com/sessiond/sessiond/account"
)

// claimsOf builds a claims map from name and JSON text pairs.
func claimsOf(pairs ...string) map[string]json.RawMessage {
	if len(pairs) == 0 {
		return nil
	}
	c := make(map[string]json.RawMessage, len(pairs)/2)
	for i := 0; i+1 < len(pairs); i += 2 {
		c[pairs[i]] = json.RawMessage(pairs[i+1])
	}
	return c
}

// sameClaims compares claims as JSON values: a store may respell a value
// (PostgreSQL's jsonb does), not change it. No claims is nil or empty.
func sameClaims(got, want map[string]json.RawMessage) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d claims %v, want %d %v", len(got), printable(got), len(want), printable(want))
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			return fmt.Errorf("claim %q missing from %v", k, printable(got))
		}
		var gv, wv any
		if err := json.Unmarshal(g, &gv); err != nil {
			return fmt.Errorf("claim %q = %q is not JSON: %v", k, g, err)
		}
		if err := json.Unmarshal(w, &wv); err != nil {
			return fmt.Errorf("want claim %q = %q is not JSON: %v", k, w, err)
		}
		if !reflect.DeepEqual(gv, wv) {
			return fmt.Errorf("claim %q = %s, want %s", k, g, w)
		}
	}
	return nil
}

func printable(c map[string]json.RawMessage) map[string]string {
	out := make(map[string]string, len(c))
	for k, v := range c {
		out[k] = string(v)
	}
	return out
}

// checkClaimsEverywhere reads the account with id by every read the Store
// has (AccountByID, AccountByEmail, ListAccountsPage) and checks that each
// gives the account as want, claims included.
func checkClaimsEverywhere(t *testing.T, s account.Store, want *account.Account) {
	t.Helper()
	ctx := context.Background()
	byID, err := s.AccountByID(ctx, want.ID)
	if err != nil {
		t.Fatalf("AccountByID(%q): %v", want.ID, err)
	}
	byEmail, err := s.AccountByEmail(ctx, want.Email)
	if err != nil {
		t.Fatalf("AccountByEmail(%q): %v", want.Email, err)
	}
	var listed *account.Account
	for _, a := range listAll(t, s, account.MaxStorePage) {
		if a.ID == want.ID {
			listed = a
		}
	}
	for _, r := range []struct {
		how string
		got *account.Account
	}{{"AccountByID", byID}, {"AccountByEmail", byEmail}, {"ListAccountsPage", listed}} {
		checkEqual(t, r.how, r.got, want)
		if r.got == nil {
			continue
		}
		if err := sameClaims(r.got.Claims, want.Claims); err != nil {
			t.Errorf("%s(%s): %v", r.how, want.ID, err)
		}
	}
}

// testClaims: an account keeps the claims it was created with and those
// SetAccountClaims gives it, replaced as a whole, on every read; an empty
// set removes them; nothing else of the account changes, and no other
// account.
func testClaims(t *testing.T, s account.Store) {
	ctx := context.Background()
	alice := newAcct("id-alice", "alice@example.com")
	alice.Claims = claimsOf("role", `"admin"`, "tenant", `{"id":42,"name":"acme","tags":["a","b"]}`, "scope", `["read","write"]`)
	bob := newAcct("id-bob", "bob@example.com")
	mustCreate(t, s, alice)
	mustCreate(t, s, bob)
	checkClaimsEverywhere(t, s, alice)
	checkClaimsEverywhere(t, s, bob) // created without claims: none

	steps := []struct {
		name   string
		claims map[string]json.RawMessage
		want   map[string]json.RawMessage
	}{
		{"replaced, not merged", claimsOf("role", `"viewer"`), claimsOf("role", `"viewer"`)},
		{"every JSON kind", claimsOf("role", `null`, "n", `-1.5e3`, "b", `true`, "s", `"é \"quoted\" \u00e9"`, "o", `{}`, "a", `[]`),
			claimsOf("role", `null`, "n", `-1500`, "b", `true`, "s", `"é \"quoted\" é"`, "o", `{}`, "a", `[]`)},
		{"empty removes them", map[string]json.RawMessage{}, nil},
		{"set again", claimsOf("tenant", `"acme"`), claimsOf("tenant", `"acme"`)},
		{"nil removes them", nil, nil},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if err := s.SetAccountClaims(ctx, bob.ID, st.claims); err != nil {
				t.Fatalf("SetAccountClaims: %v", err)
			}
			want := *bob
			want.Claims = st.want
			checkClaimsEverywhere(t, s, &want)
			checkClaimsEverywhere(t, s, alice) // untouched
		})
	}
}

// testClaimsNotFound: SetAccountClaims of an id with no account is
// ErrNotFound and creates nothing, on an empty store, beside another
// account, and after a deletion.
func testClaimsNotFound(t *testing.T, s account.Store) {
	ctx := context.Background()
	set := claimsOf("role", `"admin"`)
	if err := s.SetAccountClaims(ctx, "id-nobody", set); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("SetAccountClaims on an empty store: got %v, want ErrNotFound", err)
	}
	alice := newAcct("id-alice", "alice@example.com")
	mustCreate(t, s, alice)
	if err := s.SetAccountClaims(ctx, "id-nobody", set); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("SetAccountClaims of an unknown id: got %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByID(ctx, "id-nobody"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("AccountByID after SetAccountClaims of an unknown id: got %v, want ErrNotFound", err)
	}
	checkClaimsEverywhere(t, s, alice)
	if err := s.DeleteAccount(ctx, alice.ID); err != nil {
		t.Fatalf("DeleteAccount: %v", err)
	}
	if err := s.SetAccountClaims(ctx, alice.ID, set); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("SetAccountClaims of a deleted account: got %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByID(ctx, alice.ID); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("AccountByID of the deleted account after SetAccountClaims: got %v, want ErrNotFound", err)
	}
	if _, err := s.AccountByEmail(ctx, alice.Email); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("AccountByEmail of the deleted account after SetAccountClaims: got %v, want ErrNotFound", err)
	}
	if all := listAll(t, s, account.MaxStorePage); len(all) != 0 {
		t.Errorf("ListAccountsPage: got %d accounts, want none", len(all))
	}
}

// testClaimsCopies: the store keeps its own copy of the claims it was
// given and hands out copies: changing the map or the bytes passed in or
// returned changes nothing stored.
func testClaimsCopies(t *testing.T, s account.Store) {
	ctx := context.Background()
	a := newAcct("id-alice", "alice@example.com")
	a.Claims = claimsOf("role", `"admin"`)
	want := *a
	want.Claims = claimsOf("role", `"admin"`)
	mustCreate(t, s, a)
	a.Claims["role"][1] = 'X'
	a.Claims["tenant"] = json.RawMessage(`"evil"`)
	checkClaimsEverywhere(t, s, &want)

	set := claimsOf("role", `"viewer"`)
	if err := s.SetAccountClaims(ctx, want.ID, set); err != nil {
		t.Fatalf("SetAccountClaims: %v", err)
	}
	set["role"][1] = 'X'
	set["tenant"] = json.RawMessage(`"evil"`)
	want.Claims = claimsOf("role", `"viewer"`)
	checkClaimsEverywhere(t, s, &want)

	got, err := s.AccountByID(ctx, want.ID)
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	got.Claims["role"][1] = 'X'
	got.Claims["tenant"] = json.RawMessage(`"evil"`)
	checkClaimsEverywhere(t, s, &want)
}

// testClaimsConcurrent: concurrent SetAccountClaims calls leave one of
// the claim sets whole, never a mix; and SetAccountClaims racing with
// DeleteAccount never brings the account back, whole or in part.
func testClaimsConcurrent(t *testing.T, s account.Store) {
	ctx := context.Background()
	a := newAcct("id-alice", "alice@example.com")
	mustCreate(t, s, a)
	const n = 16
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = s.SetAccountClaims(ctx, a.ID, claimsOf("role", fmt.Sprintf(`"r%d"`, i), "tenant", fmt.Sprintf(`"t%d"`, i)))
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	got, err := s.AccountByID(ctx, a.ID)
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	whole := false
	for i := range n {
		whole = whole || sameClaims(got.Claims, claimsOf("role", fmt.Sprintf(`"r%d"`, i), "tenant", fmt.Sprintf(`"t%d"`, i))) == nil
	}
	if !whole {
		t.Errorf("after concurrent writers the claims are %v, not one writer's", printable(got.Claims))
	}

	// Racing with DeleteAccount: afterwards the account is gone for every
	// read, and each SetAccountClaims either succeeded or was ErrNotFound.
	for round := range 8 {
		b := newAcct(fmt.Sprintf("id-bob-%d", round), fmt.Sprintf("bob%d@example.com", round))
		mustCreate(t, s, b)
		start := make(chan struct{})
		var delErr error
		setErrs := make([]error, 4)
		var wg sync.WaitGroup
		wg.Go(func() { <-start; delErr = s.DeleteAccount(ctx, b.ID) })
		for i := range setErrs {
			wg.Go(func() { <-start; setErrs[i] = s.SetAccountClaims(ctx, b.ID, claimsOf("role", `"admin"`)) })
		}
		close(start)
		wg.Wait()
		if delErr != nil {
			t.Fatalf("round %d: DeleteAccount: %v", round, delErr)
		}
		for i, err := range setErrs {
			if err != nil && !errors.Is(err, account.ErrNotFound) {
				t.Errorf("round %d: SetAccountClaims %d: got %v, want nil or ErrNotFound", round, i, err)
			}
		}
		if got, err := s.AccountByID(ctx, b.ID); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("round %d: AccountByID after the delete: got %+v, %v; want ErrNotFound", round, got, err)
		}
		if _, err := s.AccountByEmail(ctx, b.Email); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("round %d: AccountByEmail after the delete: got %v, want ErrNotFound", round, err)
		}
	}
	if all := listAll(t, s, account.MaxStorePage); len(all) != 1 || all[0].ID != a.ID {
		t.Errorf("ListAccountsPage after the races: got %d accounts, want only %s", len(all), a.ID)
	}
}
