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

// stopper calls StopAccept from inside a callback when it reads "stop".
type stopper struct {
	echo
	e *eventloop.Engine
}

func (s *stopper) OnData(c *eventloop.Conn) eventloop.Action {
	if string(c.Peek(-1)) == "stop" {
		c.Discard(-1)
		s.e.StopAccept() // on a loop: must not wait for itself
		c.Write([]byte("stopped"))
		return eventloop.None
	}
	return s.echo.OnData(c)
}

// TestStopAccept: StopAccept called from a callback returns, open
// connections keep being served, and new ones are not taken.
func TestStopAccept(t *testing.T) {
	sockettest.LeakCheck(t)
	h := &stopper{}
	e := &eventloop.Engine{Handler: h, Loops: 2}
	h.e = e
	addr, _ := start(t, e, "tcp", "127.0.0.1:0")
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
	before := e.Stats().Accepted
	// The listener is still open (the kernel may complete the handshake),
	// but no loop takes the connection: nothing is echoed within a while.
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
}
