package node

import (
	"context"
	"errors"
	"fmt"
	"syscall"

	"github.com/sessiond/sessiond/session"
)

// Prober is implemented by backends that can check that writes work: Probe
// writes a small probe key and reads it back. An error that is (or wraps)
// syscall.ENOSPC says the store's disk is full.
type Prober interface {
	Probe(ctx context.Context) error
}

// Why a node is not ready; Ready's error wraps one of them and the cause.
var (
	// ErrStoreStalled: the store did not answer within the deadline.
	ErrStoreStalled = errors.New("the store does not answer in time")
	// ErrStoreDown: the store answered a read with an error.
	ErrStoreDown = errors.New("the store is unreachable or failing")
	// ErrStoreWrite: the store reads, but a write probe failed.
	ErrStoreWrite = errors.New("the store cannot write")
	// ErrDiskFull: a write failed because the store's disk is full.
	ErrDiskFull = errors.New("the store's disk is full")
	// ErrFeedDeaf: the node cannot hear other nodes' revocations.
	ErrFeedDeaf = errors.New("the revocation feed is not working")
)

// Ready reports whether the node can serve: a read of a session that
// cannot exist comes back "not found", where the backend has a Prober a
// write probe works, and it can hear revocations (FeedHealth). Each
// store call has the store deadline and ctx's, whichever is shorter, so
// Ready answers within ctx's deadline. The error wraps one of ErrFeedDeaf,
// ErrStoreStalled, ErrStoreDown, ErrStoreWrite or ErrDiskFull, and its
// cause.
func (n *Node) Ready(ctx context.Context) error {
	// The store first: a stalled store also silences the feed, and the
	// reason should name the cause.
	if _, err := n.backend.Get(ctx, "readyz-probe"); err != nil && !errors.Is(err, session.ErrNotFound) {
		return classify(ErrStoreDown, err)
	}
	if err := n.backend.(instrumented).Probe(ctx); err != nil {
		return classify(ErrStoreWrite, err)
	}
	if err := n.FeedHealth(); err != nil {
		return fmt.Errorf("%w: %w", ErrFeedDeaf, err)
	}
	return nil
}

func classify(kind, err error) error {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		kind = ErrStoreStalled
	case errors.Is(err, syscall.ENOSPC):
		kind = ErrDiskFull
	}
	return fmt.Errorf("%w: %w", kind, err)
}
