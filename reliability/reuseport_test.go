//go:build linux

package reliability_test

import (
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// TestReusePortHandover: two SO_REUSEPORT listeners share a port and one
// of them closes with connections waiting in its accept queue. With
// net.ipv4.tcp_migrate_req=0 (the default) those connections are reset;
// with 1 the kernel moves them to the other listener and none is lost.
// This is why a handover through SO_REUSEPORT alone is not a graceful
// restart, and why sock serve --graceful-restart passes the listening
// descriptor itself instead.
func TestReusePortHandover(t *testing.T) {
	for _, migrate := range []int{0, 1} {
		t.Run(fmt.Sprintf("tcp_migrate_req=%d", migrate), func(t *testing.T) {
			sockettest.LeakCheck(t)
			ns := newNetns(t)
			ns.sh(t, fmt.Sprintf("sysctl -q -w net.ipv4.tcp_migrate_req=%d", migrate))
			const clients = 64
			var a, b *socket.Socket
			var addr socket.Sockaddr
			ns.do(t, func() {
				a, addr = reusePortListener(t, "127.0.0.1:0")
				b, _ = reusePortListener(t, addr.String())
			})
			defer b.Close()
			var conns []*socket.Socket
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for i := 0; i < clients; i++ {
				c := nsClient(t, ns)
				conns = append(conns, c)
				c.SetTimeout(5 * time.Second)
				if err := c.Connect(addr); err != nil {
					t.Fatalf("connect %d: %v", i, err)
				}
			}
			// Every handshake done and queued: for a listener, TCP_INFO's
			// Unacked is the length of its accept queue.
			sockettest.WaitFor(t, "every connection in an accept queue", func() bool {
				ia, erra := a.TCPInfo()
				ib, errb := b.TCPInfo()
				return erra == nil && errb == nil && ia.Unacked+ib.Unacked == clients
			})
			a.Close()
			// b accepts what it has, migrated or its own, and answers each.
			b.SetTimeout(300 * time.Millisecond)
			accepted := 0
			for {
				c, _, err := b.Accept()
				if err != nil {
					break
				}
				c.Sendall([]byte("ok"), 0)
				c.Close()
				accepted++
			}
			reset, served := 0, 0
			for _, c := range conns {
				buf := make([]byte, 2)
				n, err := c.Recv(buf, 0)
				switch {
				case n == 2:
					served++
				case errors.Is(err, syscall.ECONNRESET):
					reset++
				default:
					t.Errorf("a client got %d bytes, %v", n, err)
				}
			}
			figure(t, fmt.Sprintf("reuseport_handover_migrate%d_reset", migrate), reset)
			figure(t, fmt.Sprintf("reuseport_handover_migrate%d_served", migrate), served)
			if served != accepted || served+reset != clients {
				t.Errorf("accepted %d, served %d, reset %d of %d", accepted, served, reset, clients)
			}
			if migrate == 1 && reset != 0 {
				t.Errorf("%d connections reset with tcp_migrate_req=1", reset)
			}
			if migrate == 0 && reset == 0 {
				t.Errorf("no connection was queued on the closed listener: the test proved nothing")
			}
		})
	}
}

// reusePortListener listens on addr with SO_REUSEPORT and a backlog that
// holds every client.
func reusePortListener(t *testing.T, addr string) (*socket.Socket, socket.Sockaddr) {
	t.Helper()
	s, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := socket.ParseAddr(socket.AF_INET, addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetReusePort(true); err != nil {
		t.Fatal(err)
	}
	if err := s.Bind(sa); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(128); err != nil {
		t.Fatal(err)
	}
	got, err := s.Getsockname()
	if err != nil {
		t.Fatal(err)
	}
	return s, got
}
