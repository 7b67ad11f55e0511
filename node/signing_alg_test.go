package node_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sessiond/sessiond/node"
	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/store/memstore"
	"github.com/sessiond/sessiond/token"
)

// header reads a token's alg and kid without verifying it.
func header(t *testing.T, tok string) (alg token.Algorithm, kid string) {
	t.Helper()
	h, _, _ := strings.Cut(tok, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatalf("token header: %v", err)
	}
	var v struct {
		Alg token.Algorithm `json:"alg"`
		Kid string          `json:"kid"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("token header %s: %v", raw, err)
	}
	return v.Alg, v.Kid
}

// jwksKeys lists the kid and kty of each key the node publishes.
func jwksKeys(t *testing.T, n *node.Node) map[string]string {
	t.Helper()
	raw, err := n.Keys().JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
			Kty string `json:"kty"`
			Crv string `json:"crv"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, k := range set.Keys {
		out[k.Kid] = strings.TrimSuffix(k.Kty+"/"+k.Crv, "/")
	}
	return out
}

// login mints a session on n and returns its access token, checking that
// n verifies it.
func login(t *testing.T, n *node.Node) string {
	t.Helper()
	tk, err := n.Manager().Login(context.Background(), "u1", session.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return tk.AccessToken
}

// A node on a store without a key ring makes one whose key is
// node.DefaultSigningAlg, ES256, unless its configuration names another:
// the tokens say so in their header and the JWKS publishes the matching
// key type.
func TestNewRingSignsTheConfiguredAlgorithm(t *testing.T) {
	if node.DefaultSigningAlg != token.ES256 {
		t.Fatalf("DefaultSigningAlg = %s; want ES256", node.DefaultSigningAlg)
	}
	for _, tc := range []struct {
		cfg     token.Algorithm
		want    token.Algorithm
		jwksKty string
	}{
		{"", token.ES256, "EC/P-256"},
		{token.ES256, token.ES256, "EC/P-256"},
		{token.EdDSA, token.EdDSA, "OKP/Ed25519"},
		{token.RS256, token.RS256, "RSA"},
	} {
		t.Run("SigningAlg="+string(tc.cfg), func(t *testing.T) {
			c := &clock{t: time.Now()}
			conf := cfg(memstore.New(), c)
			conf.SigningAlg = tc.cfg
			n, err := node.Open(context.Background(), conf)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			tok := login(t, n)
			alg, kid := header(t, tok)
			if alg != tc.want {
				t.Fatalf("a fresh node signs %s; want %s", alg, tc.want)
			}
			if keys := n.Keys().Keys(c.Now()); len(keys) != 1 || keys[0].Alg != tc.want || keys[0].ID != kid {
				t.Fatalf("key ring %+v; want one %s key %s", keys, tc.want, kid)
			}
			if got := jwksKeys(t, n); len(got) != 1 || got[kid] != tc.jwksKty {
				t.Fatalf("JWKS %v; want %s as %s", got, kid, tc.jwksKty)
			}
			if _, err := n.Manager().Verify(context.Background(), tok); err != nil {
				t.Fatalf("the node refuses its own %s token: %v", alg, err)
			}
		})
	}
}

// A ring made with EdDSA (a store from before the default changed) keeps
// working under any configuration: a node opened on it verifies the tokens
// its key signed and goes on signing EdDSA with that key, since a new key
// of another algorithm could only sign before clients caching the JWKS
// have fetched it. The algorithm changes at a rotation, and only when one
// is asked for: a rotation that names none (the schedule in Run, the admin
// API, sessiond keys rotate) keeps EdDSA when the node's SigningAlg is
// empty, and takes SigningAlg when it is set; Rotation.Alg wins over
// both. The new key is pre-published, the EdDSA key signs until the new
// one activates, and its last tokens verify after the switch: it retires
// only after they have expired.
func TestExistingEdDSARingKeepsItsKeyUntilARotationChangesIt(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		cfgAlg token.Algorithm // the node's SigningAlg after the upgrade
		rotAlg token.Algorithm // Rotation.Alg; "" for the schedule in Run
		want   token.Algorithm // the algorithm of the successor
	}{
		{"default config, scheduled: stays EdDSA", "", "", token.EdDSA},
		{"SigningAlg ES256, scheduled", token.ES256, "", token.ES256},
		{"SigningAlg RS256, scheduled", token.RS256, "", token.RS256},
		{"SigningAlg EdDSA, scheduled", token.EdDSA, "", token.EdDSA},
		{"default config, rotate to ES256", "", token.ES256, token.ES256},
		{"default config, rotate to RS256", "", token.RS256, token.RS256},
		{"default config, rotate to EdDSA", "", token.EdDSA, token.EdDSA},
		{"SigningAlg RS256, rotate to ES256", token.RS256, token.ES256, token.ES256},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := memstore.New()
			t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
			c := &clock{t: t0}
			old := cfg(st, c)
			old.SigningAlg = token.EdDSA
			first, err := node.Open(ctx, old)
			if err != nil {
				t.Fatal(err)
			}
			before := login(t, first)
			first.Close()
			_, edKID := header(t, before)

			c.set(t0.Add(time.Minute))
			conf := cfg(st, c)
			conf.SigningAlg = tc.cfgAlg
			n, err := node.Open(ctx, conf)
			if err != nil {
				t.Fatal(err)
			}
			defer n.Close()
			if _, err := n.Manager().Verify(ctx, before); err != nil {
				t.Fatalf("the upgraded node refuses a token of the existing EdDSA key: %v", err)
			}
			if alg, kid := header(t, login(t, n)); alg != token.EdDSA || kid != edKID {
				t.Fatalf("before any rotation the node signs %s with %s; want EdDSA with the ring's key %s", alg, kid, edKID)
			}

			// The EdDSA key is due for rotation.
			c.set(t0.Add(node.DefaultKeyRotation))
			if tc.rotAlg == "" {
				runCtx, stop := context.WithCancel(ctx)
				ran := make(chan error, 1)
				go func() { ran <- n.Run(runCtx) }()
				<-n.Running()
				deadline := time.Now().Add(10 * time.Second)
				for len(n.Keys().Keys(c.Now())) != 2 {
					if time.Now().After(deadline) {
						stop()
						t.Fatal("Run never rotated the overdue key")
					}
					time.Sleep(time.Millisecond)
				}
				stop()
				if err := <-ran; err != nil {
					t.Fatal(err)
				}
			} else if _, err := n.RotateKeys(ctx, node.Rotation{Alg: tc.rotAlg}); err != nil {
				t.Fatal(err)
			}
			keys := n.Keys().Keys(c.Now())
			if len(keys) != 2 || !keys[0].Pending || keys[0].Alg != tc.want || keys[1].ID != edKID || !keys[1].Active {
				t.Fatalf("after the rotation %+v; want a pending %s key before the active EdDSA key %s", keys, tc.want, edKID)
			}
			next := keys[0]
			if got := jwksKeys(t, n); len(got) != 2 || got[next.ID] == "" || got[edKID] != "OKP/Ed25519" {
				t.Fatalf("JWKS %v; want the pending %s and the EdDSA %s", got, next.ID, edKID)
			}

			// Just before the switch the EdDSA key still signs ...
			c.set(next.ActivatesAt.Add(-time.Second))
			last := login(t, n)
			if alg, kid := header(t, last); alg != token.EdDSA || kid != edKID {
				t.Fatalf("before the new key activates the node signs %s with %s; want EdDSA with %s", alg, kid, edKID)
			}
			// ... and after it the new key does, while the EdDSA key's last
			// token still verifies.
			c.set(next.ActivatesAt.Add(time.Second))
			if alg, kid := header(t, login(t, n)); alg != tc.want || kid != next.ID {
				t.Fatalf("after the switch the node signs %s with %s; want %s with %s", alg, kid, tc.want, next.ID)
			}
			if _, err := n.Manager().Verify(ctx, last); err != nil {
				t.Fatalf("the last EdDSA token is refused after the switch: %v", err)
			}
			retiring := n.Keys().Keys(c.Now())
			i := slices.IndexFunc(retiring, func(k token.KeyInfo) bool { return k.ID == edKID })
			lastExp := next.ActivatesAt.Add(-time.Second).Add(session.DefaultAccessTTL)
			if i < 0 || retiring[i].Active || retiring[i].RetireAt.Before(lastExp.Add(session.MaxLeeway)) {
				t.Fatalf("keys %+v; want the EdDSA key %s kept, not signing, until its last token (exp %v) has expired", retiring, edKID, lastExp)
			}
		})
	}
}
