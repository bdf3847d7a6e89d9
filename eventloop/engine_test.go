//go:build linux

package eventloop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// oneShot writes data to each new connection.
type oneShot struct {
	eventloop.BaseHandler
	data   []byte
	opened chan *eventloop.Conn
}

func (o *oneShot) OnOpen(c *eventloop.Conn) eventloop.Action {
	c.Write(o.data)
	o.opened <- c
	return eventloop.None
}

// TestShutdownDrains: Shutdown sends pending output before closing.
func TestShutdownDrains(t *testing.T) {
	sockettest.LeakCheck(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	h := &oneShot{data: data, opened: make(chan *eventloop.Conn, 1)}
	e := &eventloop.Engine{Handler: h, Loops: 1, HighWatermark: 64 << 20}
	addr, _ := start(t, e, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := recv(t, h.opened, "OnOpen")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.Shutdown(ctx)
	}()
	// The client reads only once Shutdown has begun.
	waitFor(t, "Shutdown to begin", func() bool {
		return errors.Is(sc.AsyncWrite(nil, nil), eventloop.ErrEngineClosed)
	})
	got, err := io.ReadAll(c)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("received %d of %d bytes, %v", len(got), len(data), err)
	}
	if err := recv(t, done, "Shutdown"); err != nil {
		t.Fatal(err)
	}
}

// TestClose: Close is immediate: open connections are closed at once.
func TestClose(t *testing.T) {
	sockettest.LeakCheck(t)
	h := &opened{ch: make(chan *eventloop.Conn, 1)}
	e := &eventloop.Engine{Handler: h, Loops: 1}
	addr, _ := start(t, e, "tcp", "127.0.0.1:0")
	a, _ := net.Dial("tcp", addr)
	defer a.Close()
	recv(t, h.ch, "OnOpen")
	e.Close()
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after Close")
	}
}

// stopper stops accepting from inside a callback when it reads "stop":
// with Engine.StopAccept, or by returning StopAccepting.
type stopper struct {
	echo
	e      *eventloop.Engine
	action bool
}

func (s *stopper) OnData(c *eventloop.Conn) eventloop.Action {
	if b, _ := c.Peek(-1); string(b) == "stop" {
		c.Discard(-1)
		c.Write([]byte("stopped"))
		if s.action {
			return eventloop.StopAccepting
		}
		s.e.StopAccept() // on a loop: must not wait for itself
		return eventloop.None
	}
	return s.echo.OnData(c)
}

// TestStopAccept: StopAccept called from a callback returns, and so does
// a callback returning StopAccepting; open connections keep being
// served, and new ones are not taken.
func TestStopAccept(t *testing.T) {
	for _, action := range []bool{false, true} {
		t.Run(map[bool]string{false: "method", true: "action"}[action], func(t *testing.T) {
			sockettest.LeakCheck(t)
			h := &stopper{action: action}
			e := &eventloop.Engine{Handler: h, Loops: 2}
			h.e = e
			addr, stop := start(t, e, "tcp", "127.0.0.1:0")
			a, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			a.SetDeadline(time.Now().Add(10 * time.Second))
			if _, err := a.Write([]byte("stop")); err != nil {
				t.Fatal(err)
			}
			got := make([]byte, 7)
			if _, err := io.ReadFull(a, got); err != nil || string(got) != "stopped" {
				t.Fatalf("reply %q, %v", got, err)
			}
			if _, err := a.Write([]byte("still here")); err != nil {
				t.Fatal(err)
			}
			got = make([]byte, 10)
			if _, err := io.ReadFull(a, got); err != nil || string(got) != "still here" {
				t.Fatalf("echo after StopAccept %q, %v", got, err)
			}
			// From a callback StopAccept does not wait for the other loop
			// (on io_uring its multishot accept may still take a
			// connection until its cancellation ends); from here it does.
			e.StopAccept()
			before := e.Stats().Accepted
			// The listener is still open (the kernel may complete the
			// handshake), but no loop takes the connection: nothing is
			// echoed within a while.
			b, err := net.Dial("tcp", addr)
			if err == nil {
				defer b.Close()
				b.Write([]byte("x"))
				b.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				if n, _ := b.Read(make([]byte, 1)); n != 0 {
					t.Fatal("a connection was served after StopAccept")
				}
			}
			if e.Stats().Accepted != before {
				t.Fatalf("accepted %d after StopAccept", e.Stats().Accepted-before)
			}
			a.Close()
			stop()
		})
	}
}

// TestReady: Ready is closed once Serve serves (Addr is set by then, and
// a client is served), and also when Serve fails, so that waiting on it
// never hangs; it may be asked for before Serve.
func TestReady(t *testing.T) {
	t.Run("serving", func(t *testing.T) {
		sockettest.LeakCheck(t)
		e := &eventloop.Engine{Handler: echo{}, Loops: 2}
		ready := e.Ready() // before Serve
		served := make(chan error, 1)
		go func() { served <- e.ListenAndServe("tcp", "127.0.0.1:0") }()
		recv(t, ready, "Ready")
		if e.Addr() == nil {
			t.Fatal("Ready, but Addr is nil")
		}
		c, err := net.Dial("tcp", e.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte("hi"))
		got := make([]byte, 2)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != "hi" {
			t.Fatalf("echo %q, %v", got, err)
		}
		c.Close()
		e.Shutdown(context.Background())
		if err := recv(t, served, "Serve"); !errors.Is(err, eventloop.ErrEngineClosed) {
			t.Fatalf("Serve = %v", err)
		}
	})
	for _, tc := range []struct {
		name  string
		serve func(e *eventloop.Engine) error
	}{
		{"no handler", func(e *eventloop.Engine) error {
			e.Handler = nil
			ln, _ := listener(t)
			return e.Serve(ln)
		}},
		{"address in use", func(e *eventloop.Engine) error {
			ln, addr := listener(t)
			defer ln.Close()
			return e.ListenAndServe("tcp", addr)
		}},
		{"closed first", func(e *eventloop.Engine) error {
			e.Close()
			ln, _ := listener(t)
			return e.Serve(ln)
		}},
	} {
		t.Run("failing/"+tc.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			e := &eventloop.Engine{Handler: echo{}, Loops: 1}
			served := make(chan error, 1)
			go func() { served <- tc.serve(e) }()
			recv(t, e.Ready(), "Ready after a failing Serve")
			if err := recv(t, served, "Serve"); err == nil {
				t.Fatal("Serve succeeded")
			}
			if e.Addr() != nil {
				t.Fatalf("Addr = %v after a failed Serve", e.Addr())
			}
		})
	}
}

// shutdownWaiter keeps its connection's output pending: the client reads
// nothing, so a graceful Shutdown cannot finish. Woken, it calls Close.
type shutdownWaiter struct {
	eventloop.BaseHandler
	opened chan *eventloop.Conn
	e      *eventloop.Engine
}

func (h *shutdownWaiter) OnOpen(c *eventloop.Conn) eventloop.Action {
	c.Write(make([]byte, 32<<20)) // more than the socket buffers take
	h.opened <- c
	return eventloop.None
}

func (h *shutdownWaiter) OnData(c *eventloop.Conn) eventloop.Action {
	h.e.Close() // a Close from a callback (Wake's OnData)
	return eventloop.None
}

// TestCloseReleasesShutdown: a Shutdown waiting for output that a client
// does not read returns once Close is called, from another goroutine or
// from a callback, and Serve returns.
func TestCloseReleasesShutdown(t *testing.T) {
	for _, from := range []string{"goroutine", "callback"} {
		t.Run(from, func(t *testing.T) {
			sockettest.LeakCheck(t)
			h := &shutdownWaiter{opened: make(chan *eventloop.Conn, 1)}
			e := &eventloop.Engine{Handler: h, Loops: 1, HighWatermark: 64 << 20}
			h.e = e
			ln, addr := listener(t)
			served := make(chan error, 1)
			go func() { served <- e.Serve(ln) }()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			sc := recv(t, h.opened, "OnOpen")
			shut := make(chan error, 1)
			go func() { shut <- e.Shutdown(context.Background()) }()
			select {
			case err := <-shut:
				t.Fatalf("Shutdown returned %v with output pending", err)
			case <-time.After(100 * time.Millisecond):
			}
			if from == "goroutine" {
				e.Close()
			} else if err := sc.Wake(); err != nil {
				t.Fatal(err)
			}
			if err := recv(t, shut, "Shutdown"); err != nil {
				t.Fatalf("Shutdown = %v", err)
			}
			if err := recv(t, served, "Serve"); !errors.Is(err, eventloop.ErrEngineClosed) {
				t.Fatalf("Serve = %v", err)
			}
		})
	}
}
