//go:build linux

package socket_test

import (
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/socket"
)

// BenchmarkSpliceEcho measures allocations per message of io.Copy between
// two sockets (the echo path): one 64-byte message through per iteration.
func BenchmarkSpliceEcho(b *testing.B) {
	c, s := connPair(b, streamNets[0])
	c2, s2 := connPair(b, streamNets[0])
	go io.Copy(c2, s) // s -> c2 by splice
	msg, buf := make([]byte, 64), make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		c.Send(msg, 0)
		s2.Recv(buf, socket.MSG_WAITALL)
	}
	c.Close()
}

// BenchmarkSpliceCall measures one io.Copy(sock, io.LimitReader(sock, 64
// KiB)) per iteration: the cost of a splice call including its setup (the
// pipe), between two TCP sockets.
func BenchmarkSpliceCall(b *testing.B) {
	const size = 64 << 10
	c, s := connPair(b, streamNets[0])
	c2, s2 := connPair(b, streamNets[0])
	go func() { // the source never runs dry
		buf := make([]byte, size)
		for {
			if _, err := c.Sendall(buf, 0); err != nil {
				return
			}
		}
	}()
	go io.Copy(io.Discard, onlyReader{s2})
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		if n, err := io.Copy(c2, io.LimitReader(s, size)); n != size || err != nil {
			b.Fatal(n, err)
		}
	}
	c.Close()
	s.Close()
	c2.Close()
}

// BenchmarkWriteToPipe measures io.Copy(pipe, sock) into a pipe, 64 KiB per
// iteration: a pollable pipe (os.Pipe), spliced, and a blocking one (a
// shell's stdout), copied through a buffer.
func BenchmarkWriteToPipe(b *testing.B) {
	const size = 64 << 10
	for _, kind := range []string{"pollable", "blocking"} {
		b.Run(kind, func(b *testing.B) {
			var pr, pw *os.File
			if kind == "pollable" {
				var err error
				if pr, pw, err = os.Pipe(); err != nil {
					b.Fatal(err)
				}
			} else {
				var p [2]int
				if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
					b.Fatal(err)
				}
				pr, pw = os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1")
			}
			c, s := connPair(b, streamNets[0])
			done := make(chan error, 1)
			go func() { _, err := io.Copy(pw, s); done <- err }()
			msg, buf := make([]byte, size), make([]byte, size)
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Sendall(msg, 0); err != nil {
					b.Fatal(err)
				}
				if _, err := io.ReadFull(pr, buf); err != nil {
					b.Fatal(err)
				}
			}
			c.CloseWrite()
			if err := <-done; err != nil {
				b.Fatal(err)
			}
			pr.Close()
			pw.Close()
		})
	}
}

type onlyReader struct{ io.Reader }
