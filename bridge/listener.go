package bridge

import (
	"context"
	"crypto/tls"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Listener is the webhook port's listener. It caps open connections,
// refusing the ones over the cap at once (a reset, no handshake, no
// goroutine) while those already open keep being served, and it gives a
// connection that has not yet authenticated a request a short idle timeout,
// so that idle connections cannot hold the file descriptors and memory an
// attacker needs no credentials to take.
//
// Serve it with an http.Server whose ConnState and ConnContext are the
// Listener's (see Listener.Configure).
type Listener struct {
	net.Listener
	srv        *Server
	max        int64
	unauthIdle time.Duration
	open       atomic.Int64
}

// Listener wraps ln for the webhook port: at most maxConns connections are
// open at once, and a connection idles at most unauthIdle between requests
// until one of its requests authenticates (0 turns that off).
func (s *Server) Listener(ln net.Listener, maxConns int, unauthIdle time.Duration) *Listener {
	l := &Listener{Listener: ln, srv: s, max: int64(maxConns), unauthIdle: unauthIdle}
	s.metrics.connsMax.Set(float64(maxConns))
	return l
}

// Configure sets hs's ConnState and ConnContext hooks, which the idle rule
// needs.
func (l *Listener) Configure(hs *http.Server) {
	hs.ConnState = l.connState
	hs.ConnContext = l.connContext
}

// Open is the number of connections open now.
func (l *Listener) Open() int64 { return l.open.Load() }

// Accept returns the next connection under the cap; connections over it
// are reset and counted, and Accept goes on waiting.
func (l *Listener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			if tc, ok := c.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // a reset: no FIN_WAIT or TIME_WAIT kept for it
			}
			_ = c.Close()
			l.srv.metrics.connsRefused.Inc()
			continue
		}
		l.srv.metrics.conns.Inc()
		return &trackedConn{Conn: c, l: l}, nil
	}
}

// trackedConn is one accepted connection: it gives the slot back on Close
// and shortens the idle deadline while it has not authenticated.
type trackedConn struct {
	net.Conn
	l         *Listener
	idle      atomic.Bool // between requests
	trusted   atomic.Bool // one of its requests authenticated
	closeOnce sync.Once
}

func (c *trackedConn) Close() error {
	c.closeOnce.Do(func() {
		c.l.open.Add(-1)
		c.l.srv.metrics.conns.Dec()
	})
	return c.Conn.Close()
}

// SetReadDeadline is where net/http sets the idle timeout of a keep-alive
// connection (right after it goes idle): an untrusted idle connection gets
// the short one.
func (c *trackedConn) SetReadDeadline(t time.Time) error {
	if d := c.l.unauthIdle; d > 0 && c.idle.Load() && !c.trusted.Load() {
		if limit := time.Now().Add(d); t.IsZero() || t.After(limit) {
			t = limit
		}
	}
	return c.Conn.SetReadDeadline(t)
}

func (c *trackedConn) SetDeadline(t time.Time) error {
	if err := c.SetReadDeadline(t); err != nil {
		return err
	}
	return c.Conn.SetWriteDeadline(t)
}

func (l *Listener) connState(nc net.Conn, st http.ConnState) {
	if c := tracked(nc); c != nil {
		c.idle.Store(st == http.StateIdle)
	}
}

type connKey struct{}

func (l *Listener) connContext(ctx context.Context, nc net.Conn) context.Context {
	if c := tracked(nc); c != nil {
		return context.WithValue(ctx, connKey{}, c)
	}
	return ctx
}

// tracked finds the trackedConn under nc, which may be a TLS connection.
func tracked(nc net.Conn) *trackedConn {
	if tc, ok := nc.(*tls.Conn); ok {
		nc = tc.NetConn()
	}
	c, _ := nc.(*trackedConn)
	return c
}

// trustConn marks the connection of a request that authenticated: from now
// on it keeps the server's normal idle timeout.
func trustConn(r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(*trackedConn); ok {
		c.trusted.Store(true)
	}
}
