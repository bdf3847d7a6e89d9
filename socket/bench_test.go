//go:build linux

package socket_test

import (
	"io"
	"net"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/socket"
)

// The ping-pong benchmarks send a 64-byte message and wait for it to come
// back, over TCP loopback and over a Unix stream socketpair. Each transport
// is measured with *socket.Socket (Send/Recv), with the standard library
// (net.TCPConn / net.UnixConn) and with raw blocking read(2)/write(2) on
// the same kind of socket. The peer echoes with the same API.

const msgSize = 64

func benchSocket(b *testing.B, c, s *socket.Socket) {
	go func() {
		buf := make([]byte, msgSize)
		for {
			n, err := s.Recv(buf, 0)
			if n == 0 || err != nil {
				return
			}
			if _, err := s.Sendall(buf[:n], 0); err != nil {
				return
			}
		}
	}()
	msg, buf := make([]byte, msgSize), make([]byte, msgSize)
	b.SetBytes(msgSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Send(msg, 0); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < msgSize; {
			n, err := c.Recv(buf[got:], 0)
			if err != nil || n == 0 {
				b.Fatal(err)
			}
			got += n
		}
	}
	c.Close()
}

func benchNet(b *testing.B, c, s net.Conn) {
	go func() {
		buf := make([]byte, msgSize)
		for {
			n, err := s.Read(buf)
			if err != nil {
				return
			}
			if _, err := s.Write(buf[:n]); err != nil {
				return
			}
		}
	}()
	msg, buf := make([]byte, msgSize), make([]byte, msgSize)
	b.SetBytes(msgSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	s.Close()
}

func benchRaw(b *testing.B, c, s int) {
	go func() {
		buf := make([]byte, msgSize)
		for {
			n, err := unix.Read(s, buf)
			if n <= 0 || err != nil {
				return
			}
			if _, err := unix.Write(s, buf[:n]); err != nil {
				return
			}
		}
	}()
	msg, buf := make([]byte, msgSize), make([]byte, msgSize)
	b.SetBytes(msgSize)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := unix.Write(c, msg); err != nil {
			b.Fatal(err)
		}
		for got := 0; got < msgSize; {
			n, err := unix.Read(c, buf[got:])
			if err != nil || n <= 0 {
				b.Fatal(err)
			}
			got += n
		}
	}
	unix.Shutdown(c, unix.SHUT_RDWR)
	unix.Close(c)
}

func BenchmarkPingPong(b *testing.B) {
	b.Run("tcp/socket", func(b *testing.B) {
		c, s := connPair(b, streamNets[0])
		c.SetNoDelay(true)
		s.SetNoDelay(true)
		benchSocket(b, c, s)
	})
	b.Run("tcp/net", func(b *testing.B) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		defer ln.Close()
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			b.Fatal(err)
		}
		benchNet(b, c, s)
	})
	b.Run("tcp/raw", func(b *testing.B) {
		lfd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		defer unix.Close(lfd)
		unix.Bind(lfd, &unix.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}})
		unix.Listen(lfd, 1)
		sa, _ := unix.Getsockname(lfd)
		cfd, _ := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err := unix.Connect(cfd, sa); err != nil {
			b.Fatal(err)
		}
		sfd, _, err := unix.Accept4(lfd, unix.SOCK_CLOEXEC)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(sfd)
		unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		unix.SetsockoptInt(sfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		benchRaw(b, cfd, sfd)
	})
	b.Run("unix/socket", func(b *testing.B) {
		c, s, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		benchSocket(b, c, s)
	})
	b.Run("unix/net", func(b *testing.B) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		c, s := fileConn(b, fds[0]), fileConn(b, fds[1])
		benchNet(b, c, s)
	})
	b.Run("unix/raw", func(b *testing.B) {
		fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			b.Fatal(err)
		}
		defer unix.Close(fds[1])
		benchRaw(b, fds[0], fds[1])
	})
}

// fileConn turns a socketpair descriptor into a *net.UnixConn.
func fileConn(b *testing.B, fd int) net.Conn {
	s, err := socket.NewFd(fd)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	c, err := s.NetConn()
	if err != nil {
		b.Fatal(err)
	}
	if _, ok := c.(*net.UnixConn); !ok {
		b.Fatalf("%T", c)
	}
	return c
}

// BenchmarkSendRecv sends 64 bytes on one end and receives them on the other
// in the same goroutine, so no call waits: it measures the cost of the call
// path itself (locks, poller bookkeeping, the system call), without the
// scheduling noise of a ping-pong.
func BenchmarkSendRecv(b *testing.B) {
	msg, buf := make([]byte, msgSize), make([]byte, msgSize)
	run := func(b *testing.B, send func([]byte) (int, error), recv func([]byte) (int, error)) {
		b.SetBytes(msgSize)
		b.ReportAllocs()
		for b.Loop() {
			if _, err := send(msg); err != nil {
				b.Fatal(err)
			}
			if _, err := recv(buf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("tcp/socket", func(b *testing.B) {
		c, s := connPair(b, streamNets[0])
		run(b, func(p []byte) (int, error) { return c.Send(p, 0) }, func(p []byte) (int, error) { return s.Recv(p, 0) })
	})
	b.Run("tcp/net", func(b *testing.B) {
		ln, _ := net.Listen("tcp", "127.0.0.1:0")
		defer ln.Close()
		c, _ := net.Dial("tcp", ln.Addr().String())
		defer c.Close()
		s, _ := ln.Accept()
		defer s.Close()
		run(b, c.Write, s.Read)
	})
	b.Run("tcp/raw", func(b *testing.B) {
		c, s := connPair(b, streamNets[0])
		cfd, sfd := c.Fd(), s.Fd()
		run(b, func(p []byte) (int, error) { return unix.Write(cfd, p) }, func(p []byte) (int, error) { return unix.Read(sfd, p) })
	})
	b.Run("unix/socket", func(b *testing.B) {
		c, s, _ := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
		defer c.Close()
		defer s.Close()
		run(b, func(p []byte) (int, error) { return c.Send(p, 0) }, func(p []byte) (int, error) { return s.Recv(p, 0) })
	})
	b.Run("unix/net", func(b *testing.B) {
		fds, _ := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
		c, s := fileConn(b, fds[0]), fileConn(b, fds[1])
		defer c.Close()
		defer s.Close()
		run(b, c.Write, s.Read)
	})
	b.Run("unix/raw", func(b *testing.B) {
		c, s, _ := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
		defer c.Close()
		defer s.Close()
		cfd, sfd := c.Fd(), s.Fd()
		run(b, func(p []byte) (int, error) { return unix.Write(cfd, p) }, func(p []byte) (int, error) { return unix.Read(sfd, p) })
	})
}
