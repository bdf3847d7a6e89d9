package socket

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"
)

// ParseNetwork maps a Go network name to the family and type of its
// socket:
//
//	"tcp"         AF_UNSPEC, SOCK_STREAM (the family comes from the address)
//	"tcp4"        AF_INET,   SOCK_STREAM
//	"tcp6"        AF_INET6,  SOCK_STREAM
//	"udp"         AF_UNSPEC, SOCK_DGRAM
//	"udp4"        AF_INET,   SOCK_DGRAM
//	"udp6"        AF_INET6,  SOCK_DGRAM
//	"unix"        AF_UNIX,   SOCK_STREAM
//	"unixgram"    AF_UNIX,   SOCK_DGRAM
//	"unixpacket"  AF_UNIX,   SOCK_SEQPACKET
//
// Any other name is an error that wraps a net.UnknownNetworkError. It
// makes no system call.
func ParseNetwork(network string) (Family, Type, error) {
	switch network {
	case "tcp":
		return AF_UNSPEC, SOCK_STREAM, nil
	case "tcp4":
		return AF_INET, SOCK_STREAM, nil
	case "tcp6":
		return AF_INET6, SOCK_STREAM, nil
	case "udp":
		return AF_UNSPEC, SOCK_DGRAM, nil
	case "udp4":
		return AF_INET, SOCK_DGRAM, nil
	case "udp6":
		return AF_INET6, SOCK_DGRAM, nil
	case "unix":
		return AF_UNIX, SOCK_STREAM, nil
	case "unixgram":
		return AF_UNIX, SOCK_DGRAM, nil
	case "unixpacket":
		return AF_UNIX, SOCK_SEQPACKET, nil
	}
	return 0, 0, fmt.Errorf("socket: %w (want tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram or unixpacket)", net.UnknownNetworkError(network))
}

// ReuseAddr chooses whether Listen sets SO_REUSEADDR.
type ReuseAddr uint8

const (
	// ReuseAddrDefault sets SO_REUSEADDR on an IP stream socket, so that
	// a restarted server can bind a port still in TIME_WAIT (as Go's
	// net.Listen and Python's create_server do), and leaves it off on a
	// datagram socket, where it would let a second server bind the same
	// port unnoticed.
	ReuseAddrDefault ReuseAddr = iota
	// ReuseAddrOn sets SO_REUSEADDR on any IP socket.
	ReuseAddrOn
	// ReuseAddrOff leaves SO_REUSEADDR off (Python's socketserver
	// default, allow_reuse_address = False).
	ReuseAddrOff
)

// ListenOptions tunes Listen. The zero value is usable.
type ListenOptions struct {
	// Backlog is listen(2)'s queue of connections not yet accepted, for a
	// stream or seqpacket socket; 0 (or less) means SOMAXCONN, which the
	// kernel caps at net.core.somaxconn.
	Backlog int
	// BindOnly stops after bind(2): the caller calls Listen on the socket
	// itself, later (Python's bind_and_activate=False).
	BindOnly bool
	// ReuseAddr chooses SO_REUSEADDR on an IP socket; see ReuseAddrDefault.
	ReuseAddr ReuseAddr
	// ReusePort sets SO_REUSEPORT on an IP socket: several sockets may bind
	// one address and port, and the kernel spreads connections (or
	// datagrams) among them.
	ReusePort bool
	// DualStack turns IPV6_V6ONLY off, so that an AF_INET6 socket serves
	// IPv4 too (as IPv4-mapped addresses). Without it an AF_INET6 socket is
	// IPv6 only, whatever the sysctl net.ipv6.bindv6only says. With "tcp"
	// or "udp" and no host (":port") it picks AF_INET6; with an IPv4
	// network or address it is an error.
	DualStack bool
	// RemoveStale removes a Unix socket file left at the path by a server
	// that is gone before binding: the file is removed only if it is a
	// socket and connecting to it is refused (nothing listens). Without it,
	// or when a server still listens there, bind fails with EADDRINUSE.
	RemoveStale bool
	// Control, if set, is called with the new socket after the options
	// above are set and before bind(2): set other socket options there. Its
	// error is returned and the socket closed.
	Control func(s *Socket) error
}

// Listen returns a socket for network (see ParseNetwork) bound to addr
// and, for a stream or seqpacket socket, listening; a datagram socket is
// only bound. addr is "host:port" for an IP network (":0" for any port on
// every address; a host name is resolved, preferring IPv4) and a path,
// "@name" (abstract) or "" (autobind) for a Unix network.
//
// The family of "tcp" and "udp" comes from the address: an IPv6 literal
// gives AF_INET6, anything else AF_INET (or AF_INET6 when a name resolves
// only to IPv6). Listen then makes, in order: socket(2); setsockopt(2)
// for SO_REUSEADDR, SO_REUSEPORT and IPV6_V6ONLY as opts say; Control;
// the stale-file check of RemoveStale; bind(2); listen(2). It is not one
// system call. Any failure closes the socket and returns the error, with
// the *os.SyscallError of the call that failed in its chain; a
// setsockopt error says which option.
//
// Python: socket.create_server(address, family, backlog, reuse_port,
// dualstack_ipv6), for every socket type.
func Listen(network, addr string, opts *ListenOptions) (*Socket, error) {
	var o ListenOptions
	if opts != nil {
		o = *opts
	}
	sa, typ, err := listenAddr(network, addr, o.DualStack)
	if err != nil {
		return nil, err
	}
	fam := sa.Family()
	s, err := New(fam, typ, 0)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*Socket, error) { s.Close(); return nil, err }
	opt := func(name string, set func() error) error {
		if err := set(); err != nil {
			return fmt.Errorf("socket: listen %s %s: %s: %w", network, addr, name, err)
		}
		return nil
	}
	if fam == AF_INET || fam == AF_INET6 {
		reuse := o.ReuseAddr == ReuseAddrOn || (o.ReuseAddr == ReuseAddrDefault && typ == SOCK_STREAM)
		if reuse {
			if err := opt("SO_REUSEADDR", func() error { return s.SetReuseAddr(true) }); err != nil {
				return fail(err)
			}
		}
		if o.ReusePort {
			if err := opt("SO_REUSEPORT", func() error { return s.SetReusePort(true) }); err != nil {
				return fail(err)
			}
		}
	}
	if fam == AF_INET6 {
		if err := opt("IPV6_V6ONLY", func() error { return s.SetV6Only(!o.DualStack) }); err != nil {
			return fail(err)
		}
	}
	if o.Control != nil {
		if err := o.Control(s); err != nil {
			return fail(err)
		}
	}
	if ua, ok := sa.(*UnixAddr); ok && o.RemoveStale {
		removeStaleUnix(ua.Path, typ)
	}
	if err := s.Bind(sa); err != nil {
		return fail(err)
	}
	if typ != SOCK_DGRAM && !o.BindOnly {
		backlog := o.Backlog
		if backlog <= 0 {
			backlog = SOMAXCONN
		}
		if err := s.Listen(backlog); err != nil {
			return fail(err)
		}
	}
	return s, nil
}

// listenAddr resolves addr for network, choosing the family of "tcp" and
// "udp" from the address.
func listenAddr(network, addr string, dualStack bool) (Sockaddr, Type, error) {
	fam, typ, err := ParseNetwork(network)
	if err != nil {
		return nil, 0, err
	}
	if fam == AF_UNIX {
		if dualStack {
			return nil, 0, &AddrError{Addr: addr, Family: fam, Reason: "DualStack needs an IPv6 socket", Err: syscall.EINVAL}
		}
		sa, err := parseUnix(addr)
		return sa, typ, err
	}
	if fam == AF_UNSPEC && dualStack {
		if host, _, err := net.SplitHostPort(addr); err == nil && host == "" {
			fam = AF_INET6
		}
	}
	sa, err := parseInet(context.Background(), fam, addr)
	if err != nil {
		return nil, 0, err
	}
	if a, ok := sa.(*Inet6Addr); ok && fam == AF_UNSPEC {
		if ap := a.AddrPort(); ap.Addr().Is4In6() {
			// An IPv4-mapped literal with "tcp": an IPv4 socket, as for
			// the plain IPv4 form.
			sa = &Inet4Addr{Addr: ap.Addr().Unmap().As4(), Port: a.Port}
		}
	}
	if dualStack && sa.Family() != AF_INET6 {
		return nil, 0, &AddrError{Addr: addr, Family: sa.Family(), Reason: "DualStack needs an IPv6 socket", Err: syscall.EINVAL}
	}
	return sa, typ, nil
}

// removeStaleUnix removes the socket file at path if nothing accepts on it:
// connect(2) is refused. An abstract name, a file that is not a socket and
// a socket someone serves are left alone.
func removeStaleUnix(path string, typ Type) {
	if path == "" || path[0] == '@' {
		return
	}
	fi, err := os.Lstat(path)
	if err != nil || fi.Mode()&os.ModeSocket == 0 {
		return
	}
	probe, err := New(AF_UNIX, typ, 0)
	if err != nil {
		return
	}
	defer probe.Close()
	if errno, err := probe.ConnectEx(&UnixAddr{Path: path}); err == nil && errno == syscall.ECONNREFUSED {
		os.Remove(path)
	}
}
