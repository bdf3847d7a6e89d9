//go:build linux

package eventloop_test

import (
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// TestUDPEcho: datagrams are answered to their sender, over IPv4 and IPv6
// (the reply's address goes through the sockaddr codec both ways), with
// one socket per loop.
func TestUDPEcho(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"udp", "127.0.0.1:0"},
		{"udp6", "[::1]:0"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			sockettest.LeakCheck(t)
			e := &eventloop.Engine{Handler: echo{}, Loops: 2, ReusePort: true}
			addr, stop := start(t, e, tc.network, tc.addr)
			for i := 0; i < 8; i++ {
				c, err := net.Dial(tc.network, addr)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(5 * time.Second))
				for j := 0; j < 10; j++ {
					msg := fmt.Sprintf("datagram %d.%d", i, j)
					c.Write([]byte(msg))
					buf := make([]byte, 100)
					n, err := c.Read(buf)
					if err != nil || string(buf[:n]) != msg {
						t.Fatalf("%q, %v", buf[:n], err)
					}
				}
				c.Close()
			}
			stop()
		})
	}
}
