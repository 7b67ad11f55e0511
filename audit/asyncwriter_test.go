package audit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// gate is a writer that holds every Write until it is let through, and
// keeps what it was given.
type gate struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	open   chan struct{} // closed: writes pass
	in     chan struct{} // a Write has started
	err    error
}

func newGate(open bool) *gate {
	g := &gate{open: make(chan struct{}), in: make(chan struct{}, 100)}
	if open {
		close(g.open)
	}
	return g
}

func (g *gate) Write(p []byte) (int, error) {
	select {
	case g.in <- struct{}{}:
	default:
	}
	<-g.open
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	g.buf.Write(p)
	return len(p), g.err
}

func (g *gate) String() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String()
}

// TestEveryLineInOrder: lines written from many goroutines all arrive,
// each whole, and the lines of one goroutine in the order written, on
// Close at the latest.
func TestEveryLineInOrder(t *testing.T) {
	for _, size := range []int{0, 64, 1000} {
		t.Run(fmt.Sprint("size=", size), func(t *testing.T) {
			g := newGate(true)
			w := NewAsyncWriter(g, size)
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					for j := range 200 {
						if _, err := fmt.Fprintf(w, "g%d line %04d\n", i, j); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			next := map[string]int{}
			lines := strings.Split(strings.TrimSuffix(g.String(), "\n"), "\n")
			if len(lines) != 8*200 {
				t.Fatalf("%d lines arrived, want %d", len(lines), 8*200)
			}
			for _, l := range lines {
				var gid string
				var n int
				if _, err := fmt.Sscanf(l, "%s line %d", &gid, &n); err != nil {
					t.Fatalf("line %q is not whole: %v", l, err)
				}
				if n != next[gid] {
					t.Fatalf("%s: line %d arrived where %d was due", gid, n, next[gid])
				}
				next[gid]++
			}
		})
	}
}

// TestBatches: lines queued while a write is under way leave together in
// the next write, not one system call each.
func TestBatches(t *testing.T) {
	g := newGate(false)
	w := NewAsyncWriter(g, 0)
	fmt.Fprintln(w, "first")
	<-g.in // the goroutine is in the first write, held
	for i := range 100 {
		fmt.Fprintln(w, "queued", i)
	}
	close(g.open)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if g.writes != 2 {
		t.Fatalf("%d writes for 101 lines, want 2 (the first, then the 100 queued behind it)", g.writes)
	}
	if !strings.HasPrefix(g.String(), "first\nqueued 0\n") || !strings.HasSuffix(g.String(), "queued 99\n") {
		t.Fatalf("wrote %q", g.String())
	}
}

// TestFullQueueWaits: a Write that would pass the bound waits until the
// goroutine takes the queue, and then goes through: nothing is dropped.
func TestFullQueueWaits(t *testing.T) {
	g := newGate(false)
	w := NewAsyncWriter(g, 10)
	w.Write([]byte("0123456789")) // taken by the goroutine, which holds in the gate
	<-g.in
	w.Write([]byte("abcdefghij")) // fills the queue
	wrote := make(chan struct{})
	go func() {
		w.Write([]byte("KLMNO")) // over the bound: waits
		close(wrote)
	}()
	select {
	case <-wrote:
		t.Fatal("a Write past the bound returned while the queue was full")
	case <-time.After(50 * time.Millisecond):
	}
	close(g.open)
	<-wrote
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if got := g.String(); got != "0123456789abcdefghijKLMNO" {
		t.Fatalf("wrote %q", got)
	}
}

// TestOversizedLine: a line larger than the whole bound is written too.
func TestOversizedLine(t *testing.T) {
	g := newGate(true)
	w := NewAsyncWriter(g, 4)
	w.Write([]byte("ab"))
	w.Write([]byte("a line far longer than the bound\n"))
	w.Close()
	if got := g.String(); got != "aba line far longer than the bound\n" {
		t.Fatalf("wrote %q", got)
	}
}

// TestAfterClose: Close writes out the queue; later writes go straight
// through; Close again is harmless; the underlying writer's error is told.
func TestAfterClose(t *testing.T) {
	g := newGate(true)
	g.err = errors.New("disk full")
	w := NewAsyncWriter(g, 0)
	w.Write([]byte("before\n"))
	if err := w.Close(); err == nil || err.Error() != "disk full" {
		t.Fatalf("Close = %v, want the writer's error", err)
	}
	if _, err := w.Write([]byte("after\n")); err == nil {
		t.Fatal("a Write after Close hid the writer's error")
	}
	if err := w.Close(); err == nil {
		t.Fatal("a second Close forgot the error")
	}
	if got := g.String(); got != "before\nafter\n" {
		t.Fatalf("wrote %q", got)
	}
}

// BenchmarkAsyncWriter is the cost to the caller of one audit-sized JSON
// line written to a file through slog, straight ("sync") and through an
// AsyncWriter ("async"), from 8 goroutines per GOMAXPROCS at once; cpu-µs/op is the
// process's CPU per line, the writing goroutine's included.
func BenchmarkAsyncWriter(b *testing.B) {
	line := []byte(`{"time":"2026-12-02T07:41:38.819741007Z","level":"INFO","msg":"audit","event":"refresh","session":"VeNJ_l-B13X6aIm6","user":"DrBrP8-dpbfcR4aloRQCqw","ip":"127.0.0.1","reason":"rotated"}` + "\n")
	for _, tc := range []struct {
		name  string
		async bool
	}{{"sync", false}, {"async", true}} {
		b.Run(tc.name, func(b *testing.B) {
			f, err := os.CreateTemp(b.TempDir(), "log")
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			var w io.Writer = f
			var aw *AsyncWriter
			if tc.async {
				aw = NewAsyncWriter(f, 0)
				w = aw
			}
			var mu sync.Mutex // as slog's handler holds one around each write
			b.SetParallelism(8)
			start := processCPU(b)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					mu.Lock()
					w.Write(line)
					mu.Unlock()
				}
			})
			if aw != nil {
				aw.Close()
			}
			b.ReportMetric(float64((processCPU(b)-start).Nanoseconds())/1000/float64(b.N), "cpu-µs/op")
		})
	}
}

func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
