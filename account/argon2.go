package account

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Params are argon2id parameters (RFC 9106).
type Params struct {
	Memory  uint32 // memory in KiB
	Time    uint32 // passes over the memory
	Threads uint8  // degree of parallelism (lanes)
	SaltLen uint32 // salt length in bytes
	KeyLen  uint32 // derived key (hash) length in bytes
}

// DefaultParams is the second recommended option of RFC 9106 section 4:
// argon2id with 64 MiB of memory, 3 passes and 4 lanes, a 128-bit salt and
// a 256-bit hash. The first recommended option (2 GiB) is too heavy for a
// login endpoint on ordinary servers; this one is also above OWASP's
// minimum (19 MiB, t=2, p=1). BenchmarkHashPassword reports its cost.
var DefaultParams = Params{Memory: 64 * 1024, Time: 3, Threads: 4, SaltLen: 16, KeyLen: 32}

// Bounds on Params, enforced both when hashing and when parsing a stored
// hash, so that a tampered hash in the store cannot make a login allocate
// gigabytes or spin for minutes, and a truncated one cannot be trivially
// weak.
const (
	MaxMemory  = 1 << 20 // KiB: 1 GiB
	MaxTime    = 16
	MaxThreads = 64
	MinSaltLen = 8 // RFC 9106 section 3.1: at least 8 bytes
	MaxSaltLen = 64
	MinKeyLen  = 16
	MaxKeyLen  = 64
)

// Validate reports whether p is within the bounds above (and the argon2
// rule that memory is at least 8 KiB per lane). Errors wrap
// ErrInvalidParams.
func (p Params) Validate() error {
	switch {
	case p.Time < 1 || p.Time > MaxTime:
		return fmt.Errorf("%w: time %d not in 1..%d", ErrInvalidParams, p.Time, MaxTime)
	case p.Threads < 1 || p.Threads > MaxThreads:
		return fmt.Errorf("%w: threads %d not in 1..%d", ErrInvalidParams, p.Threads, MaxThreads)
	case p.Memory < 8*uint32(p.Threads) || p.Memory > MaxMemory:
		return fmt.Errorf("%w: memory %d KiB not in %d..%d", ErrInvalidParams, p.Memory, 8*uint32(p.Threads), MaxMemory)
	case p.SaltLen < MinSaltLen || p.SaltLen > MaxSaltLen:
		return fmt.Errorf("%w: salt length %d not in %d..%d", ErrInvalidParams, p.SaltLen, MinSaltLen, MaxSaltLen)
	case p.KeyLen < MinKeyLen || p.KeyLen > MaxKeyLen:
		return fmt.Errorf("%w: key length %d not in %d..%d", ErrInvalidParams, p.KeyLen, MinKeyLen, MaxKeyLen)
	}
	return nil
}

// deriveKey is argon2.IDKey; a variable only so that export_test.go can
// count calls (to prove the unknown-user path does the same work).
var deriveKey = argon2.IDKey

// b64 is the PHC string format's base64: standard alphabet, no padding.
// Strict so that each hash has exactly one accepted encoding.
var b64 = base64.RawStdEncoding.Strict()

// HashPassword hashes pw with argon2id under p and a fresh random salt and
// returns the PHC string
//
//	$argon2id$v=19$m=65536,t=3,p=4$<base64 salt>$<base64 hash>
//
// It does not apply the password rules (see ValidatePassword); it refuses
// Params outside the bounds (ErrInvalidParams).
func HashPassword(pw string, p Params) (string, error) {
	if err := p.Validate(); err != nil {
		return "", err
	}
	salt := make([]byte, p.SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("account: reading random salt: %w", err)
	}
	key := deriveKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return formatPHC(p, salt, key), nil
}

func formatPHC(p Params, salt, key []byte) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s",
		argon2.Version, p.Memory, p.Time, p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// CheckPassword reports whether pw matches the PHC argon2id hash phc,
// comparing in constant time. The parameters are those in the hash (so
// hashes made under older Params keep working); a hash that is malformed,
// of another algorithm or version, or whose parameters are outside the
// bounds of Params.Validate is refused with an error wrapping
// ErrInvalidHash before any work is done.
func CheckPassword(phc, pw string) (bool, error) {
	p, salt, want, err := parsePHC(phc)
	if err != nil {
		return false, err
	}
	got := deriveKey([]byte(pw), salt, p.Time, p.Memory, p.Threads, p.KeyLen)
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}

// parsePHC parses exactly the form formatPHC writes: fixed field order,
// canonical decimal numbers, strict unpadded base64. Hand-written because
// x/crypto/argon2 has no PHC codec, and the format is small enough that a
// strict parser is easier to trust than a general one.
func parsePHC(phc string) (Params, []byte, []byte, error) {
	var p Params
	fields := strings.Split(phc, "$")
	if len(fields) != 6 || fields[0] != "" {
		return p, nil, nil, fmt.Errorf("%w: not a PHC string", ErrInvalidHash)
	}
	if fields[1] != "argon2id" {
		return p, nil, nil, fmt.Errorf("%w: algorithm %q is not argon2id", ErrInvalidHash, fields[1])
	}
	if fields[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, fmt.Errorf("%w: unsupported version %q", ErrInvalidHash, fields[2])
	}
	kv := strings.Split(fields[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, fmt.Errorf("%w: want parameters m,t,p", ErrInvalidHash)
	}
	m, err := phcNumber(kv[0], "m=", MaxMemory)
	if err != nil {
		return p, nil, nil, err
	}
	t, err := phcNumber(kv[1], "t=", MaxTime)
	if err != nil {
		return p, nil, nil, err
	}
	threads, err := phcNumber(kv[2], "p=", MaxThreads)
	if err != nil {
		return p, nil, nil, err
	}
	salt, err := b64.DecodeString(fields[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: salt: %w", ErrInvalidHash, err)
	}
	key, err := b64.DecodeString(fields[5])
	if err != nil {
		return p, nil, nil, fmt.Errorf("%w: hash: %w", ErrInvalidHash, err)
	}
	p = Params{Memory: m, Time: t, Threads: uint8(threads), SaltLen: uint32(len(salt)), KeyLen: uint32(len(key))}
	if err := p.Validate(); err != nil {
		return Params{}, nil, nil, fmt.Errorf("%w: %w", ErrInvalidHash, err)
	}
	// encoding/base64 skips '\r' and '\n' even when strict, so a field can
	// decode from several spellings. One hash has one accepted spelling:
	// the one formatPHC writes.
	if formatPHC(p, salt, key) != phc {
		return Params{}, nil, nil, fmt.Errorf("%w: not in canonical form", ErrInvalidHash)
	}
	return p, salt, key, nil
}

// phcNumber parses "<prefix><decimal>" with no sign, no leading zero and a
// value of at most limit.
func phcNumber(s, prefix string, limit uint32) (uint32, error) {
	digits, ok := strings.CutPrefix(s, prefix)
	if !ok {
		return 0, fmt.Errorf("%w: want parameter %q", ErrInvalidHash, prefix)
	}
	if digits == "" || len(digits) > 10 || (digits[0] == '0' && len(digits) > 1) {
		return 0, fmt.Errorf("%w: bad number in %q", ErrInvalidHash, s)
	}
	for i := 0; i < len(digits); i++ {
		if digits[i] < '0' || digits[i] > '9' {
			return 0, fmt.Errorf("%w: bad number in %q", ErrInvalidHash, s)
		}
	}
	n, err := strconv.ParseUint(digits, 10, 32)
	if err != nil || n > uint64(limit) {
		return 0, fmt.Errorf("%w: %q out of range (max %d)", ErrInvalidHash, s, limit)
	}
	return uint32(n), nil
}
