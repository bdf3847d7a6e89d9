//go:build linux

package eventloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

func TestEchoSmoke(t *testing.T) {
	sockettest.LeakCheck(t)
	addr, stop := start(t, &eventloop.Engine{Handler: echo{}, Loops: 2}, "tcp", "127.0.0.1:0")
	for i := 0; i < 4; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		msg := []byte("hello, event loop")
		c.Write(msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != string(msg) {
			t.Fatalf("echo %q, %v", got, err)
		}
		c.Close()
	}
	stop()
}

// TestEchoMatrix: many clients, many messages, over tcp and unix, with one
// and two loops, shared and SO_REUSEPORT accept; every byte checked.
func TestEchoMatrix(t *testing.T) {
	cases := []struct {
		name, network, addr string
		loops               int
		reuse               bool
	}{
		{"tcp/1loop", "tcp", "127.0.0.1:0", 1, false},
		{"tcp/2loops-shared", "tcp", "127.0.0.1:0", 2, false},
		{"tcp/2loops-reuseport", "tcp", "127.0.0.1:0", 2, true},
		{"tcp6/2loops", "tcp6", "[::1]:0", 2, false},
		{"unix/2loops", "unix", "", 2, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			addr := tc.addr
			if tc.network == "unix" {
				addr = sockettest.UnixPath(t, "loop.sock")
			}
			e := &eventloop.Engine{Handler: echo{}, Loops: tc.loops, ReusePort: tc.reuse}
			got, stop := start(t, e, tc.network, addr)
			dialNet := "tcp"
			if tc.network == "unix" {
				dialNet, got = "unix", addr
			}
			var wg sync.WaitGroup
			errs := make(chan error, 20)
			for i := 0; i < 20; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c, err := net.Dial(dialNet, got)
					if err != nil {
						errs <- err
						return
					}
					defer c.Close()
					// Sizes straddle the read buffer and the output chunks.
					for _, size := range []int{1, 64, 4096, 70000, 300000} {
						msg := bytes.Repeat([]byte{byte(i)}, size)
						go c.Write(msg)
						back := make([]byte, size)
						if _, err := io.ReadFull(c, back); err != nil || !bytes.Equal(back, msg) {
							errs <- fmt.Errorf("client %d size %d: %v", i, size, err)
							return
						}
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			stop()
			if st := e.Stats(); st.Accepted != 20 || st.Active != 0 || st.BytesIn != st.BytesOut {
				t.Errorf("stats %+v", st)
			}
		})
	}
}

type panicky struct {
	echo
	cause chan error
}

func (panicky) OnData(c *eventloop.Conn) eventloop.Action {
	if b, _ := c.Peek(-1); bytes.Contains(b, []byte("boom")) {
		c.Write([]byte("half an answer")) // dropped: the connection is reset
		panic(fmt.Errorf("handler: %w", io.ErrUnexpectedEOF))
	}
	return echo{}.OnData(c)
}

func (h panicky) OnClose(c *eventloop.Conn, err error) { h.cause <- err }

// TestPanicResetsOnlyThatConnection: a callback that panics resets its
// connection (the peer sees an RST, and nothing of the output the
// callback wrote), OnClose gets a *PanicError wrapping the panic value,
// the panic is logged, and the other connections are served on.
func TestPanicResetsOnlyThatConnection(t *testing.T) {
	sockettest.LeakCheck(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	h := panicky{cause: make(chan error, 2)}
	e := &eventloop.Engine{Handler: h, Loops: 1, Logger: slog.New(slog.NewTextHandler(lockedW{&logs, &mu}, nil))}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	bad, _ := net.Dial("tcp", addr)
	defer bad.Close()
	good, _ := net.Dial("tcp", addr)
	defer good.Close()
	bad.Write([]byte("boom"))
	bad.SetReadDeadline(time.Now().Add(10 * time.Second))
	if n, err := bad.Read(make([]byte, 64)); n != 0 || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("panicking connection: read %d, %v; want a reset", n, err)
	}
	err := recv(t, h.cause, "OnClose")
	var pe *eventloop.PanicError
	if !errors.As(err, &pe) || pe.Callback != "OnData" || len(pe.Stack) == 0 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("OnClose after a panic got %#v; want a *PanicError from OnData wrapping the panic value", err)
	}
	good.Write([]byte("fine"))
	buf := make([]byte, 4)
	good.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(good, buf); err != nil || string(buf) != "fine" {
		t.Fatalf("the other connection: %q, %v", buf, err)
	}
	mu.Lock()
	if !strings.Contains(logs.String(), "handler panicked") {
		t.Fatalf("panic not logged: %s", logs.String())
	}
	mu.Unlock()
	good.Close()
	stop()
}

// offerProbe takes one byte of "abcd", leaves "bcd" unread, and makes
// the trigger under test happen; the next OnData reports what it sees.
type offerProbe struct {
	eventloop.BaseHandler
	trigger string
	first   *eventloop.Conn // the connection under test; the loop's only goroutine touches it
	calls   int
	paused  chan struct{} // the first OnData has returned its byte's worth
	seen    chan string
}

func (h *offerProbe) OnData(c *eventloop.Conn) eventloop.Action {
	if h.first != nil && c != h.first { // the connection that resumes the first
		c.Discard(-1)
		if err := h.first.ResumeRead(); err != nil {
			h.seen <- "ResumeRead: " + err.Error()
		}
		return eventloop.None
	}
	if n, _ := c.Buffered(); h.calls == 0 && n < 4 {
		return eventloop.None // wait for all of "abcd"
	}
	h.first = c
	if h.calls++; h.calls > 1 {
		b, _ := c.Next(-1)
		h.seen <- string(b)
		return eventloop.None
	}
	c.Next(1)
	switch h.trigger {
	case "Wake":
		go c.Wake()
	case "ResumeRead":
		c.PauseRead()
	case "output drained":
		// An answer well over the high watermark: the handler stops there,
		// as a pipelined server pacing itself by its output does.
		c.Write(make([]byte, 1<<20))
	}
	close(h.paused)
	return eventloop.None
}

// TestUnreadInputOffered: input OnData leaves unread is offered to the
// next OnData whatever triggers it, without new data from the peer:
// Wake, ResumeRead, the output draining.
func TestUnreadInputOffered(t *testing.T) {
	for _, trigger := range []string{"Wake", "ResumeRead", "output drained"} {
		t.Run(trigger, func(t *testing.T) {
			sockettest.LeakCheck(t)
			h := &offerProbe{trigger: trigger, paused: make(chan struct{}), seen: make(chan string, 2)}
			addr, stop := start(t, &eventloop.Engine{Handler: h, Loops: 1, HighWatermark: 64 << 10}, "tcp", "127.0.0.1:0")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte("abcd"))
			switch trigger {
			case "ResumeRead":
				recv(t, h.paused, "the first OnData")
				b, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer b.Close()
				b.Write([]byte("go"))
			case "output drained":
				go io.CopyN(io.Discard, c, 1<<20)
			}
			if got := recv(t, h.seen, "the next OnData"); got != "bcd" {
				t.Fatalf("the next OnData saw %q, want bcd", got)
			}
			c.Close()
			stop()
		})
	}
}
