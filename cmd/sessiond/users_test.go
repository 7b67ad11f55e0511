package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
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
