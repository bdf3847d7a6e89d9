//go:build linux

package eventloop_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"testing"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/socket"
)

// BenchmarkEcho is one round trip through the engine per op: the client
// (a *socket.Socket, which allocates nothing per call) sends size bytes
// and reads them back from an echo handler. allocs/op counts the whole
// process, engine and client, and must be 0.
func BenchmarkEcho(b *testing.B) {
	for _, network := range []string{"tcp", "unix"} {
		for _, size := range []int{64, 4096} {
			b.Run(fmt.Sprintf("%s/%dB", network, size), func(b *testing.B) {
				addr := "127.0.0.1:0"
				if network == "unix" {
					addr = fmt.Sprintf("@socketkit-bench-%d-%d", size, os.Getpid()) // unique across concurrent runs
				}
				e := &eventloop.Engine{Loops: 1, Handler: echo{}}
				at, stop := start(b, e, network, addr)
				defer stop()
				c := dialBench(b, network, at)
				defer c.Close()
				roundTrips(b, c, size)
			})
		}
	}
}

// BenchmarkEchoBlocking is BenchmarkEcho through the blocking adapter:
// a handler written for net.Conn (io.CopyBuffer) running on the engine.
func BenchmarkEchoBlocking(b *testing.B) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e := &eventloop.Engine{Loops: 1, Handler: eventloop.Blocking(ctx, func(ctx context.Context, c net.Conn) {
		buf := make([]byte, 16<<10)
		io.CopyBuffer(struct{ io.Writer }{c}, struct{ io.Reader }{c}, buf)
	})}
	at, stop := start(b, e, "tcp", "127.0.0.1:0")
	defer stop()
	c := dialBench(b, "tcp", at)
	defer c.Close()
	roundTrips(b, c, 64)
}

func dialBench(b *testing.B, network, addr string) *socket.Socket {
	b.Helper()
	fam := socket.AF_INET
	if network == "unix" {
		fam = socket.AF_UNIX
	}
	sa, err := socket.ParseAddr(fam, addr)
	if err != nil {
		b.Fatal(err)
	}
	c, err := socket.New(fam, socket.SOCK_STREAM, 0)
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Connect(sa); err != nil {
		c.Close()
		b.Fatal(err)
	}
	return c
}

func roundTrips(b *testing.B, c *socket.Socket, size int) {
	msg := make([]byte, size)
	buf := make([]byte, size)
	for i := range msg {
		msg[i] = byte(i)
	}
	b.SetBytes(int64(size))
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Sendall(msg, 0); err != nil {
			b.Fatal(err)
		}
		if _, err := c.Recv(buf, socket.MSG_WAITALL); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	if buf[size-1] != msg[size-1] {
		b.Fatal("the echo differs")
	}
}
