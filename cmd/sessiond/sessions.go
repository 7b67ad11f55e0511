package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond/session"
)

var sessionsGroup = group{name: "sessions", subs: []string{"list", "revoke"}, usage: `usage: sessiond sessions <subcommand> [flags]

  sessions list --user <id>                  a user's live sessions
  sessions revoke --user <id> | --id <sid>   end every session of a user, or one session

flags of every sessions subcommand (each also SESSIOND_<FLAG>):
  --user ID, --id SESSION-ID
  --store URL                  the store (default bolt://sessiond-data)
  --log-format json|text, --log-level LEVEL (default warn)
`}

func cmdSessions(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	sub, rest, err := sessionsGroup.pick(args, stdout)
	if err != nil {
		return err
	}
	var a adminFlags
	var user, id string
	synopsis := map[string]string{"list": "sessiond sessions list --user <id> [flags]", "revoke": "sessiond sessions revoke --user <id> | --id <session-id> [flags]"}[sub]
	c := newCommand("sessions "+sub, synopsis, stderr)
	c.fs.StringVar(&user, "user", "", "user id")
	if sub == "revoke" {
		c.fs.StringVar(&id, "id", "", "session id")
	}
	a.register(c.fs)
	if err := c.parse(rest, stdout, getenv); err != nil {
		return err
	}
	switch {
	case c.nargs() != 0:
		return fmt.Errorf("%w: sessions %s takes flags, no arguments", errUsage, sub)
	case sub == "list" && user == "":
		return fmt.Errorf("%w: usage: %s", errUsage, synopsis)
	case sub == "revoke" && (user == "") == (id == ""):
		return fmt.Errorf("%w: sessions revoke needs exactly one of --user or --id", errUsage)
	}
	n, err := a.open(ctx, getenv, stderr, nil)
	if err != nil {
		return err
	}
	defer n.Close()
	m := n.Manager()
	switch {
	case sub == "list":
		// A page at a time, each written out before the next is read, so
		// a user with many sessions costs one page of memory.
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tCREATED\tLAST SEEN\tEXPIRES\tIP\tUSER AGENT")
		for cursor := ""; ; {
			list, next, err := m.ListPage(ctx, user, cursor, session.MaxPageSize)
			if err != nil {
				return err
			}
			for _, s := range list {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.ID, s.CreatedAt.UTC().Format(time.RFC3339), s.LastSeenAt.UTC().Format(time.RFC3339), s.ExpiresAt.UTC().Format(time.RFC3339), s.IP, s.UserAgent)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			if cursor = next; cursor == "" {
				return nil
			}
		}
	case user != "":
		ids, err := m.RevokeUser(ctx, user, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "revoked %d sessions\n", len(ids))
		return nil
	default:
		if err := m.RevokeFor(ctx, id, "cli"); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "revoked", id)
		return nil
	}
}
