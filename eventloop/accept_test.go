//go:build linux

package eventloop_test

import (
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// opened is echo that reports each OnOpen.
type opened struct {
	echo
	ch chan *eventloop.Conn
}

func (h *opened) OnOpen(c *eventloop.Conn) eventloop.Action {
	h.ch <- c
	return eventloop.None
}

// TestMaxConns: a connection over MaxConns is closed at once and counted.
func TestMaxConns(t *testing.T) {
	sockettest.LeakCheck(t)
	h := &opened{ch: make(chan *eventloop.Conn, 2)}
	e := &eventloop.Engine{Handler: h, Loops: 1, MaxConns: 2}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	a, _ := net.Dial("tcp", addr)
	b, _ := net.Dial("tcp", addr)
	defer a.Close()
	defer b.Close()
	recv(t, h.ch, "the first OnOpen")
	recv(t, h.ch, "the second OnOpen")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("third connection: Read = %d, %v; want it closed at once", n, err)
	}
	c.Close()
	// The loop counts the rejection after the close the client has seen.
	waitFor(t, "the rejection counted", func() bool { return e.Stats().Rejected >= 1 })
	if st := e.Stats(); st.Rejected != 1 || st.Active != 2 {
		t.Fatalf("stats %+v", st)
	}
	a.Close()
	b.Close()
	stop()
}

// nodelayProbe reports each new connection's TCP_NODELAY.
type nodelayProbe struct {
	echo
	got chan int
}

func (h *nodelayProbe) OnOpen(c *eventloop.Conn) eventloop.Action {
	v, err := unix.GetsockoptInt(c.Fd(), unix.IPPROTO_TCP, unix.TCP_NODELAY)
	if err != nil {
		v = -1
	}
	h.got <- v
	return eventloop.None
}

// TestNoDelay: accepted TCP connections have TCP_NODELAY unless Nagle is
// asked for.
func TestNoDelay(t *testing.T) {
	for _, nagle := range []bool{false, true} {
		sockettest.LeakCheck(t)
		h := &nodelayProbe{got: make(chan int, 1)}
		e := &eventloop.Engine{Handler: h, Loops: 1, Nagle: nagle}
		addr, stop := start(t, e, "tcp", "127.0.0.1:0")
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		want := 1
		if nagle {
			want = 0
		}
		if v := recv(t, h.got, "OnOpen"); v != want {
			t.Errorf("Nagle=%v: TCP_NODELAY = %d, want %d", nagle, v, want)
		}
		c.Close()
		stop()
	}
}
