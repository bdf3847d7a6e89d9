//go:build linux

package eventloop_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// statsHandler echoes, and panics on "panic".
type statsHandler struct{ eventloop.BaseHandler }

func (statsHandler) OnData(c *eventloop.Conn) eventloop.Action {
	b, _ := c.Next(-1)
	switch {
	case strings.HasPrefix(string(b), "panic"):
		panic("asked to")
	}
	c.Write(b)
	return eventloop.None
}

// TestLoopStats: each loop's counters say what it served: connections
// accepted and open, payload bytes and messages each way, an idle
// timeout and a panicking callback.
func TestLoopStats(t *testing.T) {
	e := &eventloop.Engine{Handler: statsHandler{}, Loops: 1, IdleTimeout: 300 * time.Millisecond,
		Logger: slog.New(slog.DiscardHandler)}
	addr, _ := start(t, e, "tcp", "127.0.0.1:0")
	waitStats := func(what string, ok func(s eventloop.LoopStats) bool) eventloop.LoopStats {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			ls := e.LoopStats()
			if len(ls) == 1 && ok(ls[0]) {
				return ls[0]
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %+v", what, ls)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	// 123456 bytes echoed over one connection.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	payload := make([]byte, 123456)
	go c.Write(payload)
	if _, err := io.ReadFull(c, make([]byte, len(payload))); err != nil {
		t.Fatal(err)
	}
	st := waitStats("echo", func(s eventloop.LoopStats) bool { return s.BytesOut == 123456 })
	if st.Accepted != 1 || st.Open != 1 || st.BytesIn != 123456 || st.MessagesIn == 0 || st.MessagesOut == 0 {
		t.Fatalf("after the echo: %+v", st)
	}
	c.Close()
	waitStats("closed", func(s eventloop.LoopStats) bool { return s.Open == 0 })

	// A client that stays silent times out.
	f, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	waitStats("idle timeout", func(s eventloop.LoopStats) bool { return s.IdleTimeouts == 1 && s.Open == 0 })

	// A panicking callback.
	p, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	p.Write([]byte("panic"))
	waitStats("panic", func(s eventloop.LoopStats) bool { return s.Panics == 1 && s.Open == 0 })
	if got := e.Stats().Accepted; got != 3 {
		t.Fatalf("Stats().Accepted %d, want 3", got)
	}
}

// TestStatsCountLastAnswer: an answer's bytes are in Stats once the
// client has them, with nothing else happening on the engine (no timer,
// no other connection, the client still connected). On io_uring a send's
// completion may wait for the loop's next event, which here does not
// come: the bytes must be counted when the send is made.
func TestStatsCountLastAnswer(t *testing.T) {
	e := &eventloop.Engine{Loops: 1, Handler: echo{}}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	defer stop()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 5)
	for i := 1; i <= 3; i++ {
		if _, err := c.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatal(err)
		}
		sockettest.WaitFor(t, fmt.Sprintf("BytesOut %d and MessagesOut %d after answer %d", 5*i, i, i), func() bool {
			ls := e.LoopStats()
			return e.Stats().BytesOut == uint64(5*i) && len(ls) == 1 && ls[0].BytesOut == uint64(5*i) && ls[0].MessagesOut == uint64(i)
		})
	}
}
