package boltstore

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"path/filepath"

	"go.etcd.io/bbolt"
)

var bucketProbe = []byte("probe")

// Probe checks that writes work (for /readyz). It writes a page of random
// bytes to a temporary file beside the database and fsyncs it, which
// fails with ENOSPC on a full disk even while bbolt still has free pages
// inside its file to reuse, then writes a probe key in a write
// transaction (bucket "probe") and reads it back. An error wraps the
// cause: errors.Is(err, syscall.ENOSPC) when the disk is full.
func (s *Store) Probe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return fail("probe", err)
	}
	if err := probeFile(filepath.Dir(s.db.Path())); err != nil {
		return fail("probe: write a file beside the database", err)
	}
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketProbe)
		if err != nil {
			return err
		}
		return b.Put([]byte("probe"), []byte(rand.Text()))
	})
	if err != nil {
		return fail("probe: write", err)
	}
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		// Another probe may have written since; any value shows the
		// write landed, but an empty bucket does not.
		if b := tx.Bucket(bucketProbe); b == nil || b.Get([]byte("probe")) == nil {
			return errors.New("the probe key is missing")
		}
		return nil
	})
	if err != nil {
		return fail("probe: read back", err)
	}
	return nil
}

func probeFile(dir string) (err error) {
	f, err := os.CreateTemp(dir, ".probe-*")
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		os.Remove(f.Name())
	}()
	if _, err := f.Write(bytes.Repeat([]byte{0xa5}, 4096)); err != nil {
		return err
	}
	return f.Sync()
}
