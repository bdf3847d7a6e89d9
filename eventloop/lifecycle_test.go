//go:build linux

package eventloop_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// lifecycleCall is one of the engine's lifecycle methods as a callback
// would call it.
type lifecycleCall struct {
	name string
	call func(e *eventloop.Engine) error
	// stops: the engine stops after the call (Serve returns).
	stops bool
}

var lifecycleCalls = []lifecycleCall{
	{"Shutdown", func(e *eventloop.Engine) error { return e.Shutdown(context.Background()) }, true},
	{"Shutdown/deadline", func(e *eventloop.Engine) error {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		return e.Shutdown(ctx)
	}, true},
	{"StopAccept", func(e *eventloop.Engine) error { e.StopAccept(); return nil }, false},
	{"Close", func(e *eventloop.Engine) error { return e.Close() }, true},
}

// caller is a handler that makes a lifecycle call from one callback (the
// first time that callback runs) and reports what the call returned.
type caller struct {
	eventloop.BaseHandler
	e        *eventloop.Engine
	from     string
	call     func(e *eventloop.Engine) error
	once     sync.Once
	returned chan error
}

func (h *caller) do(from string) {
	if from == h.from {
		h.once.Do(func() { h.returned <- h.call(h.e) })
	}
}

func (h *caller) OnOpen(c *eventloop.Conn) eventloop.Action {
	h.do("OnOpen")
	if h.from == "OnWritable" {
		c.Write(make([]byte, 256<<10)) // over the low watermark: OnWritable once the client has read it
	}
	return eventloop.None
}

func (h *caller) OnData(c *eventloop.Conn) eventloop.Action {
	c.Discard(-1)
	h.do("OnData")
	return eventloop.None
}

func (h *caller) OnClose(c *eventloop.Conn, err error) { h.do("OnClose") }

func (h *caller) OnWritable(c *eventloop.Conn) eventloop.Action {
	h.do("OnWritable")
	return eventloop.None
}

func (h *caller) OnTick() (time.Duration, eventloop.Action) {
	h.do("OnTick")
	return 10 * time.Millisecond, eventloop.None
}

// TestLifecycleFromCallbacks: Shutdown (with and without a deadline),
// StopAccept and Close called from inside every kind of callback, and
// from a Blocking handler's goroutine, return at once (they never wait
// for the callback that calls them), and do what they say: Shutdown and
// Close stop the engine, StopAccept leaves the connection served.
func TestLifecycleFromCallbacks(t *testing.T) {
	froms := []string{"OnOpen", "OnData", "OnClose", "OnTick", "OnWritable", "Blocking"}
	for _, from := range froms {
		for _, lc := range lifecycleCalls {
			t.Run(from+"/"+lc.name, func(t *testing.T) {
				sockettest.LeakCheck(t)
				h := &caller{from: from, call: lc.call, returned: make(chan error, 1)}
				e := &eventloop.Engine{Handler: h, Loops: 2, HighWatermark: 64 << 10, TickInterval: 10 * time.Millisecond}
				h.e = e
				if from == "Blocking" {
					e.Handler = eventloop.Blocking(context.Background(), func(ctx context.Context, c net.Conn) {
						h.do("Blocking")
						io.Copy(c, c) // echo until the connection ends
					})
				}
				ln, addr := listener(t)
				served := make(chan error, 1)
				go func() { served <- e.Serve(ln) }()
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				switch from {
				case "OnData", "Blocking":
					c.Write([]byte("x"))
				case "OnClose":
					c.Close()
				case "OnWritable":
					go io.Copy(io.Discard, c)
				}
				select {
				case err := <-h.returned:
					if err != nil {
						t.Fatalf("%s from %s returned %v", lc.name, from, err)
					}
				case <-time.After(10 * time.Second):
					t.Fatalf("%s from %s has not returned after 10s", lc.name, from)
				}
				if lc.stops {
					if err := recv(t, served, "Serve to return"); !errors.Is(err, eventloop.ErrEngineClosed) {
						t.Fatalf("Serve = %v", err)
					}
					return
				}
				// StopAccept: the engine still runs; stop it.
				if err := e.Shutdown(context.Background()); err != nil {
					t.Fatal(err)
				}
				recv(t, served, "Serve to return")
			})
		}
	}
}
