//go:build linux

package socket_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// TestPortOutOfRangeInError: an address whose port is out of range
// (70000, -1, 1<<32+80) is named in the error as the caller gave it. The
// op error's address used to come through AddrPort, which cuts the port to
// 16 bits: Bind to port 70000 said "bind tcp 0.0.0.0:4464: address
// "0.0.0.0:70000": port out of range", Connect to -1 "->127.0.0.1:65535".
func TestPortOutOfRangeInError(t *testing.T) {
	sockettest.LeakCheck(t)
	ops := []struct {
		name string
		typ  socket.Type
		call func(s *socket.Socket, sa socket.Sockaddr) error
	}{
		{"Bind", socket.SOCK_STREAM, func(s *socket.Socket, sa socket.Sockaddr) error { return s.Bind(sa) }},
		{"Connect", socket.SOCK_STREAM, func(s *socket.Socket, sa socket.Sockaddr) error { return s.Connect(sa) }},
		{"ConnectContext", socket.SOCK_STREAM, func(s *socket.Socket, sa socket.Sockaddr) error {
			return s.ConnectContext(context.Background(), sa)
		}},
		{"ConnectEx", socket.SOCK_STREAM, func(s *socket.Socket, sa socket.Sockaddr) error { _, err := s.ConnectEx(sa); return err }},
		{"Sendto", socket.SOCK_DGRAM, func(s *socket.Socket, sa socket.Sockaddr) error { _, err := s.Sendto([]byte("x"), 0, sa); return err }},
		{"SendtoContext", socket.SOCK_DGRAM, func(s *socket.Socket, sa socket.Sockaddr) error {
			_, err := s.SendtoContext(context.Background(), []byte("x"), 0, sa)
			return err
		}},
		{"Sendmsg", socket.SOCK_DGRAM, func(s *socket.Socket, sa socket.Sockaddr) error {
			_, err := s.Sendmsg([][]byte{[]byte("x")}, nil, 0, sa)
			return err
		}},
		{"Bind/udp", socket.SOCK_DGRAM, func(s *socket.Socket, sa socket.Sockaddr) error { return s.Bind(sa) }},
	}
	for _, port := range []int{70000, -1, 1<<32 + 80, 65536} {
		addrs := []socket.Sockaddr{
			&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}, Port: port},
			&socket.Inet6Addr{Addr: [16]byte{15: 1}, Port: port},
		}
		for _, sa := range addrs {
			want := sa.String()
			if got := socket.NetAddr(sa, socket.SOCK_STREAM).String(); got != want {
				t.Errorf("NetAddr(%s).String() = %s", want, got)
			}
			for _, op := range ops {
				t.Run(op.name+"/"+want, func(t *testing.T) {
					s := newSock(t, sa.Family(), op.typ)
					err := op.call(s, sa)
					var oe *net.OpError
					if !errors.As(err, &oe) || oe.Addr == nil {
						t.Fatalf("error = %v; want a *net.OpError naming the address", err)
					}
					if oe.Addr.String() != want {
						t.Errorf("error's address = %s, want %s (error %q)", oe.Addr, want, err)
					}
					// The port as given, and no 16-bit remainder of it.
					cut := ":" + strconv.Itoa(int(uint16(port)))
					if strings.Contains(err.Error(), cut+":") || strings.Contains(err.Error(), cut+" ") || strings.HasSuffix(err.Error(), cut) {
						t.Errorf("error %q shows the port cut to 16 bits (%s)", err, cut)
					}
				})
			}
		}
	}
}

// TestFromNetAddrPortOutOfRange: a net.TCPAddr or net.UDPAddr whose port is
// out of range is an error matching EINVAL that names the whole address
// (it named the port alone, "address "70000"", and matched no errno).
func TestFromNetAddrPortOutOfRange(t *testing.T) {
	for _, tc := range []struct {
		a    net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.IPv4(1, 2, 3, 4), Port: 70000}, `"1.2.3.4:70000"`},
		{&net.UDPAddr{IP: net.IPv6loopback, Port: -1, Zone: "lo"}, `"[::1%lo]:-1"`},
		{&net.TCPAddr{Port: 65536}, `":65536"`},
	} {
		sa, err := socket.FromNetAddr(tc.a)
		if err == nil || !errors.Is(err, syscall.EINVAL) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("FromNetAddr(%v) = %v, %v; want an error matching EINVAL naming %s", tc.a, sa, err, tc.want)
		}
	}
}
