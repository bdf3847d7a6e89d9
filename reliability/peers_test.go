//go:build linux

package reliability_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
)

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
			h := func(ctx context.Context, c net.Conn) error {
				buf := make([]byte, 1)
				if _, err := io.ReadFull(c, buf); err != nil {
					return nil
				}
				if buf[0] == 'p' {
					chunk := make([]byte, 64<<10)
					for {
						if _, err := c.Write(chunk); err != nil {
							return nil // EPIPE or ECONNRESET: the peer is gone
						}
					}
				}
				io.Copy(io.Discard, c)
				return nil
			}
			// The idle timeout is a backstop only: a killed peer's connection
			// must close from its FIN or RST, well within the 5 s checked below.
			srv := d.start(t, "tcp", "127.0.0.1:0", h, limits{IdleTimeout: time.Minute})
			_, port, _ := net.SplitHostPort(srv.Addr())
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
			waitFor(t, "the four peers' connections", func() bool { return srv.Active() >= 4 })
			time.Sleep(100 * time.Millisecond) // the pushers fill their buffers
			start := time.Now()
			for _, c := range procs {
				c.Process.Kill()
				c.Wait()
			}
			for srv.Active() > 0 {
				if time.Since(start) > 5*time.Second {
					t.Fatalf("%d connections of killed peers still open after 5s", srv.Active())
				}
				time.Sleep(5 * time.Millisecond)
			}
			figure(t, "peer_kill9_"+d.name+"_closed_after_ms", time.Since(start).Milliseconds())
			// Still serving.
			c, err := net.DialTimeout("tcp", srv.Addr(), 3*time.Second)
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
			h := func(ctx context.Context, c net.Conn) error {
				n := now.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				c.Write([]byte("in\n"))
				select {
				case <-release:
				case <-ctx.Done():
				}
				now.Add(-1)
				return nil
			}
			srv := d.start(t, "tcp", "127.0.0.1:0", h, limits{MaxConnections: 100})
			var wg sync.WaitGroup
			var served, turned atomic.Int64
			var slowest atomic.Int64
			for i := 0; i < 300; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					start := time.Now()
					c, err := net.DialTimeout("tcp", srv.Addr(), 5*time.Second)
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
