package node_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
)

// rotateSpy keeps the deadline of the last rotation the node sent it.
type rotateSpy struct {
	*memstore.Store
	mu       sync.Mutex
	deadline time.Time
}

func (s *rotateSpy) Rotate(ctx context.Context, id string, req session.RotateRequest) (session.RotateOutcome, *session.Record, error) {
	s.mu.Lock()
	s.deadline = req.Deadline
	s.mu.Unlock()
	return s.Store.Rotate(ctx, id, req)
}

// TestRotateCarriesTheStoreDeadline: a refresh whose caller set no
// deadline reaches the store with the node's store deadline in
// RotateRequest.Deadline, which the store checks on its own clock, so a
// rotation a stalled store reaches after the node answered 503 does
// nothing. A caller's shorter deadline is kept.
func TestRotateCarriesTheStoreDeadline(t *testing.T) {
	const timeout = 2 * time.Second
	spy := &rotateSpy{Store: memstore.New()}
	n, err := node.Open(context.Background(), node.Config{
		Backend: spy, MasterKey: []byte("k7Qm2vX9pL4tR8wZ1nB6cF3hJ5sD0gYe"), StoreTimeout: timeout, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	ctx := context.Background()
	tk, err := n.Manager().Login(ctx, "user-1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if tk, err = n.Manager().Refresh(ctx, tk.RefreshToken, session.Meta{}); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	if spy.deadline.Before(start.Add(timeout)) || spy.deadline.After(end.Add(timeout)) {
		t.Fatalf("RotateRequest.Deadline %v after the call began, want the store timeout %v", spy.deadline.Sub(start), timeout)
	}
	short, cancel := context.WithTimeout(ctx, timeout/4)
	defer cancel()
	want, _ := short.Deadline()
	if _, err := n.Manager().Refresh(short, tk.RefreshToken, session.Meta{}); err != nil {
		t.Fatal(err)
	}
	if !spy.deadline.Equal(want) {
		t.Fatalf("RotateRequest.Deadline = %v, want the caller's shorter %v", spy.deadline, want)
	}
}
