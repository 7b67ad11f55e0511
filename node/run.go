package node

import (
	"context"
	"sync"
	"time"
)

// Run starts the node's background work and returns when ctx ends: it
// subscribes the Manager to the store's revocation feed (with a periodic
// re-read underneath), re-reads the shared key ring every KeyReload,
// rotates the signing key when it is due, and sweeps expired sessions
// every SweepEvery (sessions and password-reset tokens), and sends the
// Outbox's mails (it waits for the one being sent before it returns). It returns an error only if the feed cannot be
// subscribed; Running is closed once it is. Run once per node.
func (n *Node) Run(ctx context.Context) error {
	if err := n.mgr.Listen(ctx); err != nil {
		return err
	}
	close(n.running)
	if n.outbox != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { n.outbox.Run(ctx) })
	}
	sweep := time.NewTicker(n.cfg.SweepEvery)
	keys := time.NewTicker(n.cfg.KeyReload)
	defer sweep.Stop()
	defer keys.Stop()
	n.rotateIfDue(ctx)
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sweep.C:
			if c, err := n.mgr.Sweep(ctx); err != nil {
				n.cfg.Logger.Error("sweep failed", "err", err)
			} else if c > 0 {
				n.cfg.Logger.Info("swept expired sessions", "count", c)
			}
			if c, err := n.accounts.SweepResetTokens(ctx); err != nil {
				n.cfg.Logger.Error("sweep of reset tokens failed", "err", err)
			} else if c > 0 {
				n.cfg.Logger.Info("swept expired reset tokens", "count", c)
			}
		case <-keys.C:
			if err := n.ReloadKeys(ctx); err != nil {
				n.cfg.Logger.Error("key ring reload failed", "err", err)
			}
			n.rotateIfDue(ctx)
		}
	}
}

// Running is closed once Run listens to the revocation feed: a server
// that waits for it never serves a token whose revocation it could miss.
func (n *Node) Running() <-chan struct{} { return n.running }
