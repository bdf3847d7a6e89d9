//go:build linux

package eventloop_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

// These are the cases socketserver's echo and lifecycle matrix ran on the
// engine while socketserver could serve on it (its EventLoop dispatcher):
// goroutine-per-connection handlers through Blocking, on every stream
// transport, started and stopped the way a server with handlers is.

// blockingServer runs serve through Blocking on a listener opened with
// socket.Listen, and counts the handlers that have returned.
type blockingServer struct {
	e     *eventloop.Engine
	addr  socket.Sockaddr
	errc  chan error
	done  atomic.Uint64
	ended chan struct{}
}

func startBlocking(t *testing.T, network, addr string, backlog int, serve func(ctx context.Context, c net.Conn)) *blockingServer {
	t.Helper()
	ln, err := socket.Listen(network, addr, &socket.ListenOptions{Backlog: backlog})
	if err != nil {
		t.Fatal(err)
	}
	b := &blockingServer{errc: make(chan error, 1), ended: make(chan struct{}, 1)}
	if b.addr, err = ln.Getsockname(); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	b.e = &eventloop.Engine{Loops: 2, Handler: eventloop.Blocking(context.Background(), func(ctx context.Context, c net.Conn) {
		defer func() {
			b.done.Add(1)
			select {
			case b.ended <- struct{}{}:
			default:
			}
		}()
		serve(ctx, c)
	})}
	go func() { b.errc <- b.e.Serve(ln) }()
	return b
}

// shutdown stops accepting, waits for every handler started (each accepted
// connection has had its OnOpen, which starts one, when StopAccept
// returns), then shuts the engine down.
func (b *blockingServer) shutdown(t *testing.T) {
	t.Helper()
	b.e.StopAccept()
	started := b.e.Stats().Accepted
	deadline := time.After(20 * time.Second)
	for b.done.Load() < started {
		select {
		case <-b.ended:
		case <-deadline:
			b.e.Close()
			t.Fatalf("%d of %d handlers returned in 20s", b.done.Load(), started)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := b.e.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-b.errc; !errors.Is(err, eventloop.ErrEngineClosed) {
		t.Errorf("Serve = %v", err)
	}
}

// TestBlockingEchoMatrix: echo through Blocking over tcp4, tcp6, unix and
// unixpacket (message boundaries kept), six clients at once.
func TestBlockingEchoMatrix(t *testing.T) {
	for _, tc := range []struct{ network, addr string }{
		{"tcp4", "127.0.0.1:0"},
		{"tcp6", "[::1]:0"},
		{"unix", "PATH"},
		{"unixpacket", "PATH"},
	} {
		t.Run(tc.network, func(t *testing.T) {
			if tc.network == "tcp6" && !socket.HasIPv6() {
				t.Skip("no IPv6 loopback")
			}
			sockettest.LeakCheck(t)
			addr := tc.addr
			if addr == "PATH" {
				addr = sockettest.UnixPath(t, "b.sock")
			}
			srv := startBlocking(t, tc.network, addr, 16, func(ctx context.Context, c net.Conn) {
				buf := make([]byte, 64<<10)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			})
			var wg sync.WaitGroup
			errs := make(chan error, 6)
			for i := range 6 {
				c, err := socket.New(srv.addr.Family(), mustType(t, tc.network), 0)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetTimeout(10 * time.Second)
				if err := c.Connect(srv.addr); err != nil {
					t.Fatal(err)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range 20 {
						msg := []byte(fmt.Sprintf("client %d message %d", i, j))
						if _, err := c.Sendall(msg, 0); err != nil {
							errs <- err
							return
						}
						got := make([]byte, 0, len(msg))
						for len(got) < len(msg) {
							b := make([]byte, len(msg)+16)
							n, err := c.Recv(b, 0)
							if err != nil || n == 0 {
								errs <- fmt.Errorf("client %d: %d, %v", i, n, err)
								return
							}
							got = append(got, b[:n]...)
						}
						if !bytes.Equal(got, msg) {
							errs <- fmt.Errorf("echo %q, want %q", got, msg)
							return
						}
					}
					c.CloseWrite()
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			srv.shutdown(t)
			if st := srv.e.Stats(); st.Accepted != 6 || st.Active != 0 {
				t.Errorf("stats after the run: %+v", st)
			}
		})
	}
}

func mustType(t *testing.T, network string) socket.Type {
	_, typ, err := socket.ParseNetwork(network)
	if err != nil {
		t.Fatal(err)
	}
	return typ
}

// TestBlockingShutdownImmediately: Shutdown right after Serve starts stops
// it, fifty times over.
func TestBlockingShutdownImmediately(t *testing.T) {
	sockettest.LeakCheck(t)
	for range 50 {
		srv := startBlocking(t, "tcp", "127.0.0.1:0", 16, func(ctx context.Context, c net.Conn) { io.Copy(c, c) })
		srv.shutdown(t)
	}
}

// TestBlockingShutdownUnderLoad: shut down while 200 clients are sending;
// every connection the engine accepted gets its whole answer.
func TestBlockingShutdownUnderLoad(t *testing.T) {
	sockettest.LeakCheck(t)
	srv := startBlocking(t, "tcp", "127.0.0.1:0", 1024, func(ctx context.Context, c net.Conn) {
		line := make([]byte, 64)
		n, err := io.ReadAtLeast(c, line, 1)
		if err != nil {
			return
		}
		time.Sleep(20 * time.Millisecond) // work in flight while the shutdown starts
		c.Write(append([]byte("done "), line[:n]...))
	})
	const clients = 200
	var completed, refused atomic.Int64
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetTimeout(15 * time.Second)
			if err := c.Connect(srv.addr); err != nil {
				refused.Add(1)
				return
			}
			msg := fmt.Sprintf("request %d", i)
			if _, err := c.Sendall([]byte(msg), 0); err != nil {
				refused.Add(1)
				return
			}
			c.CloseWrite()
			resp, err := io.ReadAll(c)
			if err != nil || len(resp) == 0 {
				refused.Add(1) // reset in the kernel's queue: never accepted
				return
			}
			if string(resp) != "done "+msg {
				t.Errorf("truncated or wrong response %q to %q", resp, msg)
				return
			}
			completed.Add(1)
		}()
	}
	waitFor(t, "fifty accepted connections", func() bool { return srv.e.Stats().Accepted >= 50 })
	srv.shutdown(t)
	wg.Wait()
	accepted := srv.e.Stats().Accepted
	t.Logf("accepted %d, completed %d, not accepted %d", accepted, completed.Load(), refused.Load())
	if accepted != uint64(completed.Load()) {
		t.Fatalf("the engine accepted %d connections but %d completed: accepted requests were lost", accepted, completed.Load())
	}
}
