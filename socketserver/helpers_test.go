//go:build linux

package socketserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

type transport struct {
	name    string
	network string
	addr    func(t *testing.T) string
}

func loopback4(*testing.T) string { return "127.0.0.1:0" }
func loopback6(t *testing.T) string {
	if !socket.HasIPv6() {
		t.Skip("no IPv6")
	}
	return "[::1]:0"
}
func unixPath(t *testing.T) string { return sockettest.UnixPath(t, "srv.sock") }

var transports = []transport{
	{"tcp4", "tcp", loopback4},
	{"tcp6", "tcp", loopback6},
	{"unix", "unix", unixPath},
	{"unixpacket", "unixpacket", unixPath},
	{"udp4", "udp", loopback4},
	{"udp6", "udp", loopback6},
	{"unixgram", "unixgram", unixPath},
}

type dispatcherCase struct {
	name string
	make func() ss.Dispatcher
}

var dispatchers = []dispatcherCase{
	{"synchronous", func() ss.Dispatcher { return ss.Synchronous{} }},
	{"goroutines", func() ss.Dispatcher { return &ss.Goroutines{} }},
	{"goroutines-max2", func() ss.Dispatcher { return &ss.Goroutines{MaxConcurrent: 2} }},
	{"pool4", func() ss.Dispatcher { return ss.WorkerPool(4) }},
}

// lifecycleDispatchers are the concurrent dispatchers the lifecycle tests
// run over. (The event-loop engine, which socketserver no longer runs on,
// has the same cases in package eventloop.)
var lifecycleDispatchers = []dispatcherCase{dispatchers[1], dispatchers[3]}

// echoHandler echoes a stream connection record by record (so that
// seqpacket keeps its boundaries) or a datagram.
var echoHandler = ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
	if r.Conn == nil {
		return r.Reply(r.Packet)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Conn.Read(buf)
		if n > 0 {
			if _, werr := r.Conn.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
})

// serve starts srv.Serve and returns a function that shuts it down and
// checks that Serve returned ErrServerClosed.
func serve(t *testing.T, srv *ss.Server) (stop func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, ss.ErrServerClosed) {
					t.Errorf("Serve returned %v, want ErrServerClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Serve did not return after Shutdown")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// dial connects a client socket of the server's kind. Datagram clients are
// bound (Unix datagram clients need an address to get replies).
func dial(t *testing.T, srv *ss.Server) *socket.Socket {
	t.Helper()
	addr := srv.Address()
	typ := srv.Socket().Type()
	c, err := socket.New(addr.Family(), typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if typ == socket.SOCK_DGRAM {
		var local socket.Sockaddr
		switch addr.Family() {
		case socket.AF_UNIX:
			local = &socket.UnixAddr{Path: sockettest.UnixPath(t, "client.sock")}
		case socket.AF_INET:
			local = &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}}
		default:
			local = &socket.Inet6Addr{Addr: [16]byte{15: 1}}
		}
		if err := c.Bind(local); err != nil {
			t.Fatal(err)
		}
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Connect(addr); err != nil {
		t.Fatal(err)
	}
	return c
}

// exchange sends msg and reads back len(msg) bytes (one datagram or
// record for message transports).
func exchange(c *socket.Socket, msg []byte) error {
	if _, err := c.Sendall(msg, 0); err != nil {
		return err
	}
	got := make([]byte, len(msg)+16)
	n := 0
	for n < len(msg) {
		m, err := c.Recv(got[n:], 0)
		if err != nil {
			return err
		}
		if m == 0 {
			return io.ErrUnexpectedEOF
		}
		n += m
		if c.Type() != socket.SOCK_STREAM {
			break
		}
	}
	if !bytes.Equal(got[:n], msg) {
		return fmt.Errorf("echo %q, want %q", got[:n], msg)
	}
	return nil
}

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// setupFinish records the stages in order.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// waitFor waits until cond holds, failing the test after 10 seconds: for
// states that only a poll can see (a counter another goroutine moves).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// recv waits for a value on ch, failing the test after 10 seconds.
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}
