//go:build linux

package socket_test

import (
	"errors"
	"os"
	"syscall"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// network is one family × type combination the tests run over.
type network struct {
	name   string
	family socket.Family
	typ    socket.Type
}

var (
	streamNets = []network{
		{"tcp4", socket.AF_INET, socket.SOCK_STREAM},
		{"tcp6", socket.AF_INET6, socket.SOCK_STREAM},
		{"unix", socket.AF_UNIX, socket.SOCK_STREAM},
		{"unixpacket", socket.AF_UNIX, socket.SOCK_SEQPACKET},
	}
	dgramNets = []network{
		{"udp4", socket.AF_INET, socket.SOCK_DGRAM},
		{"udp6", socket.AF_INET6, socket.SOCK_DGRAM},
		{"unixgram", socket.AF_UNIX, socket.SOCK_DGRAM},
	}
)

func newSock(t testing.TB, f socket.Family, typ socket.Type) *socket.Socket {
	t.Helper()
	s, err := socket.New(f, typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func sockname(t testing.TB, s *socket.Socket) socket.Sockaddr {
	t.Helper()
	sa, err := s.Getsockname()
	if err != nil {
		t.Fatal(err)
	}
	return sa
}

// localAddr is a loopback address with port 0, or a fresh Unix path.
func localAddr(t testing.TB, n network) socket.Sockaddr {
	t.Helper()
	switch n.family {
	case socket.AF_INET:
		return &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}}
	case socket.AF_INET6:
		if !socket.HasIPv6() {
			t.Skip("no IPv6 loopback")
		}
		return &socket.Inet6Addr{Addr: [16]byte{15: 1}}
	}
	return &socket.UnixAddr{Path: sockettest.UnixPath(t, "s.sock")}
}

// listen returns a listening socket of network n and its address.
func listen(t testing.TB, n network) (*socket.Socket, socket.Sockaddr) {
	t.Helper()
	ln := newSock(t, n.family, n.typ)
	if err := ln.Bind(localAddr(t, n)); err != nil {
		t.Fatal(err)
	}
	if err := ln.Listen(5); err != nil {
		t.Fatal(err)
	}
	return ln, sockname(t, ln)
}

// connPair returns a connected client and server of stream network n.
func connPair(t testing.TB, n network) (client, server *socket.Socket) {
	t.Helper()
	ln, addr := listen(t, n)
	client = newSock(t, n.family, n.typ)
	if err := client.Connect(addr); err != nil {
		t.Fatal(err)
	}
	server, _, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// dgramPair returns two bound datagram sockets of network n and their
// addresses.
func dgramPair(t testing.TB, n network) (a, b *socket.Socket, aAddr, bAddr socket.Sockaddr) {
	t.Helper()
	a, b = newSock(t, n.family, n.typ), newSock(t, n.family, n.typ)
	addrA, addrB := localAddr(t, n), localAddr(t, n)
	if n.family == socket.AF_UNIX {
		addrB = &socket.UnixAddr{Path: sockettest.UnixPath(t, "b.sock")}
	}
	if err := a.Bind(addrA); err != nil {
		t.Fatal(err)
	}
	if err := b.Bind(addrB); err != nil {
		t.Fatal(err)
	}
	return a, b, sockname(t, a), sockname(t, b)
}

// syscallErrors counts the *os.SyscallError values in err's chain.
func syscallErrors(err error) int {
	n := 0
	for err != nil {
		if _, ok := err.(*os.SyscallError); ok {
			n++
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			err = u.Unwrap()
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				n += syscallErrors(e)
			}
			return n
		default:
			err = nil
		}
	}
	return n
}

func wantErrno(t testing.TB, err error, want syscall.Errno) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want one matching %v (errno %d)", err, want, int(want))
	}
	if n := syscallErrors(err); n != 1 {
		t.Fatalf("error %q carries %d *os.SyscallError, want exactly 1", err, n)
	}
}
