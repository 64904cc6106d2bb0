package app

import (
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// HTTPLimits bound what one client connection may cost a gateway, whatever
// it sends or fails to send: the SOAP edge bounds a request's body and its
// parsing (soap.Limits), these the connection around it. A client that
// dribbles its headers or body (slowloris) is cut at ReadHeaderTimeout or
// ReadTimeout; one that never sends a request at ReadHeaderTimeout; an idle
// keep-alive connection at IdleTimeout; and past MaxConnections a new
// connection is closed as soon as it is accepted, so a flood of idle
// connections costs a bounded number of goroutines and buffers.
type HTTPLimits struct {
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds reading a whole request, headers and body: the
	// SOAP body is read before any work starts, so a slow body is cut
	// here, not by the request's deadline.
	ReadTimeout time.Duration
	// WriteTimeout bounds a request from its headers to the last byte of
	// its answer (net/http counts the handler's work in it): more than
	// ReadTimeout and the request's deadline together.
	WriteTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that sends no next
	// request.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's header section; past it the
	// answer is 431.
	MaxHeaderBytes int
	// MaxConnections is the most client connections served at once; 0:
	// no limit.
	MaxConnections int
}

// DefaultHTTPLimits are the limits `gateway serve` runs with: a SOAP
// request of the largest size (2 MiB on the wire, soap.DefaultLimits) in
// ReadTimeout needs about 70 KB/s; 512 connections is more than the 15-30
// integrating systems' pools hold (2 to 16 connections each), at about
// 20 KB each when idle (a goroutine and its read and write buffers) and at
// most the 2 MiB of a body each when they upload at once
// (docs/reliability.md, "Hostile input").
func DefaultHTTPLimits() HTTPLimits {
	return HTTPLimits{
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		MaxConnections:    512,
	}
}

// NewServer returns the HTTP server of the gateway: its handler and TLS
// configuration within the configuration's HTTPLimits. errorLog receives
// net/http's own complaints (failed handshakes, say); nil: the standard
// logger. Serve it on Listener(ln).
func (g *Gateway) NewServer(errorLog *log.Logger) *http.Server {
	l := g.httpLimits
	return &http.Server{
		Handler:           g.handler,
		TLSConfig:         g.tls,
		ReadHeaderTimeout: l.ReadHeaderTimeout,
		ReadTimeout:       l.ReadTimeout,
		WriteTimeout:      l.WriteTimeout,
		IdleTimeout:       l.IdleTimeout,
		MaxHeaderBytes:    l.MaxHeaderBytes,
		ErrorLog:          errorLog,
	}
}

// Listener returns ln limited to the configuration's MaxConnections: a
// connection past the limit is closed as soon as it is accepted and
// counted in medcard_http_connections_refused_total. Each listener has a
// limit of its own.
func (g *Gateway) Listener(ln net.Listener) net.Listener {
	if g.httpLimits.MaxConnections <= 0 {
		return ln
	}
	return &limitedListener{Listener: ln, slots: make(chan struct{}, g.httpLimits.MaxConnections), refused: g.refusedConns}
}

// limitedListener serves at most cap(slots) connections at once and
// closes those beyond. golang.org/x/net/netutil.LimitListener would do the
// counting, but it makes a connection past the limit wait unaccepted in
// the kernel's backlog, where a flood of idle connections holds every
// later client, ours included, until the backlog overflows; closing it
// tells the client at once (a load balancer tries another gateway). x/net
// is not among our dependencies either.
type limitedListener struct {
	net.Listener
	slots   chan struct{}
	refused prometheus.Counter
}

func (l *limitedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &limitedConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
			l.refused.Inc()
			c.Close()
		}
	}
}

// limitedConn gives its slot back when closed, once.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite half-closes a TCP connection, as net/http does before it
// closes one whose request it did not read to the end (a body too large,
// say), so that the client reads the answer instead of a reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// newRefusedConnections is the counter of connections Listener closed.
func newRefusedConnections(reg prometheus.Registerer) prometheus.Counter {
	c := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "medcard_http_connections_refused_total",
		Help: "Client connections closed on accept because the gateway already served its most (--max-connections).",
	})
	reg.MustRegister(c)
	return c
}
