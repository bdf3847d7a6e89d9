package proxyproto

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"
)

// Policy says what a Listener does with a connection from a given peer.
type Policy int

const (
	// Require: the connection must begin with a header; one that does not
	// fails its first Read. The default.
	Require Policy = iota
	// Skip: the peer is not a proxy; its connection is used as it is and
	// no header is read.
	Skip
	// Reject: the connection is closed as soon as it is accepted.
	Reject
)

// String returns "REQUIRE", "SKIP" or "REJECT".
func (p Policy) String() string {
	switch p {
	case Require:
		return "REQUIRE"
	case Skip:
		return "SKIP"
	case Reject:
		return "REJECT"
	}
	return fmt.Sprintf("Policy(%d)", int(p))
}

// PolicyFunc decides, from the address of the immediate peer (the proxy),
// what to do with a connection.
type PolicyFunc func(upstream net.Addr) Policy

// TrustOnly returns a PolicyFunc that requires a header from peers inside
// the given prefixes and rejects every other peer: the usual setting behind
// a load balancer. A Unix socket peer, local by nature, always gets
// Require.
func TrustOnly(prefixes ...netip.Prefix) PolicyFunc {
	return func(upstream net.Addr) Policy {
		var ap netip.AddrPort
		switch a := upstream.(type) {
		case *net.TCPAddr:
			ap = a.AddrPort()
		case *net.UnixAddr:
			return Require
		case nil:
			return Reject // no address to trust
		default:
			if p, err := netip.ParseAddrPort(upstream.String()); err == nil {
				ap = p
			}
		}
		// Prefix.Contains never matches an address with a zone: judge a
		// link-local proxy (fe80::1%eth0) by its address alone.
		ip := ap.Addr().Unmap().WithZone("")
		for _, p := range prefixes {
			if p.Contains(ip) {
				return Require
			}
		}
		return Reject
	}
}

// DefaultHeaderTimeout bounds the wait for a header when
// Listener.HeaderTimeout is 0.
const DefaultHeaderTimeout = 10 * time.Second

// Listener wraps a net.Listener whose peers are proxies. Accept returns at
// once with a *Conn; the header is read on the connection's first Read,
// RemoteAddr, LocalAddr or Header, by the goroutine that serves it, so one
// slow proxy connection never holds up the others.
type Listener struct {
	net.Listener
	// Policy decides per peer; nil means every peer must send a header.
	Policy PolicyFunc
	// HeaderTimeout bounds the wait for the header: 0 means
	// DefaultHeaderTimeout, a negative value no limit. A read deadline
	// set on the connection before the header arrives applies too.
	HeaderTimeout time.Duration
}

// errNoListener is what a Listener without a net.Listener to wrap returns.
var errNoListener = &net.OpError{Op: "listen", Net: "proxyproto", Err: fmt.Errorf("Listener.Listener is nil: %w", net.ErrClosed)}

// Accept waits for the next connection that the Policy does not reject.
func (l *Listener) Accept() (net.Conn, error) {
	if l == nil || l.Listener == nil {
		return nil, errNoListener
	}
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		p := Require
		if l.Policy != nil {
			p = l.Policy(c.RemoteAddr())
		}
		switch p {
		case Reject:
			c.Close()
			continue
		case Skip:
			return &Conn{Conn: c, skip: true}, nil
		}
		t := l.HeaderTimeout
		if t == 0 {
			t = DefaultHeaderTimeout
		}
		return &Conn{Conn: c, timeout: t}, nil
	}
}

// Close closes the wrapped listener.
func (l *Listener) Close() error {
	if l == nil || l.Listener == nil {
		return errNoListener
	}
	return l.Listener.Close()
}

// Addr returns the wrapped listener's address, nil if there is none.
func (l *Listener) Addr() net.Addr {
	if l == nil || l.Listener == nil {
		return nil
	}
	return l.Listener.Addr()
}

// Conn is a connection accepted by a Listener. Its RemoteAddr and LocalAddr
// are the client's addresses from the header, or the connection's own for
// a Local command, an UNKNOWN transport or a skipped peer. It passes
// CloseWrite, ReadFrom, WriteTo and SyscallConn through to the connection
// it wraps, so io.Copy keeps its splice and sendfile fast paths.
type Conn struct {
	net.Conn
	skip    bool
	timeout time.Duration

	once sync.Once
	hdr  *Header
	err  error

	mu sync.Mutex
	rd time.Time // the read deadline the application set
}

// NewConn wraps c, a connection from a proxy, as a Listener would with
// the Require policy; timeout as in Listener.HeaderTimeout.
func NewConn(c net.Conn, timeout time.Duration) *Conn {
	if c == nil {
		c = noConn{} // every method then fails with net.ErrClosed
	}
	if timeout == 0 {
		timeout = DefaultHeaderTimeout
	}
	return &Conn{Conn: c, timeout: timeout}
}

// Header reads the header if that has not happened yet and returns it: nil
// for a skipped peer. The error is the one every Read returns after a
// failed header; close the connection then.
func (c *Conn) Header() (*Header, error) {
	c.once.Do(c.readHeader)
	return c.hdr, c.err
}

func (c *Conn) readHeader() {
	if c.skip {
		return
	}
	if c.timeout > 0 {
		c.mu.Lock()
		d := time.Now().Add(c.timeout)
		if !c.rd.IsZero() && c.rd.Before(d) {
			d = c.rd
		}
		c.Conn.SetReadDeadline(d)
		c.mu.Unlock()
	}
	c.hdr, c.err = ReadHeader(c.Conn)
	if c.timeout > 0 {
		c.mu.Lock()
		c.Conn.SetReadDeadline(c.rd)
		c.mu.Unlock()
	}
	if c.err != nil {
		oe := &net.OpError{Op: "proxyproto", Source: c.Conn.LocalAddr(), Addr: c.Conn.RemoteAddr(), Err: c.err}
		if oe.Source != nil {
			oe.Net = oe.Source.Network()
		}
		c.err = oe
	}
}

// Read reads data after the header.
func (c *Conn) Read(b []byte) (int, error) {
	if _, err := c.Header(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// RemoteAddr returns the client's address from the header, waiting for the
// header if need be; the connection's own peer when there is none or it
// failed.
func (c *Conn) RemoteAddr() net.Addr {
	if h, err := c.Header(); err == nil && h != nil && h.Source != nil {
		return h.Source
	}
	return c.Conn.RemoteAddr()
}

// LocalAddr returns the address the client connected to, from the header,
// as RemoteAddr does.
func (c *Conn) LocalAddr() net.Addr {
	if h, err := c.Header(); err == nil && h != nil && h.Destination != nil {
		return h.Destination
	}
	return c.Conn.LocalAddr()
}

// SetDeadline sets the wrapped connection's deadlines, remembering the
// read deadline so that the header timeout does not erase it.
func (c *Conn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline is as SetDeadline, for reads.
func (c *Conn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.rd = t
	return c.Conn.SetReadDeadline(t)
}

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }

// CloseWrite shuts down the writing side of the wrapped connection.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return fmt.Errorf("proxyproto: CloseWrite on %T: %w", c.Conn, errors.ErrUnsupported)
}

// ReadFrom copies r to the connection, through the wrapped connection's own
// ReadFrom (sendfile, splice) when it has one.
func (c *Conn) ReadFrom(r io.Reader) (int64, error) {
	if r == nil {
		return 0, errors.New("proxyproto: ReadFrom a nil io.Reader")
	}
	if rf, ok := c.Conn.(io.ReaderFrom); ok {
		return rf.ReadFrom(r)
	}
	return io.Copy(struct{ io.Writer }{c.Conn}, r)
}

// WriteTo copies what follows the header to w, through the wrapped
// connection's own WriteTo when it has one.
func (c *Conn) WriteTo(w io.Writer) (int64, error) {
	if _, err := c.Header(); err != nil {
		return 0, err
	}
	if wt, ok := c.Conn.(io.WriterTo); ok {
		return wt.WriteTo(w)
	}
	return io.Copy(w, struct{ io.Reader }{c.Conn})
}

// SyscallConn returns the wrapped connection's raw connection. Reading
// from it directly before the header has been read sees the header.
func (c *Conn) SyscallConn() (syscall.RawConn, error) {
	if sc, ok := c.Conn.(syscall.Conn); ok {
		return sc.SyscallConn()
	}
	return nil, &os.SyscallError{Syscall: "proxyproto: SyscallConn", Err: errors.ErrUnsupported}
}

// noConn stands in for the nil connection given to NewConn: every method
// fails with an error matching net.ErrClosed, as on a closed connection.
type noConn struct{}

var errNoConn = &net.OpError{Op: "use", Net: "proxyproto", Err: fmt.Errorf("NewConn was given a nil net.Conn: %w", net.ErrClosed)}

func (noConn) Read([]byte) (int, error)         { return 0, errNoConn }
func (noConn) Write([]byte) (int, error)        { return 0, errNoConn }
func (noConn) Close() error                     { return errNoConn }
func (noConn) LocalAddr() net.Addr              { return nil }
func (noConn) RemoteAddr() net.Addr             { return nil }
func (noConn) SetDeadline(time.Time) error      { return errNoConn }
func (noConn) SetReadDeadline(time.Time) error  { return errNoConn }
func (noConn) SetWriteDeadline(time.Time) error { return errNoConn }
