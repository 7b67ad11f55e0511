package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/sessiond/sessiond/node"
)

var keysGroup = group{name: "keys", subs: []string{"list", "rotate"}, usage: `usage: sessiond keys <subcommand> [flags]

  keys list [flags]            the signing keys of the shared ring
  keys rotate [flags]          publish a new signing key; it signs once JWKS caches
                               have it (--jwks-max-age plus a tenth), or at once with --now

flags of every keys subcommand (each also SESSIOND_<FLAG>):
  --store URL                  the store (default bolt://sessiond-data)
  --log-format json|text, --log-level LEVEL (default warn)
flags of keys rotate:
  --jwks-max-age DURATION      the JWKS cache lifetime the servers advertise (default 5m)
  --signing-alg ALG            EdDSA, ES256 or RS256 (default: the newest key's)
  --now                        sign with the new key at once (after a key compromise)
`}

func cmdKeys(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) error {
	sub, rest, err := keysGroup.pick(args, stdout)
	if err != nil {
		return err
	}
	var a adminFlags
	var maxAge time.Duration
	var alg string
	var now bool
	c := newCommand("keys "+sub, "sessiond keys "+sub+" [flags]", stderr)
	a.register(c.fs)
	if sub == "rotate" {
		c.fs.DurationVar(&maxAge, "jwks-max-age", node.DefaultJWKSMaxAge, "the JWKS cache lifetime the servers advertise: the new key signs this long (plus a tenth) after it is published")
		c.fs.StringVar(&alg, "signing-alg", "", "algorithm of the new key: EdDSA, ES256 or RS256 (default: the newest key's, so the ring keeps its algorithm)")
		c.fs.BoolVar(&now, "now", false, "sign with the new key at once (after a key compromise; caching clients refuse fresh tokens until they refetch)")
	}
	if err := c.parse(rest, stdout, getenv); err != nil {
		return err
	}
	if err := c.noArgs("keys " + sub); err != nil {
		return err
	}
	newAlg, err := checkAlg(alg)
	if err != nil {
		return err
	}
	n, err := a.open(ctx, getenv, stderr, func(c *node.Config) { c.JWKSMaxAge = maxAge })
	if err != nil {
		return err
	}
	defer n.Close()
	t := n.Now()
	if sub == "rotate" {
		if _, err := n.RotateKeys(ctx, node.Rotation{Alg: newAlg, Immediately: now}); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tCREATED\tACTIVE\tACTIVATES AT\tRETIRE AT")
	for _, k := range n.Keys().Keys(t) {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%v\t%s\t%s\n", k.ID, k.Alg, stamp(k.CreatedAt), k.Active, stamp(k.ActivatesAt), stamp(k.RetireAt))
	}
	return tw.Flush()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
