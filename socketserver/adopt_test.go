//go:build linux

package socketserver_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// TestAdopt: a server serves a socket bound elsewhere, listening or not,
// and refuses a second socket, a nil one and a raw one.
func TestAdopt(t *testing.T) {
	echo := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		_, err := io.Copy(r.Conn, r.Conn)
		return err
	})
	for _, listening := range []bool{true, false} {
		sock, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		addr, _ := socket.ParseAddr(socket.AF_INET, "127.0.0.1:0")
		if err := sock.Bind(addr); err != nil {
			t.Fatal(err)
		}
		if listening {
			if err := sock.Listen(16); err != nil {
				t.Fatal(err)
			}
		}
		srv := &ss.Server{Handler: echo}
		if err := srv.Adopt(sock); err != nil {
			t.Fatalf("Adopt(listening=%v): %v", listening, err)
		}
		if err := srv.Adopt(sock); err == nil {
			t.Error("a second Adopt succeeded")
		}
		if err := srv.Activate(); err != nil {
			t.Fatalf("Activate: %v", err)
		}
		serve(t, srv)
		c, err := net.Dial("tcp", srv.Address().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("adopted"))
		buf := make([]byte, 7)
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "adopted" {
			t.Fatalf("echo through the adopted socket: %q, %v", buf, err)
		}
		c.Close()
	}
	srv := &ss.Server{Handler: echo}
	if err := srv.Adopt(nil); err == nil {
		t.Error("Adopt(nil) succeeded")
	}
}

// TestAdoptConnected: a connected stream socket (what systemd's
// Accept=yes passes) is refused by Adopt with an error that says so,
// instead of failing later in listen(2) with EINVAL.
func TestAdoptConnected(t *testing.T) {
	a, b, err := socket.Socketpair(socket.AF_UNIX, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	defer b.Close()
	srv := &ss.Server{Handler: ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error { return nil })}
	err = srv.Adopt(a)
	if err == nil || !strings.Contains(err.Error(), "connected stream socket") {
		t.Fatalf("Adopt(connected) = %v; want an error naming a connected socket", err)
	}
}
