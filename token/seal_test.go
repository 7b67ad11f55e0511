package token_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"testing"
	"time"

	"github.com/sessiond/sessiond/token"
)

// A ring sealed by the code before keys had activation times (see
// testdata/legacy-ring/README.md) still opens: its keys are active from
// their creation, the first one signs, and tokens signed then verify.
func TestOpenRingSealedBeforeActivationTimes(t *testing.T) {
	blob, err := os.ReadFile("testdata/legacy-ring/ring.sealed")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile("testdata/legacy-ring/ring.json")
	if err != nil {
		t.Fatal(err)
	}
	var legacy struct {
		MasterHex string `json:"master_hex"`
		Keys      []struct {
			ID       string          `json:"kid"`
			Alg      token.Algorithm `json:"alg"`
			Created  time.Time       `json:"created"`
			Active   bool            `json:"active"`
			RetireAt time.Time       `json:"retire_at"`
		} `json:"keys"`
		Tokens map[string]string `json:"tokens"`
	}
	if err := json.Unmarshal(raw, &legacy); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, []byte(`"activates"`)) || !bytes.HasPrefix(blob, []byte("SDKR\x01")) {
		t.Fatal("testdata is not a version-1 blob sealed before activation times")
	}
	master, err := hex.DecodeString(legacy.MasterHex)
	if err != nil {
		t.Fatal(err)
	}
	r, err := token.OpenKeyRing(blob, master)
	if err != nil {
		t.Fatalf("OpenKeyRing(legacy blob): %v", err)
	}
	now := t0.Add(2 * time.Minute) // after the legacy rotation at t0+1m
	keys := r.Keys(now)
	if len(keys) != len(legacy.Keys) || len(keys) != 2 {
		t.Fatalf("keys %+v, want %+v", keys, legacy.Keys)
	}
	for i, want := range legacy.Keys {
		got := keys[i]
		if got.ID != want.ID || got.Alg != want.Alg || got.Active != want.Active || got.Pending ||
			!got.CreatedAt.Equal(want.Created) || !got.ActivatesAt.Equal(want.Created) || !got.RetireAt.Equal(want.RetireAt) {
			t.Errorf("key %d = %+v, want %+v active from its creation", i, got, want)
		}
	}
	v := verifierFor(r, now)
	for name, tok := range legacy.Tokens {
		if _, err := v.Verify(tok); err != nil {
			t.Errorf("%s token signed by the old code: %v", name, err)
		}
	}
	if got := signingKID(t, r, now); got != legacy.Keys[0].ID {
		t.Errorf("signs with %s, want the first key %s", got, legacy.Keys[0].ID)
	}
	// Sealed again, the ring carries the activation times and stays the same.
	again, err := r.Seal(master)
	if err != nil {
		t.Fatal(err)
	}
	reopened, err := token.OpenKeyRing(again, master)
	if err != nil {
		t.Fatal(err)
	}
	if got := reopened.Keys(now); !sameKeys(got, keys) {
		t.Errorf("resealed legacy ring: %+v, want %+v", got, keys)
	}
	// And it rotates like any ring: the first key's age counts from its
	// creation.
	if r.NeedsRotation(now, time.Hour, time.Minute) || !r.NeedsRotation(legacy.Keys[0].Created.Add(59*time.Minute), time.Hour, time.Minute) {
		t.Error("NeedsRotation does not count a legacy key's age from its creation")
	}
}

// sameKeys reports whether two key listings agree in every field.
func sameKeys(a, b []token.KeyInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.ID != y.ID || x.Alg != y.Alg || x.Active != y.Active || x.Pending != y.Pending ||
			!x.CreatedAt.Equal(y.CreatedAt) || !x.ActivatesAt.Equal(y.ActivatesAt) || !x.RetireAt.Equal(y.RetireAt) {
			return false
		}
	}
	return true
}

// A pending key survives Seal and Open: the opened ring publishes it,
// does not sign with it before its activation, and does from then on.
func TestSealKeepsPendingKey(t *testing.T) {
	r, err := token.NewKeyRing(token.EdDSA, t0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := r.Rotate(token.ES256, t0.Add(time.Hour), 10*time.Minute, retain)
	if err != nil {
		t.Fatal(err)
	}
	opened := copyRing(t, r)
	for _, at := range []time.Time{t0.Add(time.Hour), p.ActivatesAt.Add(-time.Nanosecond), p.ActivatesAt, p.ActivatesAt.Add(retain)} {
		if got, want := opened.Keys(at), r.Keys(at); !sameKeys(got, want) {
			t.Errorf("at %v opened %+v, want %+v", at, got, want)
		}
		if got, want := signingKID(t, opened, at), signingKID(t, r, at); got != want {
			t.Errorf("at %v opened ring signs with %s, original with %s", at, got, want)
		}
	}
}
