//go:build linux

package socketserver_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// TestBindFailureNoLeak: a bind failure repeated 1,000 times leaks no
// descriptor.
func TestBindFailureNoLeak(t *testing.T) {
	sockettest.LeakCheck(t)
	busy, err := ss.NewTCPServer("127.0.0.1:0", echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Address().String()
	for i := 0; i < 1000; i++ {
		srv, err := ss.NewTCPServer(addr, echoHandler)
		if err == nil {
			srv.Close()
			t.Fatal("second server bound a busy port")
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("bind %d: %v", i, err)
		}
	}
	if _, err := ss.New("sctp", ":0", echoHandler); err == nil {
		t.Fatal("unknown network accepted")
	}
}

func TestDualStack(t *testing.T) {
	if !socket.HasDualStackIPv6() {
		t.Skip("no dual stack")
	}
	srv, err := ss.NewDualStackTCPServer("[::]:0", echoHandler, ss.WithDispatcher(&ss.Goroutines{}))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, srv)
	port := srv.Address().(*socket.Inet6Addr).Port
	for _, host := range []string{"127.0.0.1", "::1"} {
		c, err := net.Dial("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			t.Fatalf("dial %s: %v", host, err)
		}
		c.Write([]byte("hi"))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		c.Close()
	}
}

func TestUnixSocketFileRemoved(t *testing.T) {
	path := sockettest.UnixPath(t, "gone.sock")
	srv, err := ss.NewUnixStreamServer(path, echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, srv)
	stop()
	if _, err := socket.ParseAddr(socket.AF_UNIX, path); err != nil {
		t.Fatal(err)
	}
	// The file is gone, so a new server binds at once...
	srv2, err := ss.NewUnixStreamServer(path, echoHandler)
	if err != nil {
		t.Fatalf("rebinding after Shutdown: %v", err)
	}
	// ...and a stale file left by a crashed server is removed on request.
	fd := srv2.Socket()
	dup, _ := fd.Dup() // keep the file: simulate a crash, no unlink
	dup.Close()
	srv2.Socket().Close() // nothing accepts any more, but the file stays
	if _, err := ss.NewUnixStreamServer(path, echoHandler); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("binding over a stale file without RemoveStale: %v", err)
	}
	srv3, err := ss.New("unix", path, echoHandler, func(s *ss.Server) { s.RemoveStale = true })
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	srv3.Close()
	srv2.Close()
}
