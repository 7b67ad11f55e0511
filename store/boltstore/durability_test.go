package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

func TestReopenKeepsEverything(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	s, err := boltstore.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	kept := sessiontest.NewRecord("alice", 0)
	revoked := sessiontest.NewRecord("alice", time.Minute)
	expired := sessiontest.NewRecord("bob", 0)
	expired.IdleExpiresAt = sessiontest.Base.Add(time.Hour)
	for _, r := range []*session.Record{kept, revoked, expired} {
		if err := s.Create(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	until := sessiontest.Base.Add(time.Hour)
	if ok, err := s.Delete(ctx, revoked.ID, until); !ok || err != nil {
		t.Fatalf("Delete = %v, %v", ok, err)
	}
	ring := []byte("sealed ring")
	if err := s.SaveKeyRing(ctx, ring, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = open(t, dir)
	got, err := s.Get(ctx, kept.ID)
	if err != nil {
		t.Fatalf("Get after reopen: %v", err)
	}
	if got.UserID != kept.UserID || !bytes.Equal(got.RefreshHash, kept.RefreshHash) ||
		!got.CreatedAt.Equal(kept.CreatedAt) || got.Version != 1 {
		t.Fatalf("record after reopen = %+v", got)
	}
	if rs, err := s.ListUser(ctx, "alice"); err != nil || len(rs) != 1 || rs[0].ID != kept.ID {
		t.Fatalf("ListUser after reopen = %v, %v", rs, err)
	}
	revs, err := s.Revocations(ctx, sessiontest.Base)
	if err != nil || len(revs) != 1 || revs[0].SessionID != revoked.ID || !revs[0].Until.Equal(until) {
		t.Fatalf("Revocations after reopen = %v, %v", revs, err)
	}
	blob, v, err := s.LoadKeyRing(ctx)
	if err != nil || !bytes.Equal(blob, ring) || v != 1 {
		t.Fatalf("LoadKeyRing after reopen = %q, %d, %v", blob, v, err)
	}
	// The expiry index survived too.
	if n, err := s.DeleteExpired(ctx, sessiontest.Base.Add(2*time.Hour)); n != 1 || err != nil {
		t.Fatalf("DeleteExpired after reopen = %d, %v; want 1", n, err)
	}
}

// TestKill9LosesNothing runs writes in a child process, kills it with
// SIGKILL right after they returned, and checks the data is there.
func TestKill9LosesNothing(t *testing.T) {
	if dir := os.Getenv("BOLTSTORE_CHILD_DIR"); dir != "" {
		childWrites(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9LosesNothing$")
	cmd.Env = append(os.Environ(), "BOLTSTORE_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The child prints the session id once every write has returned,
	// then waits to be killed.
	var id string
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "DONE "); ok {
			id = s
			break
		}
	}
	if id == "" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child did not finish its writes")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()

	s := open(t, dir)
	ctx := t.Context()
	r, err := s.Get(ctx, id)
	if err != nil {
		t.Fatalf("Get after kill -9: %v", err)
	}
	if r.Version != 2 || r.IP != "after-update" {
		t.Fatalf("after kill -9: Version %d IP %q, want the update", r.Version, r.IP)
	}
	revs, err := s.Revocations(ctx, sessiontest.Base)
	if err != nil || len(revs) != 1 {
		t.Fatalf("Revocations after kill -9 = %v, %v", revs, err)
	}
	if blob, v, err := s.LoadKeyRing(ctx); err != nil || v != 1 || !bytes.Equal(blob, []byte("ring")) {
		t.Fatalf("LoadKeyRing after kill -9 = %q, %d, %v", blob, v, err)
	}
}

func childWrites(dir string) {
	ctx := context.Background()
	s, err := boltstore.Open(dir)
	if err != nil {
		panic(err)
	}
	r := sessiontest.NewRecord("u", 0)
	gone := sessiontest.NewRecord("u", time.Minute)
	must(s.Create(ctx, r))
	must(s.Create(ctx, gone))
	r.IP = "after-update"
	must(s.Update(ctx, r))
	if _, err := s.Delete(ctx, gone.ID, sessiontest.Base.Add(time.Hour)); err != nil {
		panic(err)
	}
	must(s.SaveKeyRing(ctx, []byte("ring"), 0))
	os.Stdout.WriteString("DONE " + r.ID + "\n")
	select {} // wait for SIGKILL, never Close
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
