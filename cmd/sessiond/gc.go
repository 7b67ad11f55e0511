package main

import (
	"context"
	"fmt"
	"io"
)

func cmdGC(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	var a adminFlags
	c := newCommand("gc", "sessiond gc [flags]   delete expired sessions, forgotten revocations and expired password-reset tokens now", stderr)
	a.register(c.fs)
	if err := c.parse(args, stdout, getenv); err != nil {
		return err
	}
	if err := c.noArgs("gc"); err != nil {
		return err
	}
	n, err := a.open(ctx, getenv, stderr, nil)
	if err != nil {
		return err
	}
	defer n.Close()
	count, err := n.Manager().Sweep(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %d expired sessions\n", count)
	resets, err := n.Accounts().SweepResetTokens(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "deleted %d expired password-reset tokens\n", resets)
	return nil
}
