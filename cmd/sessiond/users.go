package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/sessiond/sessiond/account"
)

var usersGroup = group{name: "users", subs: []string{"add", "list", "delete"}, usage: `usage: sessiond users <subcommand> [flags]

  users add [flags] <email>    create an account; the password is read from stdin
                               (asked for without echo on a terminal)
  users list [flags]           list every account, ordered by email
  users delete [flags] <id>    delete an account and end its sessions

flags of every users subcommand (each also SESSIOND_<FLAG>):
  --store URL                  the store (default bolt://sessiond-data)
  --log-format json|text, --log-level LEVEL (default warn)
`}

func cmdUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	sub, rest, err := usersGroup.pick(args, stdout)
	if err != nil {
		return err
	}
	synopsis := map[string]string{"add": "sessiond users add <email> [flags] (password on stdin)", "list": "sessiond users list [flags]", "delete": "sessiond users delete <id> [flags]"}[sub]
	var a adminFlags
	c := newCommand("users "+sub, synopsis, stderr)
	a.register(c.fs)
	if err := c.parse(rest, stdout, getenv); err != nil {
		return err
	}
	switch want := map[string]int{"add": 1, "list": 0, "delete": 1}[sub]; {
	case c.nargs() != want:
		return fmt.Errorf("%w: usage: %s", errUsage, synopsis)
	}
	n, err := a.open(ctx, getenv, stderr, nil)
	if err != nil {
		return err
	}
	defer n.Close()
	acc := n.Accounts()
	switch sub {
	case "add":
		pw, err := readPassword(stdin, stderr)
		if err != nil {
			return err
		}
		ac, err := acc.Signup(ctx, c.arg(0), pw)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, ac.ID)
		return nil
	case "list":
		// A page at a time, each written out before the next is read, so
		// many accounts cost one page of memory.
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tCREATED")
		for cursor := ""; ; {
			list, next, err := acc.ListPage(ctx, cursor, account.MaxPageSize)
			if err != nil {
				return err
			}
			for _, ac := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\n", ac.ID, ac.Email, ac.CreatedAt.UTC().Format(time.RFC3339))
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if cursor = next; cursor == "" {
				return nil
			}
		}
	default: // delete
		id := c.arg(0)
		if err := acc.Delete(ctx, id); err != nil {
			return err
		}
		ids, err := n.Manager().RevokeUser(ctx, id, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "deleted %s and revoked %d sessions\n", id, len(ids))
		return nil
	}
}

// readPassword reads one line from stdin: without echo, after a prompt on
// stderr, when stdin is a terminal (so the password is not shown on the
// screen); as it comes when stdin is a pipe (scripts).
func readPassword(stdin io.Reader, stderr io.Writer) (string, error) {
	if f, ok := stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		return string(b), nil
	}
	pw, err := bufio.NewReader(stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read password: %w", err)
	}
	return strings.TrimRight(pw, "\r\n"), nil
}
