package node_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

// deletionStore is a memory store that can misbehave the way a deletion
// must survive: cancel the caller's context once the account is deleted
// (a client hanging up just then), or fail the next DeleteUser.
type deletionStore struct {
	*memstore.Store
	mu             sync.Mutex
	cancel         context.CancelFunc // called after DeleteAccount
	failDeleteUser bool
	failDelete     bool // the next DeleteAccount fails, deleting nothing
}

func (s *deletionStore) DeleteAccount(ctx context.Context, id string) error {
	s.mu.Lock()
	fail := s.failDelete
	s.failDelete = false
	s.mu.Unlock()
	if fail {
		return fmt.Errorf("%w: the store went away", session.ErrStore)
	}
	err := s.Store.DeleteAccount(ctx, id)
	s.mu.Lock()
	cancel := s.cancel
	s.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	return err
}

func (s *deletionStore) DeleteUser(ctx context.Context, userID, except string, until time.Time) ([]string, error) {
	s.mu.Lock()
	fail := s.failDeleteUser
	s.failDeleteUser = false
	s.mu.Unlock()
	if fail {
		return nil, fmt.Errorf("%w: the store went away", session.ErrStore)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("%w: %w", session.ErrStore, err)
	}
	return s.Store.DeleteUser(ctx, userID, except, until)
}

// TestDeleteAccount: DeleteAccount deletes the account and ends every
// session of its user (refused at once by this node) and no one else's,
// with one account.deleted audit line that names the user, how many
// sessions and who asked, and never the email; an id with no account and
// an id no store can keep change nothing; a caller that gives up once the
// account is gone still gets its sessions ended; a store that fails
// between the two steps is ErrSessionsRemain, and a log out everywhere of
// the user finishes the job; a store that fails deleting the account
// leaves no session either (the deletion may have landed).
func TestDeleteAccount(t *testing.T) {
	ctx := context.Background()
	st := &deletionStore{Store: memstore.New()}
	logs := &syncBuf{}
	c := cfg(st, &clock{t: time.Now()})
	c.Logger = slog.New(slog.NewJSONHandler(logs, nil))
	n, err := node.Open(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	mgr := n.Manager()
	// signup signs up email and logs it in twice; it returns the id and
	// the access tokens.
	signup := func(email string) (string, []string) {
		t.Helper()
		a, err := n.Accounts().Signup(ctx, email, "correct horse battery")
		if err != nil {
			t.Fatal(err)
		}
		var access []string
		for range 2 {
			tk, err := mgr.Login(ctx, a.ID, session.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			access = append(access, tk.AccessToken)
		}
		return a.ID, access
	}
	live := func(userID string) int {
		t.Helper()
		l, err := mgr.List(ctx, userID)
		if err != nil {
			t.Fatal(err)
		}
		return len(l)
	}

	id, access := signup("ann@example.com")
	other, _ := signup("bob@example.com")
	revoked, err := n.DeleteAccount(ctx, id, "admin")
	if err != nil || revoked != 2 {
		t.Fatalf("DeleteAccount = %d, %v; want 2 sessions ended", revoked, err)
	}
	if _, err := n.Accounts().Get(ctx, id); !errors.Is(err, account.ErrNotFound) {
		t.Fatalf("the account is still there: %v", err)
	}
	for _, tok := range access {
		if _, err := mgr.Verify(ctx, tok); !errors.Is(err, session.ErrRevoked) {
			t.Errorf("an access token of the deleted account verifies: %v", err)
		}
	}
	if live(id) != 0 || live(other) != 2 {
		t.Fatalf("live sessions: deleted %d (want 0), other %d (want 2)", live(id), live(other))
	}
	if _, err := n.Accounts().Authenticate(ctx, "ann@example.com", "correct horse battery"); !errors.Is(err, account.ErrBadCredentials) {
		t.Fatalf("the deleted account logs in: %v", err)
	}
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, `"event":"account.deleted"`) {
			line = l
		}
	}
	for _, want := range []string{`"user":"` + id + `"`, `"count":2`, `"reason":"admin"`} {
		if !strings.Contains(line, want) {
			t.Errorf("the audit line %q lacks %s", line, want)
		}
	}
	if strings.Contains(logs.String(), "ann@example.com") {
		t.Error("the log names the deleted account's email")
	}

	for _, tc := range []struct {
		name, id string
		want     error
	}{
		{"an id with no account", "no-such-account", account.ErrNotFound},
		{"the deleted account again", id, account.ErrNotFound},
		{"an id no store can keep", "a\x00b", session.ErrInvalidUserID},
		{"an empty id", "", session.ErrInvalidUserID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := n.DeleteAccount(ctx, tc.id, "admin"); !errors.Is(err, tc.want) {
				t.Fatalf("DeleteAccount = %v, want %v", err, tc.want)
			}
			if live(other) != 2 {
				t.Fatal("a refused deletion ended someone's sessions")
			}
		})
	}

	t.Run("the caller gives up once the account is gone", func(t *testing.T) {
		id, _ := signup("cy@example.com")
		cctx, cancel := context.WithCancel(ctx)
		st.mu.Lock()
		st.cancel = cancel
		st.mu.Unlock()
		defer func() { st.mu.Lock(); st.cancel = nil; st.mu.Unlock() }()
		if n, err := n.DeleteAccount(cctx, id, "self"); err != nil || n != 2 {
			t.Fatalf("DeleteAccount = %d, %v", n, err)
		}
		if live(id) != 0 {
			t.Fatal("sessions outlived a deletion whose caller gave up")
		}
	})

	t.Run("the store fails between the steps", func(t *testing.T) {
		id, access := signup("dee@example.com")
		st.mu.Lock()
		st.failDeleteUser = true
		st.mu.Unlock()
		_, err := n.DeleteAccount(ctx, id, "admin")
		if !errors.Is(err, node.ErrSessionsRemain) || !errors.Is(err, session.ErrStore) {
			t.Fatalf("DeleteAccount = %v, want ErrSessionsRemain wrapping the store's error", err)
		}
		if _, err := n.Accounts().Get(ctx, id); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("the account is still there: %v", err)
		}
		if _, err := n.DeleteAccount(ctx, id, "admin"); !errors.Is(err, account.ErrNotFound) {
			t.Fatalf("deleting again = %v, want ErrNotFound", err)
		}
		// What the error says to do finishes the job.
		if ids, err := mgr.RevokeUser(ctx, id, ""); err != nil || len(ids) != 2 {
			t.Fatalf("RevokeUser = %v, %v", ids, err)
		}
		if _, err := mgr.Verify(ctx, access[0]); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("after the log out everywhere: %v", err)
		}
	})
	t.Run("the store fails deleting the account", func(t *testing.T) {
		id, access := signup("eve@example.com")
		st.mu.Lock()
		st.failDelete = true
		st.mu.Unlock()
		_, err := n.DeleteAccount(ctx, id, "admin")
		if !errors.Is(err, session.ErrStore) || errors.Is(err, node.ErrSessionsRemain) {
			t.Fatalf("DeleteAccount = %v, want the store's error", err)
		}
		if live(id) != 0 {
			t.Fatal("sessions outlived a deletion the store failed")
		}
		if _, err := mgr.Verify(ctx, access[1]); !errors.Is(err, session.ErrRevoked) {
			t.Fatalf("an access token after a failed deletion: %v", err)
		}
		// A retry deletes it.
		if n, err := n.DeleteAccount(ctx, id, "admin"); err != nil || n != 0 {
			t.Fatalf("the retry: %d, %v", n, err)
		}
	})
}
