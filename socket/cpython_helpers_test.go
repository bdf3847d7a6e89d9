//go:build linux

package socket_test

// Helpers for the port of CPython 3.11's Lib/test/test_socket.py (the
// cpython_*_test.go files). Each test there is named after the CPython
// method it ports, TestClass_method; socket/testdata/cpython-conformance.md
// maps every method to its Go test or to the reason it differs.

import (
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// pyMSG is test_socket's MSG: unicode text and a carriage return.
var pyMSG = []byte("Michael Gilfix was here\u1234\r\n")

// pyTimeout is support.LOOPBACK_TIMEOUT: long, because the bound is not
// what the tests check.
const pyTimeout = 5 * time.Second

var loop4 = &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}}

func loop6(t testing.TB) *socket.Inet6Addr {
	t.Helper()
	if !socket.HasIPv6() {
		t.Skip("no IPv6 loopback")
	}
	return &socket.Inet6Addr{Addr: [16]byte{15: 1}}
}

// pyTCPServer is SocketTCPTest's setUp: a listening AF_INET socket on
// 127.0.0.1 and its address.
func pyTCPServer(t testing.TB) (*socket.Socket, socket.Sockaddr) {
	t.Helper()
	return listen(t, streamNets[0])
}

// pyConnected is SocketConnectedTest: cliConn is the server's end (the
// accepted socket), servConn the client's end (connected to the server).
func pyConnected(t testing.TB) (cliConn, servConn *socket.Socket) {
	t.Helper()
	c, s := connPair(t, streamNets[0])
	return s, c
}

// recvAll reads from s until EOF.
func recvAll(t testing.TB, s *socket.Socket, bufsize int) []byte {
	t.Helper()
	var out []byte
	buf := make([]byte, bufsize)
	for {
		n, err := s.Recv(buf, 0)
		if err != nil {
			t.Fatalf("recv: %v", err)
		}
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

// goErr runs f on another goroutine and returns a channel with its error,
// as the client half of CPython's ThreadableTest runs in a thread.
func goErr(f func() error) <-chan error {
	c := make(chan error, 1)
	go func() { c <- f() }()
	return c
}

// wait returns the error f sent on c, failing the test if none came in
// pyTimeout.
func wait(t testing.TB, c <-chan error) {
	t.Helper()
	select {
	case err := <-c:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * pyTimeout):
		t.Fatal("the client half did not finish")
	}
}
