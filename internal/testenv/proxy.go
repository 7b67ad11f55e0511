package testenv

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
)

// Proxy is a TCP proxy in front of a server, for tests of what a client
// does when its link to the server goes silent without closing (a
// blackholed link, a firewall or NAT that dropped the flow) or breaks.
// Point the client at Addr. All methods are safe for concurrent use; the
// proxy closes, with every connection, when the test ends.
type Proxy struct {
	target string
	ln     net.Listener
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  map[*proxyConn]struct{}
	closed bool
}

// proxyConn is one client connection and its connection to the target.
type proxyConn struct {
	client, server net.Conn

	mu      sync.Mutex
	cond    *sync.Cond
	stalled bool
	dropped bool
}

// NewProxy listens on a loopback port and forwards every connection to
// target (host:port).
func NewProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: proxy: %v", err)
	}
	p := &Proxy{target: target, ln: ln, conns: make(map[*proxyConn]struct{})}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// Addr is the proxy's address (host:port).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Stall stops forwarding on every connection open now, both ways, and
// keeps them open: bytes either side sends wait (in the proxy and in the
// kernel's buffers) and arrive only after Resume, if ever, as on a link
// whose packets are dropped. Connections made after Stall are forwarded
// as usual, as a new flow over a repaired route would be.
func (p *Proxy) Stall() {
	for _, c := range p.snapshot() {
		c.mu.Lock()
		c.stalled = true
		c.mu.Unlock()
	}
}

// Resume forwards again on every stalled connection, what waited first.
func (p *Proxy) Resume() {
	for _, c := range p.snapshot() {
		c.mu.Lock()
		c.stalled = false
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// Drop closes every connection open now, both sides.
func (p *Proxy) Drop() {
	for _, c := range p.snapshot() {
		c.drop()
	}
}

func (p *Proxy) snapshot() []*proxyConn {
	p.mu.Lock()
	defer p.mu.Unlock()
	cs := make([]*proxyConn, 0, len(p.conns))
	for c := range p.conns {
		cs = append(cs, c)
	}
	return cs
}

func (p *Proxy) accept() {
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		server, err := net.Dial("tcp", p.target)
		if err != nil {
			client.Close()
			continue
		}
		c := &proxyConn{client: client, server: server}
		c.cond = sync.NewCond(&c.mu)
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			c.drop()
			return
		}
		p.conns[c] = struct{}{}
		p.mu.Unlock()
		var both sync.WaitGroup
		both.Go(func() { c.pipe(c.server, c.client) })
		both.Go(func() { c.pipe(c.client, c.server) })
		p.wg.Go(func() {
			both.Wait()
			c.drop()
			p.mu.Lock()
			delete(p.conns, c)
			p.mu.Unlock()
		})
	}
}

// pipe copies src to dst, holding what it read while the connection is
// stalled, until either side closes or the connection is dropped.
func (c *proxyConn) pipe(dst, src net.Conn) {
	defer c.drop() // one side closed: close both, as a TCP proxy does
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !c.wait() {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				c.wait() // a close, too, waits out a stall
			}
			return
		}
	}
}

// wait blocks while the connection is stalled, and says whether it may
// still forward (false once dropped).
func (c *proxyConn) wait() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.stalled && !c.dropped {
		c.cond.Wait()
	}
	return !c.dropped
}

func (c *proxyConn) drop() {
	c.mu.Lock()
	c.dropped = true
	c.cond.Broadcast()
	c.mu.Unlock()
	c.client.Close()
	c.server.Close()
}

func (p *Proxy) close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Drop()
	p.wg.Wait()
}
