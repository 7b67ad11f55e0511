package testenv_test

import (
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/testenv"
)

// echo starts a TCP echo server and returns its address.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); io.Copy(c, c) }()
		}
	}()
	return ln.Addr().String()
}

// roundTrip writes b and reads it back within wait, or says why not.
func roundTrip(c net.Conn, b string, wait time.Duration) error {
	c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(b)); err != nil {
		return err
	}
	got := make([]byte, len(b))
	if _, err := io.ReadFull(c, got); err != nil {
		return err
	}
	if string(got) != b {
		return errors.New("echo garbled: " + string(got))
	}
	return nil
}

// Stall keeps a connection open and silent, Resume delivers what waited,
// a connection made during a stall gets through, Drop closes.
func TestProxy(t *testing.T) {
	p := testenv.NewProxy(t, echo(t))
	dial := func() net.Conn {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	old := dial()
	if err := roundTrip(old, "hello", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Stall()
	if err := roundTrip(old, "lost?", 200*time.Millisecond); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("a stalled connection answered: %v", err)
	}
	fresh := dial()
	if err := roundTrip(fresh, "new flow", 5*time.Second); err != nil {
		t.Fatalf("a connection made during the stall: %v", err)
	}
	p.Resume()
	got := make([]byte, len("lost?"))
	old.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(old, got); err != nil || string(got) != "lost?" {
		t.Fatalf("after Resume: %q, %v", got, err)
	}
	p.Drop()
	old.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := old.Read(got); err == nil {
		t.Fatal("a dropped connection still reads")
	}
}
