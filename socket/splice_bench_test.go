//go:build linux

package socket_test

import (
	"io"
	"testing"

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
