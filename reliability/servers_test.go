//go:build linux

package reliability_test

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// connHandler serves one connection, as a socketserver handler serves
// r.Conn. Its error is only reported.
type connHandler func(ctx context.Context, c net.Conn) error

// limits are the server settings the reliability cases use; each kind of
// server applies them its own way.
type limits struct {
	IdleTimeout    time.Duration // close a connection silent this long
	WriteTimeout   time.Duration // bound each write
	RequestTimeout time.Duration // bound a whole connection
	MaxConnections int           // close connections beyond this many at once
	Backlog        int           // the listen queue; 0 means 1024
}

// A serverKind runs a connHandler on a TCP or Unix listener.
type serverKind struct {
	name  string
	start func(t *testing.T, network, addr string, h connHandler, l limits) runningServer
}

// A runningServer is a server under test.
type runningServer interface {
	Addr() string
	// Active is how many connections are open.
	Active() int64
	// Shutdown stops accepting, lets the handlers finish and closes, within
	// ctx; it checks that serving ended as it should.
	Shutdown(t *testing.T, ctx context.Context) error
}

// lifecycle are the servers the lifecycle cases run on: socketserver with
// the Goroutines dispatcher, and the event-loop engine running the same
// handlers through eventloop.Blocking (a goroutine per connection on the
// engine's loops), on epoll and on io_uring, stopped the way a server with
// handlers must be: StopAccept, wait for the handlers, Shutdown.
var lifecycle = []serverKind{goroutinesKind, blockingKind, blockingURingKind}

var goroutinesKind = serverKind{"goroutines", func(t *testing.T, network, addr string, h connHandler, l limits) runningServer {
	t.Helper()
	backlog := l.Backlog
	if backlog == 0 {
		backlog = 1024
	}
	srv, err := ss.New(network, addr, ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		return h(ctx, r.Conn)
	}), ss.WithDispatcher(&ss.Goroutines{}), ss.WithBacklog(backlog))
	if err != nil {
		t.Fatal(err)
	}
	srv.Logger = slog.New(slog.DiscardHandler)
	srv.IdleTimeout, srv.WriteTimeout, srv.RequestTimeout = l.IdleTimeout, l.WriteTimeout, l.RequestTimeout
	srv.MaxConnections = l.MaxConnections
	s := &ssServer{srv: srv, errc: make(chan error, 1)}
	go func() { s.errc <- srv.ServeForever() }()
	t.Cleanup(func() { s.stop(t) })
	return s
}}

type ssServer struct {
	srv     *ss.Server
	errc    chan error
	stopped atomic.Bool
}

func (s *ssServer) Addr() string  { return s.srv.Address().String() }
func (s *ssServer) Active() int64 { return s.srv.Stats().Active }
func (s *ssServer) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s.Shutdown(t, ctx)
}

func (s *ssServer) Shutdown(t *testing.T, ctx context.Context) error {
	if !s.stopped.CompareAndSwap(false, true) {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if serr := <-s.errc; !errors.Is(serr, ss.ErrServerClosed) {
		t.Errorf("Serve: %v", serr)
	}
	return err
}

var (
	blockingKind = blockingOn("engine-blocking", eventloop.BackendEpoll)
	// The engine on io_uring where it can run (auto: epoll elsewhere; CI
	// requires io_uring, see .ci/run).
	blockingURingKind = blockingOn("engine-blocking-uring", eventloop.BackendAuto)
)

// blockingOn is the engine with a Blocking handler on backend be.
func blockingOn(name string, be eventloop.Backend) serverKind {
	return serverKind{name, func(t *testing.T, network, addr string, h connHandler, l limits) runningServer {
		return startBlocking(t, be, network, addr, h, l)
	}}
}

func startBlocking(t *testing.T, be eventloop.Backend, network, addr string, h connHandler, l limits) runningServer {
	t.Helper()
	backlog := l.Backlog
	if backlog == 0 {
		backlog = 1024
	}
	ln, err := socket.Listen(network, addr, &socket.ListenOptions{Backlog: backlog})
	if err != nil {
		t.Fatal(err)
	}
	sa, err := ln.Getsockname()
	if err != nil {
		ln.Close()
		t.Fatal(err)
	}
	b := &blockingServer{addr: sa.String(), errc: make(chan error, 1), ended: make(chan struct{}, 1)}
	b.e = &eventloop.Engine{Loops: 2, IdleTimeout: l.IdleTimeout, MaxConns: l.MaxConnections,
		Logger: slog.New(slog.DiscardHandler), Backend: be}
	b.e.Handler = eventloop.Blocking(context.Background(), func(ctx context.Context, c net.Conn) {
		defer b.end()
		if l.RequestTimeout > 0 {
			c.SetDeadline(time.Now().Add(l.RequestTimeout))
		}
		if l.WriteTimeout > 0 {
			c = &writeTimeoutConn{Conn: c, d: l.WriteTimeout}
		}
		h(ctx, c)
	})
	go func() { b.errc <- b.e.Serve(ln) }()
	t.Cleanup(func() { b.stop(t) })
	return b
}

// blockingServer is the engine with a Blocking handler.
type blockingServer struct {
	e       *eventloop.Engine
	addr    string
	errc    chan error
	done    atomic.Uint64 // handlers that have returned
	ended   chan struct{} // a handler returned
	stopped atomic.Bool
}

func (b *blockingServer) end() {
	b.done.Add(1)
	select {
	case b.ended <- struct{}{}:
	default:
	}
}

func (b *blockingServer) Addr() string  { return b.addr }
func (b *blockingServer) Active() int64 { return b.e.Stats().Active }

func (b *blockingServer) stop(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b.Shutdown(t, ctx)
}

// Shutdown stops the engine accepting, waits for every handler it started
// (every accepted connection has had its OnOpen when StopAccept returns),
// then shuts the engine down; if ctx ends first, it closes it.
func (b *blockingServer) Shutdown(t *testing.T, ctx context.Context) error {
	if !b.stopped.CompareAndSwap(false, true) {
		return nil
	}
	b.e.StopAccept()
	started := b.e.Stats().Accepted
	var err error
	for b.done.Load() < started && err == nil {
		select {
		case <-b.ended:
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		b.e.Close()
	} else if err = b.e.Shutdown(ctx); err != nil {
		t.Errorf("engine Shutdown: %v", err)
	}
	if serr := <-b.errc; !errors.Is(serr, eventloop.ErrEngineClosed) {
		t.Errorf("engine Serve: %v", serr)
	}
	return err
}

// writeTimeoutConn gives each write its own deadline: WriteTimeout.
type writeTimeoutConn struct {
	net.Conn
	d time.Duration
}

func (c *writeTimeoutConn) Write(p []byte) (int, error) {
	c.Conn.SetWriteDeadline(time.Now().Add(c.d))
	return c.Conn.Write(p)
}

// waitFor waits until cond holds, failing the test after 20 seconds: for
// states that only a poll can see (a counter another process moves).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
