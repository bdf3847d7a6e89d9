//go:build linux

package reliability_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
)

// TestGracefulShutdown100InFlight: 100 requests are in their handlers,
// each about to send 256 KiB, when Shutdown is called. All 100 complete
// with every byte, and a new connection is refused.
func TestGracefulShutdown100InFlight(t *testing.T) {
	for _, d := range lifecycle {
		t.Run(d.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			body := bytes.Repeat([]byte("0123456789abcdef"), 16<<10) // 256 KiB
			var inHandler sync.WaitGroup
			inHandler.Add(100)
			h := func(ctx context.Context, c net.Conn) error {
				b := make([]byte, 1)
				if _, err := io.ReadFull(c, b); err != nil {
					return err
				}
				inHandler.Done()
				time.Sleep(100 * time.Millisecond) // work in flight: Shutdown starts now
				_, err := c.Write(body)
				return err
			}
			srv := d.start(t, "tcp", "127.0.0.1:0", h, limits{Backlog: 256})
			addr := srv.Addr()
			var complete, truncated atomic.Int64
			var wg sync.WaitGroup
			for i := 0; i < 100; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.DialTimeout("tcp", addr, 5*time.Second)
					if err != nil {
						truncated.Add(1)
						return
					}
					defer c.Close()
					c.SetDeadline(time.Now().Add(60 * time.Second))
					c.Write([]byte("go"))
					got, _ := io.ReadAll(c)
					if bytes.Equal(got, body) {
						complete.Add(1)
					} else {
						truncated.Add(1)
					}
				}()
			}
			inHandler.Wait()
			// How long it takes is a figure, not the point: under the race
			// detector with both cores busy it took 8-18 s (0.2-1.6 s
			// without), and a 20 s deadline cut 50 replies short once.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			start := time.Now()
			if err := srv.Shutdown(t, ctx); err != nil {
				t.Fatalf("Shutdown: %v", err)
			}
			took := time.Since(start)
			wg.Wait()
			figure(t, "shutdown_"+d.name+"_inflight_completed", complete.Load())
			figure(t, "shutdown_"+d.name+"_truncated", truncated.Load())
			figure(t, "shutdown_"+d.name+"_secs", fmt.Sprintf("%.2f", took.Seconds()))
			if complete.Load() != 100 {
				t.Fatalf("%d of 100 in-flight requests completed, %d truncated", complete.Load(), truncated.Load())
			}
			if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
				c.Close()
				t.Fatal("a connection was accepted after Shutdown")
			}
		})
	}
}

// TestSlowReaderWriteTimeout: a client asks for 8 MB and reads none of
// it. WriteTimeout closes it; the server's heap does not grow by what it
// could not send, and other clients are served meanwhile.
func TestSlowReaderWriteTimeout(t *testing.T) {
	for _, d := range lifecycle {
		t.Run(d.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			chunk := make([]byte, 64<<10)
			var closedAfter atomic.Int64
			h := func(ctx context.Context, c net.Conn) error {
				b := make([]byte, 1)
				if _, err := io.ReadFull(c, b); err != nil {
					return nil
				}
				if b[0] == 'q' { // a quick request from a normal client
					_, err := c.Write([]byte("ok"))
					return err
				}
				start := time.Now()
				for sent := 0; sent < 8<<20; sent += len(chunk) {
					if _, err := c.Write(chunk); err != nil {
						closedAfter.Store(int64(time.Since(start)))
						return nil // the write deadline: expected
					}
				}
				return nil
			}
			srv := d.start(t, "tcp", "127.0.0.1:0", h, limits{WriteTimeout: time.Second})
			addr := srv.Addr()
			var before runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			slow, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer slow.Close()
			slow.(*net.TCPConn).SetReadBuffer(64 << 10)
			slow.Write([]byte("s"))
			// Others are served while the slow one is stuck.
			for i := 0; i < 20; i++ {
				c, err := net.DialTimeout("tcp", addr, 2*time.Second)
				if err != nil {
					t.Fatal(err)
				}
				c.SetDeadline(time.Now().Add(2 * time.Second))
				c.Write([]byte("q"))
				got, err := io.ReadAll(c)
				c.Close()
				if string(got) != "ok" {
					t.Fatalf("normal client %d got %q, %v", i, got, err)
				}
			}
			deadline := time.Now().Add(10 * time.Second)
			for closedAfter.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			growth := int64(after.HeapInuse) - int64(before.HeapInuse)
			figure(t, "slowreader_"+d.name+"_closed_after_ms", time.Duration(closedAfter.Load()).Milliseconds())
			figure(t, "slowreader_"+d.name+"_heap_growth_kb", growth>>10)
			if closedAfter.Load() == 0 {
				t.Fatal("the write deadline did not stop the slow reader")
			}
			if growth > 4<<20 {
				t.Errorf("heap grew by %d KB for a client that reads nothing", growth>>10)
			}
		})
	}
}
