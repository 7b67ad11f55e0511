package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"golang.org/x/term"

	"github.com/sessiond/sessiond/account"
	"github.com/sessiond/sessiond/audit"
	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/server"
	"github.com/sessiond/sessiond/session"
)

var usersGroup = group{name: "users", subs: []string{"add", "list", "delete", "claims", "reset-link"}, usage: `usage: sessiond users <subcommand> [flags]

  users add [flags] <email>    create an account; the password is read from stdin
                               (asked for without echo on a terminal)
  users list [flags]           list every account, ordered by email
  users delete [flags] <id>    delete an account and end its sessions
  users claims [flags] <email-or-id> <json>
                               replace an account's application claims ('{"role":"admin"}';
                               '{}' removes them): its later logins carry them, its live
                               sessions from their next refresh (--revoke: revoked instead)
  users reset-link [flags] <email-or-id>
                               print a one-time password-reset link for the account, to pass
                               on to its owner privately; nothing is mailed

flags of every users subcommand (each also SESSIOND_<FLAG>):
  --store URL                  the store (default bolt://sessiond-data)
  --log-format json|text, --log-level LEVEL (default warn)
flags of users claims:
  --claims NAMES               the claims the server issues, as serve's --claims
  --claims-max-bytes N         as serve's (default 1024)
  --revoke                     revoke the account's sessions instead of updating them
flags of users reset-link:
  --public-url URL             the server's public URL, the base of the link (serve's --public-url)
  --reset-ttl DURATION         how long the link works (default 30m, at most 4h)
`}

func cmdUsers(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, getenv func(string) string) error {
	sub, rest, err := usersGroup.pick(args, stdout)
	if err != nil {
		return err
	}
	synopsis := map[string]string{"add": "sessiond users add <email> [flags] (password on stdin)", "list": "sessiond users list [flags]", "delete": "sessiond users delete <id> [flags]",
		"claims":     `sessiond users claims <email-or-id> '{"role":"admin"}' [--revoke] [flags]`,
		"reset-link": "sessiond users reset-link <email-or-id> [--public-url URL] [--reset-ttl 30m] [flags]"}[sub]
	var a adminFlags
	var cl claimsFlags
	var rl resetLinkFlags
	c := newCommand("users "+sub, synopsis, stderr)
	switch sub {
	case "claims":
		cl.register(c.fs)
	case "reset-link":
		rl.register(c.fs)
	}
	a.register(c.fs)
	if err := c.parse(rest, stdout, getenv); err != nil {
		return err
	}
	switch want := map[string]int{"add": 1, "list": 0, "delete": 1, "claims": 2, "reset-link": 1}[sub]; {
	case c.nargs() != want:
		return fmt.Errorf("%w: usage: %s", errUsage, synopsis)
	}
	if sub == "delete" {
		// Checked before the store is opened: bad usage changes nothing.
		if err := session.CheckUserID(c.arg(0)); err != nil {
			return fmt.Errorf("%w: users delete: %w", errUsage, err)
		}
	}
	var claims map[string]json.RawMessage
	var mod func(*node.Config)
	if sub == "claims" {
		if claims, err = cl.parse(c.arg(1)); err != nil {
			return err
		}
		mod = cl.configure
	}
	var base string
	if sub == "reset-link" {
		if base, err = rl.base(); err != nil {
			return err
		}
		mod = rl.configure
	}
	n, err := a.open(ctx, getenv, stderr, mod)
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
	case "claims":
		return setAccountClaims(ctx, n, c.arg(0), claims, cl.revoke, stdout)
	case "reset-link":
		return printResetLink(ctx, n, base, c.arg(0), stdout, stderr)
	default: // delete
		return deleteAccount(ctx, n, c.arg(0), stdout)
	}
}

// claimsFlags are the flags of users claims: the claim names and cap the
// servers run with (so the same SESSIOND_CLAIMS serves both), and --revoke.
type claimsFlags struct {
	names    string
	maxBytes int
	revoke   bool
}

func (f *claimsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.names, "claims", "", "comma-separated application claims the server issues (serve's --claims)")
	fs.IntVar(&f.maxBytes, "claims-max-bytes", session.DefaultMaxClaimsBytes, "cap of a session's application claims, as JSON (serve's --claims-max-bytes)")
	fs.BoolVar(&f.revoke, "revoke", false, "revoke the account's live sessions instead of updating them at their next refresh")
}

// list returns the claim names of --claims.
func (f *claimsFlags) list() []string {
	var names []string
	for _, name := range strings.Split(f.names, ",") {
		if name = strings.TrimSpace(name); name != "" {
			names = append(names, name)
		}
	}
	return names
}

func (f *claimsFlags) configure(cfg *node.Config) {
	cfg.Claims = f.list()
	cfg.Policy.MaxClaimsBytes = f.maxBytes
}

// parse reads the claims argument, a JSON object, and refuses a name
// --claims does not give before anything is opened. (The Manager checks
// the values and their size again before writing anything.)
func (f *claimsFlags) parse(arg string) (map[string]json.RawMessage, error) {
	var claims map[string]json.RawMessage
	if t := strings.TrimSpace(arg); !strings.HasPrefix(t, "{") || json.Unmarshal([]byte(t), &claims) != nil {
		return nil, fmt.Errorf(`%w: users claims: %q is not a JSON object (want '{"role":"admin"}', or '{}' to remove them)`, errUsage, clip(arg))
	}
	names := f.list()
	for name := range claims {
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("%w: users claims: claim %q is not one --claims names (give the server's --claims, or SESSIOND_CLAIMS)", errUsage, clip(name))
		}
	}
	return claims, nil
}

// clip shortens an argument quoted in an error.
func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// setAccountClaims replaces the claims of the account emailOrID names, and
// updates or revokes its live sessions (node.Node.SetUserClaims: the
// account first). Claims the Manager refuses are bad usage; nothing is
// changed then.
func setAccountClaims(ctx context.Context, n *node.Node, emailOrID string, claims map[string]json.RawMessage, revoke bool, stdout io.Writer) error {
	acct, err := n.Accounts().Lookup(ctx, emailOrID)
	if errors.Is(err, account.ErrNotFound) {
		return fmt.Errorf("users claims: no account %q", clip(emailOrID))
	}
	if err != nil {
		return err
	}
	isAccount, ids, err := n.SetUserClaims(ctx, acct.ID, claims, revoke)
	switch {
	case errors.Is(err, session.ErrInvalidClaims):
		return fmt.Errorf("%w: users claims: %w", errUsage, err)
	case err != nil:
		return err
	case !isAccount:
		return fmt.Errorf("users claims: account %s was deleted meanwhile", acct.ID)
	}
	verb := "updated"
	if revoke {
		verb = "revoked"
	}
	fmt.Fprintf(stdout, "set the claims of %s (%s) and %s %d sessions\n", acct.ID, acct.Email, verb, len(ids))
	return nil
}

// deleteAccount deletes the account id and ends its sessions on every
// node (node.Node.DeleteAccount). An id no store can keep is bad usage; an
// id with no account, or an account deleted whose sessions could not all
// be ended, is a failure that says what to do.
func deleteAccount(ctx context.Context, n *node.Node, id string, stdout io.Writer) error {
	revoked, err := n.DeleteAccount(ctx, id, "cli")
	switch {
	case errors.Is(err, session.ErrInvalidUserID):
		return fmt.Errorf("%w: users delete: %w", errUsage, err)
	case errors.Is(err, account.ErrNotFound):
		return fmt.Errorf("users delete: no account %q (sessiond users list shows the ids)", clip(id))
	case errors.Is(err, node.ErrSessionsRemain):
		return fmt.Errorf("users delete: %w; end them with: sessiond sessions revoke --user %s", err, id)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "deleted %s and revoked %d sessions\n", id, revoked)
	return nil
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

// resetLinkFlags are the flags of users reset-link: where the link points
// and how long it works, as serve's flags of the same names say.
type resetLinkFlags struct {
	publicURL string
	ttl       time.Duration
}

func (f *resetLinkFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.publicURL, "public-url", "", "the server's public URL (https://auth.example.com), the base of the link (serve's --public-url)")
	fs.DurationVar(&f.ttl, "reset-ttl", account.DefaultResetTTL, "how long the link works (1m to 4h)")
}

// base is the base URL of the link, judged before anything is opened.
func (f *resetLinkFlags) base() (string, error) {
	base, err := server.PublicBase(f.publicURL, "")
	if err != nil {
		return "", fmt.Errorf("%w: users reset-link: %v", errUsage, err)
	}
	if base == "" {
		return "", fmt.Errorf("%w: users reset-link needs --public-url (SESSIOND_PUBLIC_URL, as serve's): the link points there", errUsage)
	}
	if err := account.CheckResetTTL(f.ttl); err != nil {
		return "", fmt.Errorf("%w: users reset-link: --reset-ttl: %v", errUsage, err)
	}
	return base, nil
}

func (f *resetLinkFlags) configure(cfg *node.Config) { cfg.ResetTTL = f.ttl }

// printResetLink stores a reset token for the account emailOrID names and
// prints its link on stdout (and what it does on stderr). Nothing is
// mailed: the operator passes the link on.
func printResetLink(ctx context.Context, n *node.Node, base, emailOrID string, stdout, stderr io.Writer) error {
	ri, err := n.Accounts().IssueReset(ctx, emailOrID)
	if errors.Is(err, account.ErrNotFound) {
		return fmt.Errorf("users reset-link: no account %q", clip(emailOrID))
	}
	if err != nil {
		return err
	}
	n.Audit().Log(ctx, audit.Event{Kind: audit.PasswordResetRequested, Account: ri.Account.Email, UserID: ri.Account.ID, Reason: "cli"})
	fmt.Fprintln(stdout, server.ResetLink(base, ri.Token))
	fmt.Fprintf(stderr, "The link sets a new password for %s (%s) once, until %s, and ends every session of the account. Pass it on privately: it is as good as the password.\n",
		ri.Account.Email, ri.Account.ID, ri.ExpiresAt.Format(time.RFC3339))
	return nil
}
