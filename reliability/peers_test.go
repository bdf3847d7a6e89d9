//go:build linux

package reliability_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	ss "github.com/socketkit/socketkit/socketserver"
)

func startServer(t *testing.T, h ss.Handler, d ss.Dispatcher, setup func(*ss.Server)) (*ss.Server, func()) {
	t.Helper()
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d), ss.WithBacklog(1024))
	if err != nil {
		t.Fatal(err)
	}
	srv.Logger = slog.New(slog.DiscardHandler)
	if setup != nil {
		setup(srv)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeForever() }()
	return srv, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-errc
	}
}

var lifecycle = []struct {
	name string
	make func() ss.Dispatcher
}{
	{"goroutines", func() ss.Dispatcher { return &ss.Goroutines{} }},
	{"eventloop", func() ss.Dispatcher { return &ss.EventLoop{Loops: 2} }},
}

// TestPeerKilled: clients in other processes are killed with SIGKILL in
// the middle of a request (one while the server is sending to it); the
// server closes their connections, keeps serving and leaks nothing.
func TestPeerKilled(t *testing.T) {
	if _, err := exec.LookPath("python3"); err != nil {
		t.Skip("python3 is not installed")
	}
	for _, d := range lifecycle {
		t.Run(d.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			// The server reads a line, then streams until the peer is gone.
			h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
				buf := make([]byte, 1)
				if _, err := io.ReadFull(r.Conn, buf); err != nil {
					return nil
				}
				if buf[0] == 'p' {
					chunk := make([]byte, 64<<10)
					for {
						if _, err := r.Conn.Write(chunk); err != nil {
							return nil // EPIPE or ECONNRESET: the peer is gone
						}
					}
				}
				io.Copy(io.Discard, r.Conn)
				return nil
			})
			srv, stop := startServer(t, h, d.make(), func(s *ss.Server) { s.IdleTimeout = 5 * time.Second })
			defer stop()
			_, port, _ := net.SplitHostPort(srv.Address().String())
			var procs []*exec.Cmd
			for _, mode := range []string{"p", "r", "p", "r"} {
				// Sends its mode byte, then sits there until killed.
				script := fmt.Sprintf(`import socket,sys,time
s=socket.create_connection(("127.0.0.1",%s))
s.sendall(b%q)
print("connected",flush=True)
time.sleep(60)`, port, mode)
				c := exec.Command("python3", "-c", script)
				out, _ := c.StdoutPipe()
				if err := c.Start(); err != nil {
					t.Fatal(err)
				}
				b := make([]byte, 10)
				io.ReadFull(out, b)
				procs = append(procs, c)
			}
			for srv.Stats().Active < 4 {
				time.Sleep(5 * time.Millisecond)
			}
			time.Sleep(100 * time.Millisecond) // the pushers fill their buffers
			start := time.Now()
			for _, c := range procs {
				c.Process.Kill()
				c.Wait()
			}
			for srv.Stats().Active > 0 {
				if time.Since(start) > 5*time.Second {
					t.Fatalf("%d connections of killed peers still open after 5s", srv.Stats().Active)
				}
				time.Sleep(5 * time.Millisecond)
			}
			figure(t, "peer_kill9_"+d.name+"_closed_after_ms", time.Since(start).Milliseconds())
			// Still serving.
			c, err := net.DialTimeout("tcp", srv.Address().String(), 3*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			c.Write([]byte("r"))
			c.Close()
		})
	}
}

// TestConnectionLimit: with MaxConnections 100 and 300 clients at once,
// never more than 100 are handled together; the rest are closed at once
// rather than left hanging.
func TestConnectionLimit(t *testing.T) {
	for _, d := range lifecycle {
		t.Run(d.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			var now, peak atomic.Int64
			release := make(chan struct{})
			h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
				n := now.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				r.Conn.Write([]byte("in\n"))
				select {
				case <-release:
				case <-ctx.Done():
				}
				now.Add(-1)
				return nil
			})
			srv, stop := startServer(t, h, d.make(), func(s *ss.Server) { s.MaxConnections = 100 })
			defer stop()
			var wg sync.WaitGroup
			var served, turned atomic.Int64
			var slowest atomic.Int64
			for i := 0; i < 300; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					c, err := net.DialTimeout("tcp", srv.Address().String(), 5*time.Second)
					if err != nil {
						turned.Add(1)
						return
					}
					defer c.Close()
					c.SetReadDeadline(time.Now().Add(5 * time.Second))
					b := make([]byte, 3)
					if _, err := io.ReadFull(c, b); err == nil {
						served.Add(1)
						<-release
						return
					}
					turned.Add(1)
					if ms := time.Since(start).Milliseconds(); ms > slowest.Load() {
						slowest.Store(ms)
					}
				}()
			}
			for served.Load()+turned.Load() < 300 {
				time.Sleep(10 * time.Millisecond)
				if served.Load() > 100 {
					break
				}
			}
			close(release)
			wg.Wait()
			figure(t, "connlimit_"+d.name+"_peak_handled", peak.Load())
			figure(t, "connlimit_"+d.name+"_turned_away", turned.Load())
			figure(t, "connlimit_"+d.name+"_slowest_refusal_ms", slowest.Load())
			if peak.Load() > 100 || served.Load() > 100 {
				t.Fatalf("%d handled at once (%d served), limit 100", peak.Load(), served.Load())
			}
			if served.Load() != 100 || turned.Load() != 200 {
				t.Fatalf("served %d, turned away %d; want 100 and 200", served.Load(), turned.Load())
			}
			if slowest.Load() > 2000 {
				t.Errorf("a refused client waited %dms", slowest.Load())
			}
		})
	}
}
