// listen.go holds Listen: the listener wrapper through which a Handler
// parks held long-polls without a goroutine each (park.go). It marks the
// connections it accepts, so that the Handler can find them from a
// request, and takes connections back after a parked poll was answered,
// returning them from Accept so that the http.Server serves their next
// keep-alive request.

package pubnubhttp

import (
	"net"
	"sync"
)

// Listen wraps ln, the listener an http.Server serves a Handler on, so
// that the Handler can park held subscribe long-polls: a long-poll that has
// to wait gives its connection up (http.Hijacker) and waits as a few
// hundred bytes in the Handler's event log and one timer, instead of the
// two goroutines and the read and write buffers net/http keeps for a
// connection. When the poll is answered (an event for it, its timeout, its
// eviction, the Handler's Close), one of a few workers of the Handler
// writes the response on the connection, as net/http would, and gives the
// connection back to the listener, whose Accept returns it again: the
// http.Server serves its next request as on any new connection.
//
// Pass the returned listener to http.Server.Serve as it is. Without it
// (http.ListenAndServe, httptest, a listener of your own) and over TLS the
// Handler holds long-polls with a goroutine each, as ever. The returned
// listener's Close closes ln and the connections waiting to be accepted
// again; it is safe for concurrent use.
func Listen(ln net.Listener) net.Listener {
	return &parkListener{inner: ln, closed: make(chan struct{}), ready: make(chan struct{}, 1)}
}

// parkListener is Listen's listener.
type parkListener struct {
	inner     net.Listener
	startOnce sync.Once
	accepted  chan acceptResult // from the goroutine accepting on inner
	closed    chan struct{}     // closed by Close
	closeOnce sync.Once

	mu    sync.Mutex
	back  []*parkConn   // connections given back, to accept again
	done  bool          // Close was called
	ready chan struct{} // signalled when back grows
}

// acceptResult is one result of inner.Accept.
type acceptResult struct {
	c   net.Conn
	err error
}

// Accept returns the next connection: one given back after a parked poll,
// else a new one from the wrapped listener.
func (l *parkListener) Accept() (net.Conn, error) {
	l.startOnce.Do(func() {
		l.accepted = make(chan acceptResult)
		go l.acceptLoop()
	})
	for {
		if c := l.pop(); c != nil {
			return c, nil
		}
		select {
		case <-l.ready:
		case r := <-l.accepted:
			if r.err != nil {
				return nil, r.err
			}
			return wrapConn(r.c, l), nil
		case <-l.closed:
			return nil, net.ErrClosed
		}
	}
}

// acceptLoop accepts on the wrapped listener until it fails for good.
func (l *parkListener) acceptLoop() {
	for {
		c, err := l.inner.Accept()
		select {
		case l.accepted <- acceptResult{c, err}:
		case <-l.closed:
			if c != nil {
				_ = c.Close()
			}
			return
		}
		if err != nil {
			if ne, ok := err.(interface{ Temporary() bool }); !ok || !ne.Temporary() {
				return
			}
		}
	}
}

func (l *parkListener) pop() *parkConn {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.back) == 0 {
		return nil
	}
	c := l.back[0]
	l.back[0] = nil
	l.back = l.back[1:]
	return c
}

// giveBack queues c to be accepted again; it closes c when the listener is
// closed. It never blocks.
func (l *parkListener) giveBack(c *parkConn) {
	l.mu.Lock()
	if l.done {
		l.mu.Unlock()
		_ = c.Close()
		return
	}
	l.back = append(l.back, c)
	l.mu.Unlock()
	select {
	case l.ready <- struct{}{}:
	default:
	}
}

// Close closes the wrapped listener and the connections given back but
// not accepted again.
func (l *parkListener) Close() error {
	err := l.inner.Close()
	l.closeOnce.Do(func() {
		close(l.closed)
		l.mu.Lock()
		l.done = true
		back := l.back
		l.back = nil
		l.mu.Unlock()
		for _, c := range back {
			_ = c.Close()
		}
	})
	return err
}

// Addr returns the wrapped listener's address.
func (l *parkListener) Addr() net.Addr { return l.inner.Addr() }

// parkConn is a connection accepted through a parkListener. Its LocalAddr
// is a parkAddr pointing back at it: net/http puts the local address in
// each request's context (http.LocalAddrContextKey), which is how the
// Handler finds the connection a request came on without a table.
type parkConn struct {
	net.Conn
	ln    *parkListener
	local parkAddr
	// pre holds bytes read past a parked request (a pipelined request),
	// returned by Read before the connection's own.
	pre []byte
}

// parkAddr is a parkConn's local address.
type parkAddr struct {
	net.Addr
	c *parkConn
}

func wrapConn(c net.Conn, l *parkListener) *parkConn {
	pc := &parkConn{Conn: c, ln: l}
	pc.local = parkAddr{Addr: c.LocalAddr(), c: pc}
	return pc
}

// LocalAddr returns the connection's local address, marked as one of a
// parkListener's connections.
func (c *parkConn) LocalAddr() net.Addr { return &c.local }

// Read reads the bytes kept from before the connection was parked first.
func (c *parkConn) Read(p []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(p, c.pre)
		c.pre = c.pre[n:]
		if len(c.pre) == 0 {
			c.pre = nil
		}
		return n, nil
	}
	return c.Conn.Read(p)
}
