package account

import (
	"runtime"
	"sync"
	"testing"
)

// Derivation records one argon2id computation: its parameters, not its
// inputs.
type Derivation struct {
	Time, Memory uint32
	Threads      uint8
	SaltLen      int
	KeyLen       uint32
}

// RecordDerivations makes every argon2id computation in this package
// record its parameters until the test ends, and returns a function that
// reports (and clears) what was recorded. Tests that use it must not run
// in parallel with others in this package.
func RecordDerivations(t *testing.T) func() []Derivation {
	var mu sync.Mutex
	var got []Derivation
	orig := deriveKey
	deriveKey = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		mu.Lock()
		got = append(got, Derivation{time, memory, threads, len(salt), keyLen})
		mu.Unlock()
		return orig(pw, salt, time, memory, threads, keyLen)
	}
	t.Cleanup(func() { deriveKey = orig })
	return func() []Derivation {
		mu.Lock()
		defer mu.Unlock()
		d := got
		got = nil
		return d
	}
}

// ParsePHC exposes the PHC parser to the fuzz target.
func ParsePHC(phc string) (Params, []byte, []byte, error) { return parsePHC(phc) }

// FormatPHC exposes the PHC formatter to the fuzz target.
func FormatPHC(p Params, salt, key []byte) string { return formatPHC(p, salt, key) }

// MaxInFlight makes every argon2id computation in this package count how
// many run at once until the test ends, and returns a function that
// reports the highest count seen.
func MaxInFlight(t *testing.T) func() int {
	var mu sync.Mutex
	var cur, highest int
	orig := deriveKey
	deriveKey = func(pw, salt []byte, time, memory uint32, threads uint8, keyLen uint32) []byte {
		mu.Lock()
		cur++
		highest = max(highest, cur)
		mu.Unlock()
		defer func() { mu.Lock(); cur--; mu.Unlock() }()
		runtime.Gosched() // give other callers a chance to overlap
		return orig(pw, salt, time, memory, threads, keyLen)
	}
	t.Cleanup(func() { deriveKey = orig })
	return func() int { mu.Lock(); defer mu.Unlock(); return highest }
}

// ParseCursor exposes the cursor parser to the fuzz target.
func ParseCursor(s string) (string, error) { return parseCursor(s) }

// EncodeCursor exposes the cursor encoder to the tests.
func EncodeCursor(email string) string { return encodeCursor(email) }
