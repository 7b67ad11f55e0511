package boltstore_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
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

// TestKill9UnderConcurrentLoad kills a process with SIGKILL while 64
// goroutines create, rotate and delete sessions in it (so their writes
// share commits), and checks after reopening that every write it had
// acknowledged is there, each at most one unacknowledged step further
// (the write in flight, committed or not), and that every session's
// holder can still rotate with the last token it was answered with: no
// honest client is taken for a thief after the crash.
func TestKill9UnderConcurrentLoad(t *testing.T) {
	if dir := os.Getenv("BOLTSTORE_LOAD_DIR"); dir != "" {
		childLoad(dir)
		return
	}
	if testing.Short() {
		t.Skip("starts a child process")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9UnderConcurrentLoad$")
	cmd.Env = append(os.Environ(), "BOLTSTORE_LOAD_DIR="+dir)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	type acked struct {
		version  uint64
		hash     string // hex SHA-256 of the current token, as last answered
		deleting bool   // a Delete was called and not (yet) answered
		deleted  bool
	}
	sessions := map[string]*acked{}
	rotations := 0
	var once sync.Once
	kill := func() { // from the timer's goroutine too
		once.Do(func() {
			if err := cmd.Process.Kill(); err != nil {
				t.Error(err)
			}
		})
	}
	timer := time.AfterFunc(60*time.Second, kill) // a slow machine: kill with what there is
	defer timer.Stop()
	// Every line is an answer the child had received before it printed
	// it; lines already in the pipe when it dies are still read.
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 3 && f[0] == "C":
			sessions[f[1]] = &acked{version: 1, hash: f[2]}
		case len(f) == 4 && f[0] == "R":
			v, err := strconv.ParseUint(f[2], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			sessions[f[1]].version, sessions[f[1]].hash = v, f[3]
			if rotations++; rotations == 3000 {
				kill()
			}
		case len(f) == 2 && f[0] == "D?":
			sessions[f[1]].deleting = true
		case len(f) == 2 && f[0] == "D":
			sessions[f[1]].deleted = true
		default:
			t.Fatalf("child printed %q", sc.Text())
		}
	}
	kill()
	cmd.Wait()
	if len(sessions) < 64 || rotations < 64 {
		t.Fatalf("the child acknowledged only %d sessions and %d rotations before it died", len(sessions), rotations)
	}
	t.Logf("killed after %d acknowledged rotations of %d sessions", rotations, len(sessions))

	s := open(t, dir)
	ctx := t.Context()
	revs, err := s.Revocations(ctx, sessiontest.Base)
	if err != nil {
		t.Fatal(err)
	}
	revoked := map[string]bool{}
	for _, r := range revs {
		revoked[r.SessionID] = true
	}
	deleted, inFlight := 0, 0
	for id, a := range sessions {
		r, err := s.Get(ctx, id)
		if errors.Is(err, session.ErrNotFound) && (a.deleted || a.deleting) {
			if !revoked[id] {
				t.Errorf("session %s deleted without its revocation", id)
			}
			deleted++
			continue
		}
		if err != nil {
			t.Errorf("acknowledged session %s after kill -9: %v (deleted %v)", id, err, a.deleted)
			continue
		}
		if a.deleted {
			t.Errorf("session %s whose delete was acknowledged is back", id)
			continue
		}
		cur := hex.EncodeToString(r.RefreshHash)
		prev := hex.EncodeToString(r.PrevRefreshHash)
		switch {
		case r.Version == a.version && cur == a.hash:
		case r.Version == a.version+1 && prev == a.hash:
			inFlight++ // a rotation committed whose answer never reached the goroutine
		default:
			t.Errorf("session %s: version %d stored, %d acknowledged (token moved on: %v)", id, r.Version, a.version, cur != a.hash)
			continue
		}
		// The holder presents the last token it was answered with.
		presented, _ := hex.DecodeString(a.hash)
		now := sessiontest.Base.Add(time.Hour)
		out, _, err := s.Rotate(ctx, id, session.RotateRequest{
			Presented: presented, Next: sessiontest.NewHash(), Now: now, Grace: time.Second,
			IdleExpiresAt: now.Add(time.Hour), RevokeHold: time.Hour,
		})
		if err != nil || (out != session.Rotated && out != session.GraceReplay) {
			t.Errorf("session %s: its holder's last token after kill -9 = %v, %v; want rotated or grace-replay", id, out, err)
		}
	}
	t.Logf("%d deleted, %d with a rotation committed but unanswered", deleted, inFlight)
}

// childLoad: 64 goroutines, each creating a session, rotating it 16 times
// and deleting it, over and over, printing every answer as it gets it,
// until the process is killed.
func childLoad(dir string) {
	ctx := context.Background()
	s, err := boltstore.Open(dir)
	if err != nil {
		panic(err)
	}
	var mu sync.Mutex
	say := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(os.Stdout, format+"\n", args...) // unbuffered: a line is out before the next write
	}
	for w := range 64 {
		go func() {
			now := sessiontest.Base.Add(time.Duration(w) * time.Second)
			for {
				r := sessiontest.NewRecord(fmt.Sprintf("user-%d", w), 0)
				must(s.Create(ctx, r))
				say("C %s %x", r.ID, r.RefreshHash)
				cur := r.RefreshHash
				for range 16 {
					now = now.Add(time.Microsecond)
					next := sessiontest.NewHash()
					out, got, err := s.Rotate(ctx, r.ID, session.RotateRequest{
						Presented: cur, Next: next, NextChild: sessiontest.NewHash(), Now: now,
						Grace: time.Second, IdleExpiresAt: now.Add(24 * time.Hour), RevokeHold: time.Hour,
					})
					if err != nil || out != session.Rotated {
						panic(fmt.Sprint("rotate: ", out, err))
					}
					cur = next
					say("R %s %d %x", r.ID, got.Version, cur)
				}
				say("D? %s", r.ID)
				if ok, err := s.Delete(ctx, r.ID, sessiontest.Base.Add(time.Hour)); !ok || err != nil {
					panic(fmt.Sprint("delete: ", ok, err))
				}
				say("D %s", r.ID)
			}
		}()
	}
	select {} // wait for SIGKILL, never Close
}
