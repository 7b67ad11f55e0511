package token_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

// retain is what the server passes to rotations: the longest access-token
// lifetime plus the largest leeway.
const retain = time.Hour + time.Minute

// kidOf returns the kid of a token's header.
func kidOf(t testing.TB, tok string) string {
	t.Helper()
	h, _ := parts(t, tok)
	var v struct {
		Kid string `json:"kid"`
	}
	if err := json.Unmarshal([]byte(h), &v); err != nil {
		t.Fatal(err)
	}
	return v.Kid
}

// signingKID is the kid of a token r signs for claims issued at now.
func signingKID(t testing.TB, r *token.KeyRing, now time.Time) string {
	t.Helper()
	return kidOf(t, mustSign(t, r, claimsAt(now)))
}

// jwksKIDs lists the kids r publishes, in order.
func jwksKIDs(t testing.TB, r *token.KeyRing) []string {
	t.Helper()
	raw, err := r.JWKS()
	if err != nil {
		t.Fatal(err)
	}
	var set struct {
		Keys []struct {
			Kid string `json:"kid"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, k := range set.Keys {
		out = append(out, k.Kid)
	}
	return out
}

func kidsAt(r *token.KeyRing, now time.Time) []string {
	var out []string
	for _, k := range r.Keys(now) {
		out = append(out, k.ID)
	}
	return out
}

// copyRing returns an independent copy of r (through Seal and Open), so
// table cases each start from the same ring.
func copyRing(t testing.TB, r *token.KeyRing) *token.KeyRing {
	t.Helper()
	blob, err := r.Seal(master)
	if err != nil {
		t.Fatal(err)
	}
	c, err := token.OpenKeyRing(blob, master)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPendingKeyPublishedBeforeItSigns(t *testing.T) {
	for _, alg := range []token.Algorithm{token.EdDSA, token.ES256, token.RS256} {
		t.Run(string(alg), func(t *testing.T) {
			r, err := token.NewKeyRing(alg, t0)
			if err != nil {
				t.Fatal(err)
			}
			oldKID := activeKID(t, r)
			const ahead = 5 * time.Minute
			rotatedAt := t0.Add(24*time.Hour + 250*time.Millisecond)
			// now+ahead rounded up to a whole second.
			activates := t0.Add(24*time.Hour + ahead + time.Second)
			p, err := r.Rotate(alg, rotatedAt, ahead, retain)
			if err != nil {
				t.Fatal(err)
			}
			if !p.Pending || p.Active || p.ID == oldKID || p.Alg != alg || !p.ActivatesAt.Equal(activates) ||
				!p.CreatedAt.Equal(rotatedAt) || !p.RetireAt.IsZero() {
				t.Fatalf("Rotate returned %+v, want a pending %s key activating at %v", p, alg, activates)
			}
			// Published at once, newest first, old key still there.
			if got, want := jwksKIDs(t, r), []string{p.ID, oldKID}; !slices.Equal(got, want) {
				t.Fatalf("JWKS kids %v, want %v", got, want)
			}
			for _, tc := range []struct {
				name string
				at   time.Time
				want string
			}{
				{"at rotation", rotatedAt, oldKID},
				{"ahead after rotation, within the rounded-up second", rotatedAt.Add(ahead), oldKID},
				{"a nanosecond before activation", activates.Add(-time.Nanosecond), oldKID},
				{"at activation", activates, p.ID},
				{"a day after activation", activates.Add(24 * time.Hour), p.ID},
			} {
				t.Run(tc.name, func(t *testing.T) {
					if got := signingKID(t, r, tc.at); got != tc.want {
						t.Errorf("signed by %s, want %s (old %s, new %s)", got, tc.want, oldKID, p.ID)
					}
					keys := r.Keys(tc.at)
					if len(keys) != 2 || keys[0].ID != p.ID || keys[1].ID != oldKID {
						t.Fatalf("Keys = %+v", keys)
					}
					before := tc.want == oldKID
					if keys[0].Pending != before || keys[0].Active == before || keys[1].Active != before || keys[1].Pending {
						t.Errorf("Keys at %v: %+v", tc.at, keys)
					}
					if want := activates.Add(retain); !keys[1].RetireAt.Equal(want) {
						t.Errorf("old key retires at %v, want activation+retain %v", keys[1].RetireAt, want)
					}
				})
			}
			// A token of the pending key verifies even before activation:
			// only this ring can sign with it, and other nodes switch at
			// the same instant.
			early := forgeWithKeyAt(t, r, activates, claimsAt(rotatedAt))
			if kidOf(t, early) != p.ID {
				t.Fatal("forged with the wrong key")
			}
			if _, err := verifierFor(r, rotatedAt).Verify(early); err != nil {
				t.Errorf("token of the pending key: %v", err)
			}
		})
	}
}

// forgeWithKeyAt signs c with the key of r active at at, whatever c's iat.
func forgeWithKeyAt(t testing.TB, r *token.KeyRing, at time.Time, c token.Claims) string {
	t.Helper()
	kid := activeKIDAt(t, r, at)
	payload := mustJSON(t, map[string]any{"iss": c.Issuer, "sub": c.Subject, "aud": c.Audience[0],
		"exp": c.ExpiresAt.Unix(), "iat": c.IssuedAt.Unix(), "jti": c.ID, "sid": c.SessionID})
	var alg token.Algorithm
	for _, k := range r.Keys(at) {
		if k.ID == kid {
			alg = k.Alg
		}
	}
	input := b64.EncodeToString([]byte(`{"alg":"`+string(alg)+`","kid":"`+kid+`","typ":"at+jwt"}`)) + "." + b64.EncodeToString([]byte(payload))
	sig, err := token.SignWithActiveKey(r, at, []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	return input + "." + b64.EncodeToString(sig)
}

func TestRetiringKeyVerifiesUntilActivationPlusRetain(t *testing.T) {
	r, err := token.NewKeyRing(token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	oldKID := activeKID(t, r)
	p, err := r.Rotate(token.EdDSA, t0.Add(time.Hour), 5*time.Minute, retain)
	if err != nil {
		t.Fatal(err)
	}
	act := p.ActivatesAt
	// The old key's last token, issued the second before activation. It
	// lives longer than any real token, so that only the key's retirement
	// can refuse it.
	c := claimsAt(act.Add(-time.Second))
	c.ExpiresAt = act.Add(3 * time.Hour)
	last := mustSign(t, r, c)
	if kidOf(t, last) != oldKID {
		t.Fatal("the last token before activation was not signed by the old key")
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want error
	}{
		{"when issued", act.Add(-time.Second), nil},
		{"at activation", act, nil},
		{"a second before activation+retain", act.Add(retain - time.Second), nil},
		{"at activation+retain", act.Add(retain), token.ErrUnknownKey},
		{"an hour later", act.Add(retain + time.Hour), token.ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifierFor(r, tc.at).Verify(last)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Errorf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	r.Prune(act.Add(retain))
	if got := jwksKIDs(t, r); !slices.Equal(got, []string{p.ID}) {
		t.Errorf("after Prune at activation+retain JWKS has %v, want only %s", got, p.ID)
	}
}

func TestPruneKeepsSignerAndPendingKey(t *testing.T) {
	// k1 from t0; k2 immediately at t0+1h (k1 retires at t0+1h+retain);
	// k3 pending from t0+3h, activating at t0+3h05m.
	base, err := token.NewKeyRing(token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	k1 := activeKID(t, base)
	i2, err := base.Rotate(token.EdDSA, t0.Add(time.Hour), 0, retain)
	if err != nil {
		t.Fatal(err)
	}
	i3, err := base.Rotate(token.EdDSA, t0.Add(3*time.Hour), 5*time.Minute, retain)
	if err != nil {
		t.Fatal(err)
	}
	k2, k3, act := i2.ID, i3.ID, i3.ActivatesAt
	if !act.Equal(t0.Add(3*time.Hour + 5*time.Minute)) {
		t.Fatalf("k3 activates at %v", act)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want []string
	}{
		{"before k1 retires", t0.Add(2 * time.Hour), []string{k3, k2, k1}},
		{"k1 retired, k3 pending", t0.Add(3 * time.Hour), []string{k3, k2}},
		{"a nanosecond before activation", act.Add(-time.Nanosecond), []string{k3, k2}},
		{"at activation: k2 retiring", act, []string{k3, k2}},
		{"k2 retired", act.Add(retain), []string{k3}},
		{"long after", act.Add(1000 * time.Hour), []string{k3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := copyRing(t, base)
			r.Prune(tc.at)
			if got := kidsAt(r, tc.at); !slices.Equal(got, tc.want) {
				t.Errorf("after Prune keys %v, want %v (k1 %s, k2 %s, k3 %s)", got, tc.want, k1, k2, k3)
			}
			want := k2
			if !tc.at.Before(act) {
				want = k3
			}
			if got := signingKID(t, r, tc.at); got != want {
				t.Errorf("after Prune signed by %s, want %s", got, want)
			}
		})
	}
}

func TestRotateWhilePending(t *testing.T) {
	base, err := token.NewKeyRing(token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	signer := activeKID(t, base)
	rotatedAt := t0.Add(time.Hour)
	pend, err := base.Rotate(token.EdDSA, rotatedAt, 5*time.Minute, retain)
	if err != nil {
		t.Fatal(err)
	}
	later := rotatedAt.Add(time.Minute)
	for _, tc := range []struct {
		name  string
		at    time.Time
		ahead time.Duration
		// what the ring holds afterwards, "new" standing for the key
		// the rotation made
		want       []string
		wantActive string
		newPending bool
		// retirement of the key that signed at tc.at
		wantRetire time.Time
	}{
		{"scheduled again: the pending key stays", later, 5 * time.Minute, []string{pend.ID, signer}, signer, false, pend.ActivatesAt.Add(retain)},
		{"a shorter ahead does not bring it forward", later, time.Second, []string{pend.ID, signer}, signer, false, pend.ActivatesAt.Add(retain)},
		{"immediate: the pending key is dropped", later, 0, []string{"new", signer}, "new", false, later.Add(retain)},
		{"after activation: a new pending key", pend.ActivatesAt.Add(time.Second), 5 * time.Minute, []string{"new", pend.ID, signer}, pend.ID, true,
			pend.ActivatesAt.Add(time.Second + 5*time.Minute + retain)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := copyRing(t, base)
			got, err := r.Rotate(token.EdDSA, tc.at, tc.ahead, retain)
			if err != nil {
				t.Fatal(err)
			}
			name := func(kid string) string {
				if kid == pend.ID || kid == signer {
					return kid
				}
				return "new"
			}
			var names []string
			for _, k := range r.Keys(tc.at) {
				names = append(names, name(k.ID))
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("keys %v, want %v (pending %s, signer %s)", names, tc.want, pend.ID, signer)
			}
			if got.ID != r.Keys(tc.at)[0].ID || got.Pending != (tc.ahead > 0 && tc.at.Before(got.ActivatesAt)) {
				t.Errorf("Rotate returned %+v, want the newest key", got)
			}
			if tc.want[0] == pend.ID && !got.ActivatesAt.Equal(pend.ActivatesAt) {
				t.Errorf("activation moved from %v to %v", pend.ActivatesAt, got.ActivatesAt)
			}
			if got.Pending != tc.newPending && tc.want[0] == "new" {
				t.Errorf("new key pending = %v, want %v", got.Pending, tc.newPending)
			}
			if k := name(signingKID(t, r, tc.at)); k != tc.wantActive {
				t.Errorf("signs with %s, want %s", k, tc.wantActive)
			}
			if got := jwksKIDs(t, r); len(got) != len(tc.want) {
				t.Errorf("JWKS %v, want %d keys", got, len(tc.want))
			}
			for _, k := range r.Keys(tc.at) {
				if k.Active && tc.wantActive != "new" && !k.RetireAt.Equal(tc.wantRetire) {
					t.Errorf("active key retires at %v, want %v", k.RetireAt, tc.wantRetire)
				}
				if name(k.ID) == signer && tc.wantActive == "new" && !k.RetireAt.Equal(tc.wantRetire) {
					t.Errorf("previous signer retires at %v, want %v", k.RetireAt, tc.wantRetire)
				}
			}
		})
	}
}

// An immediate rotation (ahead 0) behaves as rotations did before keys
// had activation times: the new key signs at once, also a token issued
// earlier in the same second, and the old one retires at now+retain.
func TestImmediateRotationSignsAtOnce(t *testing.T) {
	for _, frac := range []time.Duration{0, 700 * time.Millisecond} {
		t.Run(frac.String(), func(t *testing.T) {
			r, err := token.NewKeyRing(token.ES256, t0)
			if err != nil {
				t.Fatal(err)
			}
			oldKID := activeKID(t, r)
			now := t0.Add(time.Hour + frac)
			k, err := r.Rotate(token.ES256, now, 0, retain)
			if err != nil {
				t.Fatal(err)
			}
			if !k.Active || k.Pending || !k.ActivatesAt.Equal(t0.Add(time.Hour)) {
				t.Fatalf("Rotate(ahead 0) = %+v, want active from %v", k, t0.Add(time.Hour))
			}
			for _, at := range []time.Time{now, now.Truncate(time.Second)} {
				if got := signingKID(t, r, at); got != k.ID {
					t.Errorf("token issued at %v signed by %s, want the new %s", at, got, k.ID)
				}
			}
			keys := r.Keys(now)
			if len(keys) != 2 || keys[1].ID != oldKID || keys[1].Active || !keys[1].RetireAt.Equal(now.Add(retain)) {
				t.Errorf("keys %+v, want the old key retiring at %v", keys, now.Add(retain))
			}
		})
	}
}

func TestNeedsRotation(t *testing.T) {
	const maxAge, ahead = 30 * 24 * time.Hour, 10 * time.Minute
	r, err := token.NewKeyRing(token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	due := t0.Add(maxAge - ahead)
	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"young signer", t0.Add(24 * time.Hour), false},
		{"a nanosecond before maxAge-ahead", due.Add(-time.Nanosecond), false},
		{"at maxAge-ahead", due, true},
		{"past maxAge", t0.Add(maxAge + time.Hour), true},
	} {
		if got := r.NeedsRotation(tc.at, maxAge, ahead); got != tc.want {
			t.Errorf("%s: NeedsRotation = %v, want %v", tc.name, got, tc.want)
		}
	}
	p, err := r.Rotate(token.EdDSA, due, ahead, retain)
	if err != nil {
		t.Fatal(err)
	}
	if !p.ActivatesAt.Equal(t0.Add(maxAge)) {
		t.Fatalf("successor activates at %v, want when the signer reaches maxAge %v", p.ActivatesAt, t0.Add(maxAge))
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want bool
	}{
		{"pending key published", due, false},
		{"long overdue but a key is pending", p.ActivatesAt.Add(-time.Nanosecond), false},
		{"successor just activated", p.ActivatesAt, false},
		{"successor at maxAge-ahead", p.ActivatesAt.Add(maxAge - ahead), true},
	} {
		if got := r.NeedsRotation(tc.at, maxAge, ahead); got != tc.want {
			t.Errorf("%s: NeedsRotation = %v, want %v", tc.name, got, tc.want)
		}
	}
	var empty token.KeyRing
	if !empty.NeedsRotation(t0, maxAge, ahead) {
		t.Error("a ring without keys does not need a key")
	}
}

// A rotation on a ring without keys has nothing to publish ahead of: its
// key signs at once.
func TestFirstKeySignsAtOnce(t *testing.T) {
	var r token.KeyRing
	k, err := r.Rotate(token.EdDSA, t0, time.Hour, retain)
	if err != nil {
		t.Fatal(err)
	}
	if !k.Active || k.Pending || signingKID(t, &r, t0) != k.ID {
		t.Errorf("first key %+v does not sign at once", k)
	}
}

// A rotation that names no algorithm makes a key of the ring's newest
// key's algorithm: the signer's, or the pending key's if one is published
// (an immediate rotation replacing it keeps what the operator chose). A
// ring with nothing to take the algorithm from, or whose keys are HMAC
// secrets, is refused and left as it was. RotateShared takes it from the
// stored ring, not from the caller's copy.
func TestRotateWithoutAlgorithmKeepsTheNewestKeys(t *testing.T) {
	for _, tc := range []struct {
		name    string
		ring    func(t *testing.T) *token.KeyRing
		ahead   time.Duration
		want    token.Algorithm
		wantErr error
	}{
		{"EdDSA signer", func(t *testing.T) *token.KeyRing { return freshRing(t, token.EdDSA) }, time.Minute, token.EdDSA, nil},
		{"ES256 signer", func(t *testing.T) *token.KeyRing { return freshRing(t, token.ES256) }, time.Minute, token.ES256, nil},
		{"RS256 signer, immediately", func(t *testing.T) *token.KeyRing { return freshRing(t, token.RS256) }, 0, token.RS256, nil},
		{"RS256 pending over an EdDSA signer, immediately", func(t *testing.T) *token.KeyRing {
			r := freshRing(t, token.EdDSA)
			if _, err := r.Rotate(token.RS256, t0, time.Hour, retain); err != nil {
				t.Fatal(err)
			}
			return r
		}, 0, token.RS256, nil},
		{"no keys", func(*testing.T) *token.KeyRing { return &token.KeyRing{} }, 0, "", token.ErrAlgorithm},
		{"HMAC", func(t *testing.T) *token.KeyRing {
			r, err := token.NewHMACKeyRing(hmacSecret, t0)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}, 0, "", token.ErrAlgorithm},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.ring(t)
			before := kidsAt(r, t0)
			k, err := r.Rotate("", t0.Add(time.Minute), tc.ahead, retain)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) || !slices.Equal(kidsAt(r, t0), before) {
					t.Fatalf("Rotate(\"\") = %+v, %v; want %v and the ring unchanged (%v, now %v)", k, err, tc.wantErr, before, kidsAt(r, t0))
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if k.Alg != tc.want || slices.Contains(before, k.ID) || r.Keys(t0.Add(time.Minute))[0].ID != k.ID {
				t.Fatalf("Rotate(\"\") = %+v; want a new %s key, newest in the ring (before: %v)", k, tc.want, before)
			}
		})
	}

	// Shared: another node rotated the stored ring to ES256; a node still
	// holding the EdDSA ring rotates without naming an algorithm.
	st := &mapStore{}
	a, err := token.LoadOrCreateKeyRing(context.Background(), st, master, token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := token.LoadOrCreateKeyRing(context.Background(), st, master, token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := token.RotateShared(context.Background(), st, a, master, token.ES256, t0.Add(time.Minute), 0, retain); err != nil {
		t.Fatal(err)
	}
	k, err := token.RotateShared(context.Background(), st, b, master, "", t0.Add(2*time.Minute), 0, retain)
	if err != nil {
		t.Fatal(err)
	}
	if k.Alg != token.ES256 {
		t.Fatalf("RotateShared(\"\") on a stored ES256 ring made a %s key from the caller's stale EdDSA copy", k.Alg)
	}
}

// freshRing is a new one-key ring of alg that no other test shares (the
// rings of ringFor are shared and must not be rotated).
func freshRing(t *testing.T, alg token.Algorithm) *token.KeyRing {
	t.Helper()
	r, err := token.NewKeyRing(alg, t0)
	if err != nil {
		t.Fatal(err)
	}
	return r
}
