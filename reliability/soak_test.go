//go:build linux

package reliability_test

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/framed"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

var soakConns = flag.Int("soak-conns", 100, "connections in the stream soak tests (CI: 500)")

// A target is a server under test: it serves echo on network and returns
// its address and a stop function.
type target struct {
	name  string
	start func(t *testing.T, network, addr string) (string, func())
	tls   bool // the clients speak TLS (the test PKI's CA)
}

func echoStream(ctx context.Context, r *ss.Request) error {
	_, err := io.Copy(r.Conn, r.Conn)
	return err
}

// serverTarget is a socketserver.Server running h with the dispatcher d
// makes (the backlog matters to streams only).
func serverTarget(name string, h ss.HandlerFunc, d func() ss.Dispatcher) target {
	return target{name: name, start: func(t *testing.T, network, addr string) (string, func()) {
		srv, err := ss.New(network, addr, h, ss.WithDispatcher(d()), ss.WithBacklog(1024))
		if err != nil {
			t.Fatal(err)
		}
		srv.Logger = slog.New(slog.DiscardHandler)
		errc := make(chan error, 1)
		go func() { errc <- srv.ServeForever() }()
		return srv.Address().String(), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			if err := <-errc; !errors.Is(err, ss.ErrServerClosed) {
				t.Errorf("Serve: %v", err)
			}
		}
	}}
}

type engineEcho struct{ eventloop.BaseHandler }

func (engineEcho) OnData(c *eventloop.Conn) eventloop.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return eventloop.None
}

func (engineEcho) OnPacket(p *eventloop.Packet) eventloop.Action {
	p.Reply(p.Data)
	return eventloop.None
}

var engineTarget = engineOn("engine", eventloop.BackendEpoll)

// engineOn is the bare engine on backend be (auto: io_uring where it can
// run, epoll elsewhere).
func engineOn(name string, be eventloop.Backend) target {
	return target{name: name, start: func(t *testing.T, network, addr string) (string, func()) {
		return startEngine(t, be, network, addr, nil)
	}}
}

// engineTLSOn is the engine on backend be serving TLS itself (issue 13):
// the handshakes and records on its loops.
func engineTLSOn(name string, be eventloop.Backend) target {
	return target{name: name, tls: true, start: func(t *testing.T, network, addr string) (string, func()) {
		cfg := &tls.Config{Certificates: []tls.Certificate{sockettest.TLSCerts(t).Server}}
		return startEngine(t, be, network, addr, cfg)
	}}
}

func startEngine(t *testing.T, be eventloop.Backend, network, addr string, tlsCfg *tls.Config) (string, func()) {
	e := &eventloop.Engine{Handler: engineEcho{}, Loops: 2, Logger: slog.New(slog.DiscardHandler), Backend: be, TLSConfig: tlsCfg}
	ln, err := socket.Listen(network, addr, &socket.ListenOptions{Backlog: 1024})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ln.Getsockname()
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- e.Serve(ln) }()
	return sa.String(), func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, eventloop.ErrEngineClosed) {
			t.Errorf("Serve: %v", err)
		}
	}
}

// blockingTarget is the engine running io.Copy echo through
// eventloop.Blocking: a goroutine per connection on the engine's loops.
func blockingTarget(kind serverKind) target {
	return target{name: kind.name, start: func(t *testing.T, network, addr string) (string, func()) {
		srv := kind.start(t, network, addr, func(ctx context.Context, c net.Conn) error {
			_, err := io.Copy(c, c)
			return err
		}, limits{})
		return srv.Addr(), func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			srv.Shutdown(t, ctx)
		}
	}}
}

// The servers the stream soak runs on. Synchronous serves one connection
// at a time and Prefork is the Goroutines dispatcher in each child; the
// echo and lifecycle matrix of socketserver covers both.
var streamTargets = []target{
	serverTarget("goroutines", echoStream, func() ss.Dispatcher { return &ss.Goroutines{} }),
	serverTarget("workerpool", echoStream, func() ss.Dispatcher { return ss.WorkerPool(1024) }),
	blockingTarget(blockingKind),
	blockingTarget(blockingURingKind),
	engineTarget,
	engineOn("engine-uring", eventloop.BackendAuto),
	engineTLSOn("engine-tls", eventloop.BackendEpoll),
	engineTLSOn("engine-uring-tls", eventloop.BackendAuto),
}

func soakLength() (time.Duration, bool) {
	if *soakDur > 0 {
		return *soakDur, true
	}
	return 2 * time.Second, false
}

// TestSoakStream holds conns connections, each with 4 framed 64-byte
// messages in flight, for the soak duration, and checks every message.
func TestSoakStream(t *testing.T) {
	dur, full := soakLength()
	for _, tg := range streamTargets {
		for _, network := range []string{"tcp", "unix"} {
			t.Run(tg.name+"/"+network, func(t *testing.T) {
				sockettest.LeakCheck(t)
				addr := "127.0.0.1:0"
				if network == "unix" {
					addr = sockettest.UnixPath(t, "soak.sock")
				}
				got, stop := tg.start(t, network, addr)
				defer stop()
				var tlsCfg *tls.Config
				if tg.tls {
					tlsCfg = &tls.Config{RootCAs: sockettest.TLSCerts(t).CAPool, ServerName: "localhost"}
				}
				tally, rate, err := soakClients(network, got, *soakConns, 4, 64, dur, tlsCfg)
				if err != nil {
					t.Fatal(err)
				}
				key := fmt.Sprintf("soak_%s_%s_%dconns", tg.name, network, *soakConns)
				figure(t, key+"_msgs_per_s", int(rate))
				figure(t, key+"_lost", tally.Lost)
				figure(t, key+"_duplicated", tally.Duplicated)
				figure(t, key+"_corrupt", tally.Corrupt)
				if !tally.Clean() || tally.OK == 0 {
					t.Fatalf("%v", tally)
				}
				// TLS: the clients' crypto/tls runs in this process too.
				floor := 20000.0
				if tg.tls {
					floor = 5000
				}
				if full && *soakConns >= 500 && !raceEnabled && rate < floor {
					t.Errorf("%d connections held %.0f msgs/s, want at least %.0f", *soakConns, rate, floor)
				}
			})
		}
	}
}

// soakClients runs n framed connections for d and returns what they saw
// and the rate of intact messages.
func soakClients(network, addr string, n, depth, size int, d time.Duration, tlsCfg *tls.Config) (framed.Tally, float64, error) {
	var total framed.Tally
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, n)
	start := time.Now()
	end := start.Add(d)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(id uint64) {
			defer wg.Done()
			tl, err := soakConn(network, addr, id, depth, size, end, tlsCfg)
			if err != nil {
				errs <- fmt.Errorf("connection %d: %w", id, err)
			}
			mu.Lock()
			total.Add(tl)
			mu.Unlock()
		}(uint64(i + 1))
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		return total, 0, err
	}
	return total, float64(total.OK) / elapsed.Seconds(), nil
}

// soakConn keeps depth frames in flight on one connection until end, then
// half-closes (with TLS: sends close_notify) and reads the rest of the
// echo.
func soakConn(network, addr string, id uint64, depth, size int, end time.Time, tlsCfg *tls.Config) (framed.Tally, error) {
	var c net.Conn
	var err error
	for try := 0; try < 50; try++ { // a full accept queue drops the SYN: retry
		if c, err = net.DialTimeout(network, addr, 3*time.Second); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		return framed.Tally{}, err
	}
	defer c.Close()
	c.SetDeadline(end.Add(20 * time.Second))
	if tlsCfg != nil {
		tc := tls.Client(c, tlsCfg)
		if err := tc.Handshake(); err != nil {
			return framed.Tally{}, fmt.Errorf("TLS handshake: %w", err)
		}
		c = tc
	}
	credit := make(chan struct{}, depth)
	s := &framed.Stream{Checker: framed.Checker{ID: id}}
	readDone := make(chan error, 1)
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := c.Read(buf)
			before := s.T.OK + s.T.Corrupt + s.T.Duplicated
			s.Write(buf[:n])
			for got := s.T.OK + s.T.Corrupt + s.T.Duplicated - before; got > 0; got-- {
				select {
				case <-credit:
				default:
				}
			}
			if err != nil {
				if errors.Is(err, io.EOF) {
					err = nil
				}
				readDone <- err
				return
			}
		}
	}()
	var seq uint32
	frame := make([]byte, 0, framed.HeaderSize+size)
	for time.Now().Before(end) {
		credit <- struct{}{}
		frame = framed.Append(frame[:0], id, seq, size)
		if _, err := c.Write(frame); err != nil {
			return s.T, fmt.Errorf("write seq %d: %w", seq, err)
		}
		seq++
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	rerr := <-readDone
	s.Missing(seq)
	if p := s.Partial(); p > 0 {
		s.T.Corrupt++ // a frame cut short
	}
	return s.T, rerr
}
