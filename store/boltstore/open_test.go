package boltstore_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sessiond/sessiond/session"
	"github.com/sessiond/sessiond/session/sessiontest"
	"github.com/sessiond/sessiond/store/boltstore"
)

func TestSecondOpenFails(t *testing.T) {
	dir := t.TempDir()
	open(t, dir)
	s, err := boltstore.Open(dir, boltstore.WithLockTimeout(50*time.Millisecond))
	if err == nil {
		s.Close()
		t.Fatal("second Open of the same directory succeeded")
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if want := "data directory is in use by another sessiond"; !bytes.Contains([]byte(err.Error()), []byte(want)) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

func TestFileModes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data", "nested")
	open(t, dir)
	tests := []struct {
		path string
		want os.FileMode
	}{
		{dir, 0o700},
		{filepath.Join(dir, boltstore.FileName), 0o600},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Fatalf("mode %v, want %v", got, tt.want)
			}
		})
	}
}

func TestOpenTightensFileMode(t *testing.T) {
	dir := t.TempDir()
	s := open(t, dir)
	s.Close()
	path := filepath.Join(dir, boltstore.FileName)
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	open(t, dir)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Fatalf("mode after reopen %v, want 0600", got)
	}
}

func TestOpenNotADatabase(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, boltstore.FileName), bytes.Repeat([]byte("junk"), 4096), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := boltstore.Open(dir)
	if err == nil {
		s.Close()
		t.Fatal("Open of a junk file succeeded")
	}
	if !errors.Is(err, session.ErrStore) {
		t.Fatalf("Open of a junk file = %v, want ErrStore", err)
	}
}

func TestClosedStoreFailsClosed(t *testing.T) {
	ctx := t.Context()
	s, err := boltstore.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := s.Get(ctx, "x"); !errors.Is(err, session.ErrStore) {
		t.Fatalf("Get on a closed store = %v, want ErrStore", err)
	}
	if err := s.Create(ctx, sessiontest.NewRecord("u", 0)); !errors.Is(err, session.ErrStore) {
		t.Fatalf("Create on a closed store = %v, want ErrStore", err)
	}
}
