//go:build linux

package socket_test

import (
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// Example mirrors the tutorial's s1.py and c1.py: a server that binds
// 127.0.0.1, listens with a backlog of 5, waits for one client and prints
// its address and the connection; a client that connects and closes. The
// tutorial uses port 6254; the example asks for any free port (0) so that it
// can run anywhere.
func Example() {
	// s1.py
	sk, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		panic(err)
	}
	defer sk.Close()
	addr, _ := socket.ParseAddr(socket.AF_INET, "127.0.0.1:0")
	if err := sk.Bind(addr); err != nil {
		panic(err)
	}
	sk.Listen(5)
	bound, _ := sk.Getsockname()
	fmt.Println("正在等待客户端连接....") // waiting for a client...

	// c1.py, in a goroutine so that one program plays both parts.
	go func() {
		obj, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		obj.Connect(bound)
		obj.Close()
	}()

	conn, address, err := sk.Accept()
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	ap, _ := socket.AddrPortOf(address)
	fmt.Println("client from", ap.Addr(), "on a", conn.Family(), conn.Type(), "socket")
	// Output:
	// 正在等待客户端连接....
	// client from 127.0.0.1 on a AF_INET SOCK_STREAM socket
}

// Example_tcpRecipe follows the tutorial's TCP recipe. Server: create,
// bind, listen, loop accepting, receive and answer, close. Client: create,
// connect, send and receive, close.
func Example_tcpRecipe() {
	srv, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	defer srv.Close()
	srv.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
	srv.Listen(5)
	addr, _ := srv.Getsockname()

	go func() {
		for {
			conn, _, err := srv.Accept()
			if err != nil {
				return // srv closed
			}
			buf := make([]byte, 1024)
			for {
				n, err := conn.Recv(buf, 0)
				if n == 0 || err != nil {
					break // the client closed its side
				}
				conn.Sendall(append([]byte("echo: "), buf[:n]...), 0)
			}
			conn.Close()
		}
	}()

	cli, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	defer cli.Close()
	if err := cli.Connect(addr); err != nil {
		panic(err)
	}
	cli.Sendall([]byte("hello"), 0)
	buf := make([]byte, 1024)
	n, _ := cli.Recv(buf, 0)
	fmt.Println(string(buf[:n]))
	// Output: echo: hello
}

// ExampleSocket_ConnectEx probes a port the way connect_ex does: the errno
// comes back as a value, not as an error.
func ExampleSocket_ConnectEx() {
	// Find a port nobody listens on.
	tmp, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	tmp.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
	closed, _ := tmp.Getsockname()
	tmp.Close()

	s, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	defer s.Close()
	errno, err := s.ConnectEx(closed)
	fmt.Println(int(errno), errno, err)
	// Output: 111 connection refused <nil>
}

// ExampleSocket_SetTimeout shows Python's settimeout: a call that waits
// longer than the timeout fails with a timeout error.
func ExampleSocket_SetTimeout() {
	a, b, _ := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	defer a.Close()
	defer b.Close()
	b.SetTimeout(10 * time.Millisecond)
	_, err := b.Recv(make([]byte, 16), 0)
	fmt.Println("timed out:", errors.Is(err, os.ErrDeadlineExceeded))
	// Output: timed out: true
}

// ExampleSocket_SetBlocking shows non-blocking mode: a call that would
// wait fails with EAGAIN (Python's BlockingIOError).
func ExampleSocket_SetBlocking() {
	a, b, _ := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	defer a.Close()
	defer b.Close()
	b.SetBlocking(false)
	_, err := b.Recv(make([]byte, 16), 0)
	fmt.Println("would block:", errors.Is(err, syscall.EAGAIN))
	// Output: would block: true
}

// ExampleSocketpair passes datagrams between two connected AF_UNIX sockets.
func ExampleSocketpair() {
	a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET, 0)
	if err != nil {
		panic(err)
	}
	defer a.Close()
	defer b.Close()
	a.Send([]byte("first"), 0)
	a.Send([]byte("second"), 0)
	buf := make([]byte, 64)
	n, _ := b.Recv(buf, 0)
	fmt.Println(string(buf[:n]))
	n, _ = b.Recv(buf, 0)
	fmt.Println(string(buf[:n]))
	// Output:
	// first
	// second
}

// ExampleParseAddr reads the address forms the tutorial uses.
func ExampleParseAddr() {
	for _, in := range []struct {
		f socket.Family
		s string
	}{
		{socket.AF_INET, "127.0.0.1:6254"},
		{socket.AF_INET6, "[::1]:80"},
		{socket.AF_UNIX, "@abstract"},
		{socket.AF_UNSPEC, "/run/echo.sock"},
	} {
		sa, err := socket.ParseAddr(in.f, in.s)
		fmt.Println(sa.Family(), sa, err)
	}
	// Output:
	// AF_INET 127.0.0.1:6254 <nil>
	// AF_INET6 [::1]:80 <nil>
	// AF_UNIX @abstract <nil>
	// AF_UNIX /run/echo.sock <nil>
}

// ExampleSocket_Sendto is a UDP exchange with recvfrom and sendto.
func ExampleSocket_Sendto() {
	srv, _ := socket.New(socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer srv.Close()
	srv.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
	addr, _ := srv.Getsockname()

	cli, _ := socket.New(socket.AF_INET, socket.SOCK_DGRAM, 0)
	defer cli.Close()
	cli.Sendto([]byte("ping"), 0, addr)

	buf := make([]byte, 64)
	n, from, _ := srv.Recvfrom(buf, 0)
	srv.Sendto([]byte("pong to "+string(buf[:n])), 0, from)
	n, _, _ = cli.Recvfrom(buf, 0)
	fmt.Println(string(buf[:n]))
	// Output: pong to ping
}

// ExampleListen opens a Unix datagram socket and a TCP listener the same
// way: one call each, with the network named as Go's net package names it.
func ExampleListen() {
	dir, _ := os.MkdirTemp("", "listen")
	defer os.RemoveAll(dir)
	path := dir + "/log.sock"
	logs, err := socket.Listen("unixgram", path, &socket.ListenOptions{RemoveStale: true})
	if err != nil {
		panic(err)
	}
	defer logs.Close()
	ln, err := socket.Listen("tcp", "127.0.0.1:0", &socket.ListenOptions{Backlog: 16})
	if err != nil {
		panic(err)
	}
	defer ln.Close()
	listening, _ := ln.AcceptConn()
	reuse, _ := ln.ReuseAddr()
	fmt.Println(logs.Family(), logs.Type())
	fmt.Println(ln.Family(), ln.Type(), "listening:", listening, "SO_REUSEADDR:", reuse)
	// Output:
	// AF_UNIX SOCK_DGRAM
	// AF_INET SOCK_STREAM listening: true SO_REUSEADDR: true
}
