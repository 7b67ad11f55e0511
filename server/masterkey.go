package server

import (
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyFile is the name of the generated master key in the data directory.
const MasterKeyFile = "master.key"

// LoadMasterKey returns the 32-byte master key that seals the key ring and
// from which every other server secret is derived. env is the value of
// SESSIOND_MASTER_KEY (base64 of 32 bytes). Without it, the embedded store
// keeps a generated key in dataDir/master.key (mode 0600) and a warning is
// logged that production should pass SESSIOND_MASTER_KEY; the memory store
// gets a random key for the life of the process; shared stores require it.
func LoadMasterKey(env string, kind StoreKind, dataDir string, log *slog.Logger) ([]byte, error) {
	if env != "" {
		return parseMasterKey(strings.TrimSpace(env))
	}
	switch kind {
	case KindMemory:
		k := make([]byte, 32)
		_, _ = rand.Read(k)
		return k, nil
	case KindBolt:
	default:
		return nil, errors.New("master key: SESSIOND_MASTER_KEY is required with a shared store (every node needs the same key)")
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		info, err := os.Stat(path)
		if err == nil && info.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("master key: %s is readable by others (mode %v); chmod 600 it", path, info.Mode().Perm())
		}
		return parseMasterKey(strings.TrimSpace(string(b)))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("master key: %w", err)
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k)
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("master key: %w", err)
	}
	_, werr := f.WriteString(base64.StdEncoding.EncodeToString(k) + "\n")
	serr := f.Sync()
	if cerr := f.Close(); werr == nil && serr == nil {
		werr = cerr
	}
	if werr != nil || serr != nil {
		return nil, fmt.Errorf("master key: write %s: %w", path, errors.Join(werr, serr))
	}
	log.Warn("generated a master key in the data directory; in production pass SESSIOND_MASTER_KEY (base64 of 32 random bytes) and keep it out of the data directory", "path", path)
	return k, nil
}

func parseMasterKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("master key: want 32 bytes, got %d", len(k))
			}
			return k, nil
		}
	}
	return nil, errors.New("master key: not base64 (generate one with: head -c32 /dev/urandom | base64)")
}

// deriveKey derives a purpose-bound 32-byte key from the master key, so
// no two uses share a key.
func deriveKey(master []byte, purpose string) []byte {
	k, err := hkdf.Key(sha256.New, master, nil, "sessiond/v1/"+purpose, 32)
	if err != nil {
		panic(err) // only for lengths hkdf cannot produce; 32 is fine
	}
	return k
}
