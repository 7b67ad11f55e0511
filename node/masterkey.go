package node

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/sessiond/sessiond/token"
)

// MasterKeyFile is the name of the generated master key in the data directory.
const MasterKeyFile = "master.key"

// masterKey returns the 32-byte master key of a node without one given:
// a store that keeps nothing (memory) gets a random key for the life of the
// process; a store with a data directory keeps a generated key in
// dataDir/master.key (mode 0600), and a warning is logged that production
// should pass SESSIOND_MASTER_KEY. Open has already refused a shared store
// without a key (every node needs the same one).
func masterKey(d Driver, url string, log *slog.Logger) ([]byte, error) {
	dataDir := ""
	if d.DataDir != nil {
		dataDir = d.DataDir(url)
	}
	if dataDir == "" {
		return randomKey(), nil
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	b, err := os.ReadFile(path)
	if err == nil {
		info, err := os.Stat(path)
		if err == nil && info.Mode().Perm()&0o077 != 0 {
			return nil, fmt.Errorf("master key: %s is readable by others (mode %v); chmod 600 it", path, info.Mode().Perm())
		}
		return ParseMasterKey(string(b))
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("master key: %w", err)
	}
	k := randomKey()
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

// ParseMasterKey decodes a master key given as base64 (standard or URL
// alphabet, padded or not) of exactly 32 bytes, as SESSIOND_MASTER_KEY
// holds it, and refuses one that is obviously not random (see
// token.CheckSecret: all zero, one byte repeated). Its error wraps
// ErrConfig and never quotes the key.
func ParseMasterKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if k, err := enc.DecodeString(s); err == nil {
			if len(k) != 32 {
				return nil, fmt.Errorf("%w: master key: want 32 bytes, got %d", ErrConfig, len(k))
			}
			if err := token.CheckSecret(k); err != nil {
				return nil, fmt.Errorf("%w: master key: %w", ErrConfig, err)
			}
			return k, nil
		}
	}
	return nil, fmt.Errorf("%w: master key: not base64 (generate one with: head -c32 /dev/urandom | base64)", ErrConfig)
}

// DeriveKey derives a purpose-bound 32-byte key from the master key
// (HKDF-SHA256, info "sessiond/v1/"+purpose), so no two uses share a key.
// The purposes in use: "keyring", "refresh", "audit-hash", "csrf". It is
// token.DeriveKey, which a Go program uses to derive the same keys.
func DeriveKey(master []byte, purpose string) []byte { return token.DeriveKey(master, purpose) }
