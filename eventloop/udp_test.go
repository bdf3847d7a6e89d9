//go:build linux

package eventloop_test

import (
	"errors"
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
				c.SetDeadline(time.Now().Add(10 * time.Second))
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

// keeper keeps the packet it was handed, which it may not.
type keeper struct {
	echo
	kept chan *eventloop.Packet
}

func (h *keeper) OnPacket(p *eventloop.Packet) eventloop.Action {
	h.kept <- p
	return eventloop.None
}

// TestReplyOffLoop: Reply called after OnPacket has returned, from
// another goroutine, returns ErrWrongLoop and sends nothing.
func TestReplyOffLoop(t *testing.T) {
	sockettest.LeakCheck(t)
	h := &keeper{kept: make(chan *eventloop.Packet, 1)}
	addr, stop := start(t, &eventloop.Engine{Handler: h, Loops: 1}, "udp", "127.0.0.1:0")
	c, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	p := recv(t, h.kept, "OnPacket")
	waitFor(t, "the loop to leave OnPacket", func() bool { return !eventloop.PacketInCallback(p) })
	if err := p.Reply([]byte("late")); !errors.Is(err, eventloop.ErrWrongLoop) {
		t.Fatalf("Reply off the loop: %v, want ErrWrongLoop", err)
	}
	stop()
}
