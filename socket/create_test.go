//go:build linux

package socket_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

func TestCreateConnection(t *testing.T) {
	sockettest.LeakCheck(t)
	ln, addr := listen(t, streamNets[0])
	ap, _ := socket.AddrPortOf(addr)
	go func() {
		for {
			c, _, err := ln.Accept()
			if err != nil {
				return
			}
			c.Sendall([]byte("hi"), 0)
			c.Close()
		}
	}()
	// "localhost" resolves to ::1 and 127.0.0.1 here; only IPv4 listens, so
	// the IPv6 attempt is refused and the IPv4 one wins.
	c, err := socket.CreateConnection(context.Background(), net.JoinHostPort("localhost", strconv.Itoa(int(ap.Port()))),
		&socket.DialOptions{Timeout: 5 * time.Second, Source: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout() != 5*time.Second {
		t.Errorf("timeout not applied: %v", c.Timeout())
	}
	data, err := io.ReadAll(c)
	c.Close()
	if err != nil || string(data) != "hi" {
		t.Fatalf("read %q, %v", data, err)
	}
	ln.Close()
	// Refused everywhere: AllErrors joins every attempt.
	_, err = socket.CreateConnection(context.Background(), "127.0.0.1:"+strconv.Itoa(int(ap.Port())), &socket.DialOptions{AllErrors: true})
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("CreateConnection to a closed port: %v", err)
	}
	if _, err := socket.CreateConnection(context.Background(), "no port", nil); err == nil {
		t.Fatal("bad address accepted")
	}
}

func TestCreateServerDualStack(t *testing.T) {
	if !socket.HasDualStackIPv6() {
		t.Skip("no dual-stack IPv6")
	}
	sockettest.LeakCheck(t)
	ln, err := socket.CreateServer("[::]:0", &socket.ServerOptions{DualStackIPv6: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if on, _ := ln.ReuseAddr(); !on {
		t.Error("SO_REUSEADDR not set")
	}
	port := ln.LocalAddr().(*net.TCPAddr).Port
	for _, target := range []string{"127.0.0.1", "::1"} {
		c, err := net.Dial("tcp", net.JoinHostPort(target, strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("dial %s: %v", target, err)
		}
		s, from, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("dual-stack server accepted %s as %v", target, from)
		s.Close()
		c.Close()
	}
	if _, err := socket.CreateServer("127.0.0.1:0", &socket.ServerOptions{DualStackIPv6: true}); err == nil {
		t.Fatal("DualStackIPv6 with an IPv4 address accepted")
	}
}
