package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

// TestUsersListFollowsTheCursor: `users list` prints every account once,
// ordered by email, under one header, however many pages of
// account.MaxPageSize the listing takes (here 250 accounts: three pages,
// the last one partial), and nothing else.
func TestUsersListFollowsTheCursor(t *testing.T) {
	for _, n := range []int{0, account.MaxPageSize, 250} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			dir := t.TempDir()
			st, err := boltstore.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			want := map[string]string{} // email -> id
			for _, i := range rand.Perm(n) {
				a := &account.Account{ID: fmt.Sprintf("id-%03d", i), Email: fmt.Sprintf("user%03d@example.com", i), PasswordHash: "h", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
				if err := st.CreateAccount(context.Background(), a); err != nil {
					t.Fatal(err)
				}
				want[a.Email] = a.ID
			}
			if err := st.Close(); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(binary, "users", "list", "--store", "bolt://"+dir)
			cmd.Env = append(os.Environ(), "SESSIOND_MASTER_KEY="+base64.StdEncoding.EncodeToString([]byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe")))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("users list: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if fields := strings.Fields(lines[0]); !slices.Equal(fields, []string{"ID", "EMAIL", "CREATED"}) {
				t.Fatalf("header %q", lines[0])
			}
			var emails []string
			for _, l := range lines[1:] {
				f := strings.Fields(l)
				if len(f) != 3 || want[f[1]] != f[0] || f[2] != "2026-01-02T03:04:05Z" {
					t.Fatalf("line %q is not an account as stored", l)
				}
				emails = append(emails, f[1])
			}
			if len(emails) != n || !slices.IsSorted(emails) || len(slices.Compact(slices.Clone(emails))) != n {
				t.Fatalf("%d accounts listed (want %d, each once, ordered by email):\n%s", len(emails), n, out)
			}
		})
	}
}

// TestUsersClaims: `users claims` sets an account's claims (named by email
// or id) in the store and gives them to its live sessions, or with
// --revoke ends them; another user's session is untouched; a refused
// change changes nothing.
func TestUsersClaims(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	acct := &account.Account{ID: "id-lee", Email: "lee@example.com", PasswordHash: "h", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	var lee []string
	for range 2 {
		r := sessiontest.NewRecord(acct.ID, 0) // live: it expires in 2099
		r.Claims = nil
		if err := st.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		lee = append(lee, r.ID)
	}
	other := sessiontest.NewRecord("someone-else", 0)
	if err := st.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	key := "SESSIOND_MASTER_KEY=" + base64.StdEncoding.EncodeToString([]byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"))
	runClaims := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"users", "claims", "--store", "bolt://" + dir}, args...)...)
		cmd.Env = append(os.Environ(), key, "SESSIOND_CLAIMS=role,tenant")
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, string(out)
	}
	// check reopens the store and compares the account's and each
	// session's claims (as compact JSON, "" for none; "gone" for a
	// session no longer stored).
	check := func(step, wantAccount string, wantSessions map[string]string) {
		t.Helper()
		st, err := boltstore.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		a, err := st.AccountByID(ctx, acct.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got := compactClaims(t, a.Claims); got != wantAccount {
			t.Errorf("%s: account claims %q, want %q", step, got, wantAccount)
		}
		for id, want := range wantSessions {
			got := "gone"
			if r, err := st.Get(ctx, id); err == nil {
				got = compactClaims(t, r.Claims)
			} else if !errors.Is(err, session.ErrNotFound) {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s: session %s claims %q, want %q", step, id, got, want)
			}
		}
	}
	otherClaims := compactClaims(t, other.Claims)

	code, out := runClaims("lee@example.com", `{"role":"admin"}`)
	if code != 0 || out != "set the claims of id-lee (lee@example.com) and updated 2 sessions\n" {
		t.Fatalf("users claims: exit %d, %q", code, out)
	}
	check("by email", `{"role":"admin"}`, map[string]string{lee[0]: `{"role":"admin"}`, lee[1]: `{"role":"admin"}`, other.ID: otherClaims})

	for _, bad := range [][]string{
		{"id-lee", `{"plan":"gold"}`},
		{"id-lee", `{"role":"` + strings.Repeat("x", 1100) + `"}`},
		{"id-lee", `"admin"`},
		{"--claims-max-bytes", "4096", "id-lee", `{"role":"admin"}`},
	} {
		if code, out := runClaims(bad...); code != 2 {
			t.Errorf("users claims %q: exit %d, want 2; %q", bad, code, out)
		}
	}
	if code, out := runClaims("nobody@example.com", `{}`); code != 1 || !strings.Contains(out, "no account") {
		t.Errorf("users claims of no account: exit %d, %q", code, out)
	}
	check("after refused changes", `{"role":"admin"}`, map[string]string{lee[0]: `{"role":"admin"}`, lee[1]: `{"role":"admin"}`, other.ID: otherClaims})

	code, out = runClaims("id-lee", `{"role":"viewer","tenant":{"id":7}}`, "--revoke")
	if code != 0 || out != "set the claims of id-lee (lee@example.com) and revoked 2 sessions\n" {
		t.Fatalf("users claims --revoke: exit %d, %q", code, out)
	}
	check("by id, --revoke", `{"role":"viewer","tenant":{"id":7}}`, map[string]string{lee[0]: "gone", lee[1]: "gone", other.ID: otherClaims})

	if code, out := runClaims("id-lee", `{}`); code != 0 || !strings.HasSuffix(out, "updated 0 sessions\n") {
		t.Fatalf("users claims {}: exit %d, %q", code, out)
	}
	check("{}", "", nil)
}

// compactClaims is claims as one compact JSON object, "" for none.
func compactClaims(t *testing.T, claims map[string]json.RawMessage) string {
	t.Helper()
	if len(claims) == 0 {
		return ""
	}
	b, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestUsersDelete: `users delete` deletes the account and ends its
// sessions, recording their revocations (the store's feed tells every
// running node), and touches no one else's; an id with no account is a
// failure that says so; an id no store can keep is bad usage and opens
// nothing.
func TestUsersDelete(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	acct := &account.Account{ID: "id-lee", Email: "lee@example.com", PasswordHash: "h", CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
	if err := st.CreateAccount(ctx, acct); err != nil {
		t.Fatal(err)
	}
	var lee []string
	for range 2 {
		r := sessiontest.NewRecord(acct.ID, 0)
		if err := st.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
		lee = append(lee, r.ID)
	}
	other := sessiontest.NewRecord("someone-else", 0)
	if err := st.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	run := func(wd string, args ...string) (int, string, string) {
		t.Helper()
		cmd := exec.Command(binary, append([]string{"users", "delete"}, args...)...)
		cmd.Dir = wd
		cmd.Env = append(os.Environ(), "SESSIOND_MASTER_KEY="+base64.StdEncoding.EncodeToString([]byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe")))
		var out, errb strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return code, out.String(), errb.String()
	}

	if code, out, errs := run("", "--store", "bolt://"+dir, "id-lee"); code != 0 || out != "deleted id-lee and revoked 2 sessions\n" {
		t.Fatalf("users delete: exit %d, %q %q", code, out, errs)
	}
	st, err = boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AccountByID(ctx, "id-lee"); !errors.Is(err, account.ErrNotFound) {
		t.Errorf("the account is still there: %v", err)
	}
	for _, id := range lee {
		if _, err := st.Get(ctx, id); !errors.Is(err, session.ErrNotFound) {
			t.Errorf("session %s is still there: %v", id, err)
		}
	}
	if _, err := st.Get(ctx, other.ID); err != nil {
		t.Errorf("someone else's session: %v", err)
	}
	revs, err := st.Revocations(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, r := range revs {
		recorded[r.SessionID] = true
	}
	if !recorded[lee[0]] || !recorded[lee[1]] || recorded[other.ID] {
		t.Errorf("revocations recorded %v, want exactly lee's two sessions", revs)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}

	if code, _, errs := run("", "--store", "bolt://"+dir, "id-lee"); code != 1 || !strings.Contains(errs, `no account "id-lee"`) {
		t.Errorf("deleting it again: exit %d, %q", code, errs)
	}
	wd := t.TempDir() // the default store would be created here
	if code, _, errs := run(wd, strings.Repeat("x", 300)); code != 2 || !strings.Contains(errs, "user id") {
		t.Errorf("an id over 256 bytes: exit %d, %q", code, errs)
	}
	if left, _ := os.ReadDir(wd); len(left) != 0 {
		t.Errorf("bad usage left %s in the working directory", left[0].Name())
	}
}
