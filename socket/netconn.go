package socket

import (
	"fmt"
	"net"
	"syscall"
	"time"
)

// Listener adapts a listening stream Socket to net.Listener, for
// http.Server.Serve, tls.NewListener and the like. Its Accept returns
// *Socket values as net.Conn.
type Listener struct {
	s *Socket
}

var _ net.Listener = (*Listener)(nil)

// errNoSocket is what the methods of a Listener or PacketConn return when
// it has no socket: a zero value, or one made from a nil *Socket.
var errNoSocket = &net.OpError{Op: "use", Net: "socket", Err: fmt.Errorf("no socket (a zero Listener or PacketConn, or one made from a nil *Socket): %w", ErrClosed)}

// Listener returns s as a net.Listener. s must be listening (see Listen);
// closing the Listener closes s.
func (s *Socket) Listener() *Listener { return &Listener{s: s} }

// Accept waits for a connection and returns it as a *Socket.
func (l *Listener) Accept() (net.Conn, error) {
	if l == nil || l.s == nil {
		return nil, errNoSocket
	}
	c, _, err := l.s.Accept()
	if err != nil {
		return nil, err
	}
	return c, nil
}

// AcceptSocket is Accept that returns the *Socket and the peer's address.
func (l *Listener) AcceptSocket() (*Socket, Sockaddr, error) {
	if l == nil || l.s == nil {
		return nil, nil, errNoSocket
	}
	return l.s.Accept()
}

// Close closes the listening socket; a blocked Accept returns an error
// matching net.ErrClosed.
func (l *Listener) Close() error {
	if l == nil || l.s == nil {
		return errNoSocket
	}
	return l.s.Close()
}

// Addr returns the listening address.
func (l *Listener) Addr() net.Addr {
	if l == nil || l.s == nil {
		return nil
	}
	return l.s.LocalAddr()
}

// SetDeadline sets the deadline of Accept.
func (l *Listener) SetDeadline(t time.Time) error {
	if l == nil || l.s == nil {
		return errNoSocket
	}
	return l.s.SetReadDeadline(t)
}

// Socket returns the underlying socket.
func (l *Listener) Socket() *Socket {
	if l == nil {
		return nil
	}
	return l.s
}

// SyscallConn returns the raw connection of the listening socket.
func (l *Listener) SyscallConn() (syscall.RawConn, error) {
	if l == nil || l.s == nil {
		return nil, errNoSocket
	}
	return l.s.SyscallConn()
}

// PacketConn adapts a datagram Socket to net.PacketConn. Its addresses are
// *net.UDPAddr, *net.UnixAddr or *net.IPAddr, by socket type.
type PacketConn struct {
	s *Socket
}

var _ net.PacketConn = (*PacketConn)(nil)

// PacketConn returns s as a net.PacketConn; closing it closes s.
func (s *Socket) PacketConn() *PacketConn { return &PacketConn{s: s} }

// ReadFrom receives one datagram (Recvfrom).
func (c *PacketConn) ReadFrom(p []byte) (int, net.Addr, error) {
	if c == nil || c.s == nil {
		return 0, nil, errNoSocket
	}
	n, from, err := c.s.Recvfrom(p, 0)
	if err != nil {
		return n, nil, err
	}
	return n, NetAddr(from, c.s.typ), nil
}

// WriteTo sends p as one datagram to addr (Sendto).
func (c *PacketConn) WriteTo(p []byte, addr net.Addr) (int, error) {
	if c == nil || c.s == nil {
		return 0, errNoSocket
	}
	sa, err := FromNetAddr(addr)
	if err != nil {
		return 0, c.s.opErr("write", nil, err)
	}
	if a4, ok := sa.(*Inet4Addr); ok && c.s.family == AF_INET6 {
		// A dual-stack socket reaches IPv4 peers through mapped addresses.
		ap := a4.AddrPort()
		sa = &Inet6Addr{Addr: ap.Addr().As16(), Port: int(ap.Port())}
	}
	return c.s.Sendto(p, 0, sa)
}

// Close closes the socket.
func (c *PacketConn) Close() error {
	if c == nil || c.s == nil {
		return errNoSocket
	}
	return c.s.Close()
}

// LocalAddr returns the local address.
func (c *PacketConn) LocalAddr() net.Addr {
	if c == nil || c.s == nil {
		return nil
	}
	return c.s.LocalAddr()
}

// SetDeadline sets the read and write deadlines.
func (c *PacketConn) SetDeadline(t time.Time) error {
	if c == nil || c.s == nil {
		return errNoSocket
	}
	return c.s.SetDeadline(t)
}

// SetReadDeadline sets the read deadline.
func (c *PacketConn) SetReadDeadline(t time.Time) error {
	if c == nil || c.s == nil {
		return errNoSocket
	}
	return c.s.SetReadDeadline(t)
}

// SetWriteDeadline sets the write deadline.
func (c *PacketConn) SetWriteDeadline(t time.Time) error {
	if c == nil || c.s == nil {
		return errNoSocket
	}
	return c.s.SetWriteDeadline(t)
}

// Socket returns the underlying socket.
func (c *PacketConn) Socket() *Socket {
	if c == nil {
		return nil
	}
	return c.s
}

// SyscallConn returns the raw connection of the socket.
func (c *PacketConn) SyscallConn() (syscall.RawConn, error) {
	if c == nil || c.s == nil {
		return nil, errNoSocket
	}
	return c.s.SyscallConn()
}

// NetConn returns a standard library connection (*net.TCPConn,
// *net.UDPConn or *net.UnixConn, made by net.FileConn) on a duplicate of
// the descriptor, for APIs that insist on those types. s stays open; closing
// one does not close the other.
func (s *Socket) NetConn() (net.Conn, error) {
	if s == nil {
		return nil, errNilSocket("netconn")
	}
	f, err := s.File()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c, err := net.FileConn(f)
	if err != nil {
		return nil, s.opErr("netconn", nil, err)
	}
	return c, nil
}
