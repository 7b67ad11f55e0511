package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/pgstore"
)

// TestCallsReturnByDeadlineOnAPausedServer: what ReturnsByDeadline
// promises, against a PostgreSQL stopped with SIGSTOP (it accepts TCP
// connections in the kernel and answers nothing) for ten times the
// deadline. With no statement_timeout, only the call's context can end a
// call: reads and writes on pooled connections, and calls that must dial
// a new connection (more at once than the pool holds open), each fail
// with the context's DeadlineExceeded (which node answers as a store
// timeout, 503) within three times their deadline, not when the server
// resumes; afterwards the store serves again.
func TestCallsReturnByDeadlineOnAPausedServer(t *testing.T) {
	const deadline = 300 * time.Millisecond
	pg := testenv.StartPostgres(t)
	s, err := pgstore.Open(t.Context(), pg.URL()+"&pool_max_conns=8", pgstore.WithAutoMigrate())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if !s.ReturnsByDeadline() {
		t.Fatal("ReturnsByDeadline() = false")
	}
	r := sessiontest.NewRecord("u", 0)
	if err := s.Create(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(t.Context(), r.ID); err != nil { // one pooled connection
		t.Fatal(err)
	}

	pg.Pause()
	paused := time.Now()
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			time.Sleep(10*deadline - time.Since(paused))
			pg.Resume()
		}
	}
	defer resume()

	calls := map[string]func(ctx context.Context) error{
		"get": func(ctx context.Context) error { _, err := s.Get(ctx, r.ID); return err },
		"create": func(ctx context.Context) error {
			return s.Create(ctx, sessiontest.NewRecord("v", 0))
		},
		"delete": func(ctx context.Context) error { _, err := s.Delete(ctx, r.ID, time.Now().Add(time.Hour)); return err },
		"list":   func(ctx context.Context) error { _, err := s.ListUser(ctx, "u"); return err },
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := range 12 { // more than the 8 connections: some calls wait, some dial
		for name, call := range calls {
			wg.Go(func() {
				ctx, cancel := context.WithTimeout(context.Background(), deadline)
				defer cancel()
				start := time.Now()
				err := call(ctx)
				took := time.Since(start)
				if !errors.Is(err, context.DeadlineExceeded) || took > 3*deadline {
					errs <- fmt.Errorf("%s #%d on a paused server: %v after %v; want DeadlineExceeded within %v", name, i, err, took, 3*deadline)
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	if time.Since(paused) >= 10*deadline {
		t.Fatal("the calls outlasted the pause: nothing was shown")
	}
	for err := range errs {
		t.Error(err)
	}
	resume()
	if _, err := s.Get(t.Context(), r.ID); err != nil {
		t.Fatalf("Get after the server resumed: %v", err)
	}
}
