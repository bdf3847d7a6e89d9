//go:build linux

package toxiproxy_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/Shopify/toxiproxy/v2/collectors"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/framed"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// toxiproxy's links can outlive Proxy.Stop with a blackhole toxic (a
// goroutine blocked sending into a channel nobody reads): its own goroutines
// are not counted as ours.
func TestMain(m *testing.M) { sockettest.VerifyTestMain(m, "github.com/Shopify/toxiproxy/") }

func figure(t *testing.T, name string, value any) {
	line := fmt.Sprintf("FIGURE %s=%v", name, value)
	t.Log(line)
	fmt.Println(line)
}

// echoServer is a socketserver echo on the Goroutines dispatcher.
func echoServer(t *testing.T) string {
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		_, err := io.Copy(r.Conn, r.Conn)
		return err
	})
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(&ss.Goroutines{}))
	if err != nil {
		t.Fatal(err)
	}
	srv.Logger = slog.New(slog.DiscardHandler)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeForever() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-errc
	})
	return srv.Address().String()
}

// blockingEchoServer is the same echo on the event-loop engine, through
// eventloop.Blocking (a goroutine per connection on the engine's loops).
// It stops as a server with handlers must: StopAccept (every connection
// accepted has had its OnOpen, which starts its handler), wait until as
// many handlers have returned as the engine accepted, Shutdown.
func blockingEchoServer(t *testing.T) string {
	ln, err := socket.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ln.Getsockname()
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	var returned atomic.Uint64
	ended := make(chan struct{}, 1)
	e := &eventloop.Engine{Loops: 2, Logger: slog.New(slog.DiscardHandler)}
	e.Handler = eventloop.Blocking(context.Background(), func(ctx context.Context, c net.Conn) {
		defer func() {
			returned.Add(1)
			select {
			case ended <- struct{}{}:
			default:
			}
		}()
		io.Copy(c, c)
	})
	errc := make(chan error, 1)
	go func() { errc <- e.Serve(ln) }()
	t.Cleanup(func() {
		e.StopAccept()
		started := e.Stats().Accepted
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for returned.Load() < started && ctx.Err() == nil {
			select {
			case <-ended:
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil || e.Shutdown(ctx) != nil {
			e.Close()
		}
		if err := <-errc; !errors.Is(err, eventloop.ErrEngineClosed) {
			t.Errorf("engine Serve: %v", err)
		}
	})
	return sa.String()
}

// proxy puts toxiproxy in front of upstream with one toxic.
func proxy(t *testing.T, upstream, toxic string) string {
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(prometheus.NewRegistry()), zerolog.Nop())
	srv.Metrics.ProxyMetrics = collectors.NewProxyMetricCollectors()
	p := toxiproxy.NewProxy(srv, t.Name(), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	if toxic != "" {
		if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxic)); err != nil {
			t.Fatal(err)
		}
	}
	return p.Listen
}

var servers = []struct {
	name  string
	start func(t *testing.T) string
}{
	{"goroutines", echoServer},
	{"engine-blocking", blockingEchoServer},
}

// exchange sends n framed messages and reads the echo through a Stream.
func exchange(c net.Conn, id uint64, n, size int) (*framed.Stream, error) {
	s := &framed.Stream{Checker: framed.Checker{ID: id}}
	var out []byte
	for i := 0; i < n; i++ {
		out = framed.Append(out, id, uint32(i), size)
	}
	errc := make(chan error, 1)
	go func() { _, err := c.Write(out); errc <- err }()
	want := len(out)
	buf := make([]byte, 4096)
	got := 0
	for got < want {
		k, err := c.Read(buf)
		got += k
		s.Write(buf[:k])
		if err != nil {
			return s, err
		}
	}
	return s, <-errc
}

func TestToxics(t *testing.T) {
	for _, d := range servers {
		t.Run(d.name, func(t *testing.T) {
			up := d.start(t)

			t.Run("latency", func(t *testing.T) {
				sockettest.LeakCheck(t)
				addr := proxy(t, up, `{"type":"latency","stream":"downstream","attributes":{"latency":100}}`)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				start := time.Now()
				s, err := exchange(c, 1, 10, 100)
				rt := time.Since(start)
				figure(t, "toxi_latency100ms_"+d.name+"_roundtrip_ms", rt.Milliseconds())
				if err != nil || !s.T.Clean() || s.T.OK != 10 {
					t.Fatalf("%v %v", s.T, err)
				}
				if rt < 100*time.Millisecond || rt > 1500*time.Millisecond {
					t.Errorf("round trip %v through 100ms of latency", rt)
				}
			})

			t.Run("slicer", func(t *testing.T) {
				sockettest.LeakCheck(t)
				addr := proxy(t, up, `{"type":"slicer","stream":"upstream","attributes":{"average_size":8,"size_variation":4,"delay":10}}`)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(20 * time.Second))
				s, err := exchange(c, 2, 200, 64)
				figure(t, "toxi_slicer_"+d.name+"_frames_intact", s.T.OK)
				if err != nil || !s.T.Clean() || s.T.OK != 200 {
					t.Fatalf("%v %v", s.T, err)
				}
			})

			t.Run("limit_data", func(t *testing.T) {
				sockettest.LeakCheck(t)
				addr := proxy(t, up, `{"type":"limit_data","stream":"downstream","attributes":{"bytes":1000}}`)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				s, err := exchange(c, 3, 100, 64)
				// The stream is cut after 1000 bytes: the reader must see an
				// end (EOF or reset), and what did arrive must be intact.
				figure(t, "toxi_limit_data_"+d.name+"_error", fmt.Sprintf("%q", errText(err)))
				if err == nil {
					t.Fatal("no error from a stream cut at 1000 bytes")
				}
				if s.T.Corrupt != 0 || s.T.Duplicated != 0 {
					t.Fatalf("damage before the cut: %v", s.T)
				}
			})

			t.Run("reset_peer", func(t *testing.T) {
				sockettest.LeakCheck(t)
				addr := proxy(t, up, `{"type":"reset_peer","stream":"upstream","attributes":{"timeout":0}}`)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				_, err = exchange(c, 4, 1000, 64)
				figure(t, "toxi_reset_peer_"+d.name+"_error", fmt.Sprintf("%q", errText(err)))
				if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) && !errors.Is(err, syscall.EPIPE) {
					t.Fatalf("after reset_peer: %v, want ECONNRESET", err)
				}
			})

			t.Run("blackhole", func(t *testing.T) {
				sockettest.LeakCheck(t)
				addr := proxy(t, up, `{"type":"timeout","stream":"downstream","attributes":{"timeout":0}}`)
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				c.Write(framed.Append(nil, 5, 0, 64))
				const wait = 500 * time.Millisecond
				start := time.Now()
				c.SetReadDeadline(start.Add(wait))
				_, err = c.Read(make([]byte, 64))
				took := time.Since(start)
				figure(t, "toxi_blackhole_"+d.name+"_deadline_ms", took.Milliseconds())
				if !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("read through a blackhole: %v, want a deadline error", err)
				}
				if took < wait || took > wait*11/10+20*time.Millisecond {
					t.Errorf("deadline of %v fired after %v", wait, took)
				}
			})

			// The server is still up and serving after all that.
			c, err := net.Dial("tcp", up)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			if s, err := exchange(c, 9, 10, 32); err != nil || s.T.OK != 10 {
				t.Fatalf("after the toxics: %v %v", s.T, err)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return "none"
	}
	switch {
	case errors.Is(err, syscall.ECONNRESET):
		return "ECONNRESET"
	case errors.Is(err, io.EOF):
		return "EOF"
	case errors.Is(err, syscall.EPIPE):
		return "EPIPE"
	}
	return err.Error()
}
