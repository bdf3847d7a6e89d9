//go:build linux

package cli_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// udpClient is a UDP socket on its own port of 127.0.0.1, connected to addr.
func udpClient(t *testing.T, addr string) *socket.Socket {
	t.Helper()
	c, err := socket.New(socket.AF_INET, socket.SOCK_DGRAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	sa, _ := socket.ParseAddr(socket.AF_INET, addr)
	if err := c.Connect(sa); err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(5 * time.Second)
	return c
}

// TestRelayUDPFork: "sock relay udp-listen:P,fork udp:H:Q" serves every
// sender, each with an upstream socket of its own, as socat's
// UDP-LISTEN:P,fork does: three clients on three ports, sending in turn,
// each get their own replies.
func TestRelayUDPFork(t *testing.T) {
	upstream := serveInProcess(t, "echo", "--proto", "udp", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	relayAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	relay := start(t, "sock", "relay", "-v", "udp-listen:"+relayAddr+",fork", "udp:"+upstream)
	waitListen(t, "udp", relayAddr)
	clients := []*socket.Socket{udpClient(t, relayAddr), udpClient(t, relayAddr), udpClient(t, relayAddr)}
	buf := make([]byte, 100)
	for round := 0; round < 3; round++ {
		for i, c := range clients {
			if _, err := c.Send([]byte(fmt.Sprintf("client %d round %d", i, round)), 0); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range clients {
			n, err := c.Recv(buf, 0)
			want := fmt.Sprintf("client %d round %d", i, round)
			if err != nil || string(buf[:n]) != want {
				t.Fatalf("client %d (%v) got %q, %v; want %q\nrelay: %s", i, c.LocalAddr(), buf[:n], err, want, relay.errb.String())
			}
		}
	}
	// Each client had an upstream socket of its own.
	if n := strings.Count(relay.errb.String(), "new sender"); n != 3 {
		t.Errorf("the relay saw %d new senders, want 3:\n%s", n, relay.errb.String())
	}
}

// TestRelayUDPForkIdle: a sender's upstream socket closes after -T of
// silence; the next datagram from it opens a new one.
func TestRelayUDPForkIdle(t *testing.T) {
	upstream := serveInProcess(t, "echo", "--proto", "udp", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	relayAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	relay := start(t, "sock", "relay", "-v", "-T", "0.3", "udp-listen:"+relayAddr+",fork", "udp:"+upstream)
	waitListen(t, "udp", relayAddr)
	c := udpClient(t, relayAddr)
	buf := make([]byte, 100)
	for _, msg := range []string{"before", "after"} {
		c.Send([]byte(msg), 0)
		if n, err := c.Recv(buf, 0); err != nil || string(buf[:n]) != msg {
			t.Fatalf("got %q, %v; want %q", buf[:n], err, msg)
		}
		if msg == "before" {
			// Wait until the relay says the idle sender's socket closed.
			for i := 0; !strings.Contains(relay.errb.String(), "idle"); i++ {
				if i == 1000 {
					t.Fatalf("the idle sender was never let go:\n%s", relay.errb.String())
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	if n := strings.Count(relay.errb.String(), "new sender"); n != 2 {
		t.Errorf("the relay saw %d new senders, want 2 (one before the idle timeout, one after):\n%s", n, relay.errb.String())
	}
}

// TestRelayConnectTimeoutIsNotIdleTimeout: -w bounds the connection to a
// tcp: address, not the relay: a relay quiet for longer than -w goes on
// (it ended with "i/o timeout" when the connect timeout became the
// socket's timeout, after 30 s by default).
func TestRelayConnectTimeoutIsNotIdleTimeout(t *testing.T) {
	upstream := serveInProcess(t, "echo", "--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
	relayAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	relay := start(t, "sock", "relay", "-w", "0.3", "tcp-listen:"+relayAddr, "tcp:"+upstream)
	waitListen(t, "tcp", relayAddr)
	c, err := dialAny(relayAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetTimeout(10 * time.Second)
	buf := make([]byte, 100)
	for _, msg := range []string{"before the pause\n", "after the pause\n"} {
		if msg != "before the pause\n" {
			time.Sleep(time.Second) // the point of the test: longer than -w
		}
		if _, err := c.Sendall([]byte(msg), 0); err != nil {
			t.Fatal(err)
		}
		n, err := c.Recv(buf, 0)
		if err != nil || string(buf[:n]) != msg {
			t.Fatalf("got %q, %v; want %q\nrelay: %s", buf[:n], err, msg, relay.errb.String())
		}
	}
}
