package audit

import (
	"io"
	"sync"
)

// DefaultAsyncSize is the queue bound of NewAsyncWriter when size <= 0: 1 MiB, some
// thousands of lines.
const DefaultAsyncSize = 1 << 20

// AsyncWriter takes the writing of log lines off the request path: it
// queues what it is given in a bounded buffer and a goroutine of its
// own writes the queue out, everything queued in one write.
//
// A refresh logs one audit line; written straight to stderr, each costs a
// write(2) on the request's goroutine. Through an AsyncWriter the request only
// copies its line into the queue, and under load the lines of many
// requests leave in one system call. Nothing is dropped: a Write that
// finds the queue full waits until the goroutine has taken it (back
// pressure, as a slow stderr gave before), and Close writes out whatever
// is queued. The goroutine starts writing as soon as a line is queued,
// with no timer, so a line waits only for the write before it: a process
// that is killed (kill -9) loses at most the lines of that moment, which
// a synchronous write would have put in the kernel already.
//
// It is safe for concurrent use; each Write is kept whole and in order
// (the lines of a slog handler stay lines).
type AsyncWriter struct {
	w    io.Writer
	size int

	mu     sync.Mutex
	space  *sync.Cond // signalled when the goroutine has taken the queue
	queue  []byte
	spare  []byte
	wake   chan struct{} // capacity 1: something is queued
	closed bool
	done   chan struct{} // closed when the goroutine has stopped
	err    error         // the first error of w
}

// NewAsyncWriter returns an AsyncWriter writing to w, queueing at most size bytes
// (DefaultAsyncSize when size <= 0) before a Write waits. Close it to write
// out the queue and stop its goroutine.
func NewAsyncWriter(w io.Writer, size int) *AsyncWriter {
	if size <= 0 {
		size = DefaultAsyncSize
	}
	a := &AsyncWriter{w: w, size: size, wake: make(chan struct{}, 1), done: make(chan struct{})}
	a.space = sync.NewCond(&a.mu)
	go a.run()
	return a
}

// Write queues a copy of p and returns at once, unless the queue is full:
// then it waits until the goroutine has taken the queue. A p larger than
// the bound is queued alone. After Close, Write writes to w itself. It
// reports the first error of the underlying writer, if any, but queues p
// all the same.
func (a *AsyncWriter) Write(p []byte) (int, error) {
	a.mu.Lock()
	for !a.closed && len(a.queue) > 0 && len(a.queue)+len(p) > a.size {
		a.space.Wait()
	}
	if a.closed {
		a.mu.Unlock()
		<-a.done // the queue is out: p comes after it
		return a.w.Write(p)
	}
	a.queue = append(a.queue, p...)
	err := a.err
	select {
	case a.wake <- struct{}{}: // under mu: Close closes wake under mu
	default: // the goroutine is told already
	}
	a.mu.Unlock()
	return len(p), err
}

// run writes the queue out whenever there is one, until Close.
func (a *AsyncWriter) run() {
	defer close(a.done)
	for range a.wake {
		a.mu.Lock()
		batch := a.queue
		a.queue, a.spare = a.spare[:0], nil
		closed := a.closed // then nothing more is queued: batch is the last
		a.space.Broadcast()
		a.mu.Unlock()
		if len(batch) > 0 {
			_, err := a.w.Write(batch)
			a.mu.Lock()
			if err != nil && a.err == nil {
				a.err = err
			}
			if cap(batch) <= 2*a.size { // keep one buffer for the next queue
				a.spare = batch[:0]
			}
			a.mu.Unlock()
		}
		if closed {
			return
		}
	}
}

// Close writes out what is queued, stops the goroutine and returns the
// first error the underlying writer gave, if any. Later Writes go to the
// underlying writer directly. Close is safe to call more than once.
func (a *AsyncWriter) Close() error {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		select {
		case a.wake <- struct{}{}: // one last round takes the queue
		default:
		}
		close(a.wake)
	}
	a.space.Broadcast()
	a.mu.Unlock()
	<-a.done
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.err
}
