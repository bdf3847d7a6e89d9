//go:build linux

package eventloop_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// asyncHandler answers each line from another goroutine, with AsyncWrite.
type asyncHandler struct{ eventloop.BaseHandler }

func (asyncHandler) OnData(c *eventloop.Conn) eventloop.Action {
	b, _ := c.Next(-1)
	line := string(b)
	go c.AsyncWrite([]byte("async:"+line), nil)
	return eventloop.None
}

func TestAsyncWrite(t *testing.T) {
	sockettest.LeakCheck(t)
	addr, stop := start(t, &eventloop.Engine{Handler: asyncHandler{}, Loops: 2}, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	c.Write([]byte("ping\n"))
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil || string(buf[:n]) != "async:ping\n" {
		t.Fatalf("got %q, %v", buf[:n], err)
	}
	c.Close()
	stop()
}

// connCall is one Conn method, called for its error.
type connCall struct {
	name string
	call func(c *eventloop.Conn) error
}

var (
	readCalls = []connCall{
		{"Read", func(c *eventloop.Conn) error { _, err := c.Read(make([]byte, 8)); return err }},
		{"Peek", func(c *eventloop.Conn) error { _, err := c.Peek(-1); return err }},
		{"Next", func(c *eventloop.Conn) error { _, err := c.Next(-1); return err }},
		{"Discard", func(c *eventloop.Conn) error { _, err := c.Discard(-1); return err }},
		{"Buffered", func(c *eventloop.Conn) error { _, err := c.Buffered(); return err }},
	}
	loopCalls = []connCall{
		{"Write", func(c *eventloop.Conn) error { _, err := c.Write([]byte("x")); return err }},
		{"Writev", func(c *eventloop.Conn) error { _, err := c.Writev([][]byte{[]byte("x")}); return err }},
		{"PauseRead", func(c *eventloop.Conn) error { return c.PauseRead() }},
		{"ResumeRead", func(c *eventloop.Conn) error { return c.ResumeRead() }},
		{"CloseWrite", func(c *eventloop.Conn) error { return c.CloseWrite() }},
		{"Close", func(c *eventloop.Conn) error { return c.Close() }},
	}
)

// misuse calls the read methods in OnOpen, where they may not be, and
// hands the connection to the test.
type misuse struct {
	echo
	inOpen map[string]error
	conns  chan *eventloop.Conn
}

func (h *misuse) OnOpen(c *eventloop.Conn) eventloop.Action {
	for _, rc := range readCalls {
		h.inOpen[rc.name] = rc.call(c)
	}
	h.conns <- c
	return eventloop.None
}

// TestWrongLoop: every Conn method that belongs to the loop returns
// ErrWrongLoop where it may not be called: the read methods outside
// OnData, and all of them from another goroutine; the connection is left
// as it was (a Write from elsewhere sends nothing).
func TestWrongLoop(t *testing.T) {
	sockettest.LeakCheck(t)
	h := &misuse{inOpen: map[string]error{}, conns: make(chan *eventloop.Conn, 1)}
	addr, stop := start(t, &eventloop.Engine{Handler: h, Loops: 1}, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	sc := recv(t, h.conns, "OnOpen")
	for _, rc := range readCalls {
		if err := h.inOpen[rc.name]; !errors.Is(err, eventloop.ErrWrongLoop) {
			t.Errorf("%s in OnOpen: %v, want ErrWrongLoop", rc.name, err)
		}
	}
	// From this goroutine, once the loop is out of its callbacks (with
	// nothing to do, it stays out).
	waitFor(t, "the loop to leave OnOpen", func() bool { return !eventloop.InCallback(sc) })
	for _, call := range append(readCalls, loopCalls...) {
		if err := call.call(sc); !errors.Is(err, eventloop.ErrWrongLoop) {
			t.Errorf("%s from another goroutine: %v, want ErrWrongLoop", call.name, err)
		}
	}
	// The connection is untouched: open, nothing sent, and it echoes.
	c.Write([]byte("ping"))
	got := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != "ping" {
		t.Fatalf("after the misuse: %q, %v; want the echo alone", got, err)
	}
	c.Close()
	stop()
}

// closer closes a connection from inside OnData and records the order of
// events around it.
type closer struct {
	eventloop.BaseHandler
	which     string // "self", "self with output", "other"
	mu        sync.Mutex
	log       []string
	victim    *eventloop.Conn
	victimOut chan struct{}
	done      chan struct{}
}

func (h *closer) record(s string) {
	h.mu.Lock()
	h.log = append(h.log, s)
	h.mu.Unlock()
}

func (h *closer) OnOpen(c *eventloop.Conn) eventloop.Action {
	if h.which == "other" && h.victim == nil {
		h.victim = c
		close(h.victimOut)
	}
	return eventloop.None
}

func (h *closer) OnData(c *eventloop.Conn) eventloop.Action {
	c.Discard(-1)
	target := c
	switch h.which {
	case "other":
		if c == h.victim {
			return eventloop.None
		}
		target = h.victim
	case "self with output":
		c.Write([]byte("bye"))
	}
	h.record("Close")
	if err := target.Close(); err != nil {
		h.record("Close: " + err.Error())
	}
	h.record("returned")
	if _, err := target.Write([]byte("late")); !errors.Is(err, eventloop.ErrConnClosed) {
		h.record(fmt.Sprintf("Write after Close: %v", err))
	}
	h.record("OnData returns")
	return eventloop.None
}

func (h *closer) OnClose(c *eventloop.Conn, err error) {
	if h.which == "other" && c != h.victim {
		return
	}
	h.record(fmt.Sprintf("OnClose(%v)", err))
	close(h.done)
}

// TestCloseInCallbackDefersOnClose: Close inside OnData, on the
// connection itself (with and without output pending) or on another one
// of the loop, returns before OnClose runs; OnClose runs once OnData has
// returned; a Write after Close fails with ErrConnClosed; the output
// written before Close is sent.
func TestCloseInCallbackDefersOnClose(t *testing.T) {
	for _, which := range []string{"self", "self with output", "other"} {
		t.Run(which, func(t *testing.T) {
			sockettest.LeakCheck(t)
			h := &closer{which: which, victimOut: make(chan struct{}), done: make(chan struct{})}
			addr, stop := start(t, &eventloop.Engine{Handler: h, Loops: 1}, "tcp", "127.0.0.1:0")
			victim, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer victim.Close()
			c := victim
			if which == "other" {
				recv(t, h.victimOut, "the first OnOpen")
				if c, err = net.Dial("tcp", addr); err != nil {
					t.Fatal(err)
				}
				defer c.Close()
			}
			c.Write([]byte("x"))
			recv(t, h.done, "OnClose")
			want := []string{"Close", "returned", "OnData returns", "OnClose(<nil>)"}
			h.mu.Lock()
			if !slices.Equal(h.log, want) {
				t.Errorf("events %q, want %q", h.log, want)
			}
			h.mu.Unlock()
			victim.SetReadDeadline(time.Now().Add(10 * time.Second))
			got, err := io.ReadAll(victim)
			if want := map[bool]string{true: "bye"}[which == "self with output"]; err != nil || string(got) != want {
				t.Errorf("the closed connection received %q, %v; want %q and the end", got, err, want)
			}
			stop()
		})
	}
}

// writeSteps makes the writes the client names ("big" or "steps") in
// OnData and reports each one's error.
type writeSteps struct {
	echo
	results chan []error
}

func (h *writeSteps) OnData(c *eventloop.Conn) eventloop.Action {
	in, _ := c.Next(-1)
	var errs []error
	w := func(n ...int) {
		var bufs [][]byte
		for _, k := range n {
			bufs = append(bufs, bytes.Repeat([]byte{'w'}, k))
		}
		var err error
		if len(bufs) == 1 {
			_, err = c.Write(bufs[0])
		} else {
			_, err = c.Writev(bufs)
		}
		errs = append(errs, err)
	}
	const k = 1 << 10
	switch string(in) {
	case "big":
		w(200 * k) // past MaxOutbound, into an empty output: taken
		w(1)       // now the output holds some: refused
	case "steps":
		w(60 * k)   // 60 KiB
		w(30 * k)   // 90 KiB
		w(20 * k)   // 110 KiB: refused
		w(4*k, 5*k) // 99 KiB
		w(1*k, 1*k) // 101 KiB: refused, neither buffer queued
		if n := c.OutboundBuffered(); n != 99*k {
			errs = append(errs, fmt.Errorf("OutboundBuffered = %d, want %d", n, 99*k))
		}
		errs = append(errs, c.Close())
		w(1)    // after Close
		w(1, 1) // after Close
	}
	h.results <- errs
	return eventloop.None
}

// TestWriteErrors: Write and Writev take all of their bytes or none:
// past MaxOutbound (once the output holds some) they return
// ErrOutboundFull, and after Close ErrConnClosed; what they took is sent.
func TestWriteErrors(t *testing.T) {
	full, closed := eventloop.ErrOutboundFull, eventloop.ErrConnClosed
	for _, tc := range []struct {
		send string
		want []error
		recv int // bytes the client gets, then the end if the server closed
		ends bool
	}{
		{"big", []error{nil, full}, 200 << 10, false},
		{"steps", []error{nil, nil, full, nil, full, nil, closed, closed}, 99 << 10, true},
	} {
		t.Run(tc.send, func(t *testing.T) {
			sockettest.LeakCheck(t)
			h := &writeSteps{results: make(chan []error, 1)}
			addr, stop := start(t, &eventloop.Engine{Handler: h, Loops: 1, MaxOutbound: 100 << 10}, "tcp", "127.0.0.1:0")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.Write([]byte(tc.send))
			errs := recv(t, h.results, "OnData")
			if len(errs) != len(tc.want) {
				t.Fatalf("errors %v, want %v", errs, tc.want)
			}
			for i := range errs {
				if !errors.Is(errs[i], tc.want[i]) || (tc.want[i] == nil) != (errs[i] == nil) {
					t.Fatalf("errors %v, want %v", errs, tc.want)
				}
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			got := make([]byte, tc.recv)
			if _, err := io.ReadFull(c, got); err != nil || bytes.Count(got, []byte{'w'}) != tc.recv {
				t.Fatalf("received %d bytes, %v", len(got), err)
			}
			if tc.ends {
				if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
					t.Fatalf("after the output: %d, %v; want the end", n, err)
				}
			}
			c.Close()
			stop()
		})
	}
}

// TestAsyncWriteDoneOnce: done is called exactly once for every AsyncWrite
// call, whatever it returns: with nil, or the error that ended the write,
// the one AsyncWrite returns if it returns one (and then before it
// returns). Writers race an engine Close, against connections that do not
// read (ErrOutboundFull) and one the peer closed (ErrConnClosed). The
// early checks returned ErrEngineClosed, ErrConnClosed or ErrOutboundFull
// without calling done, while a write that reached a stopped loop had it
// called.
func TestAsyncWriteDoneOnce(t *testing.T) {
	sockettest.LeakCheck(t)
	h := &opened{ch: make(chan *eventloop.Conn, 8)}
	e := &eventloop.Engine{Handler: h, Loops: 2, HighWatermark: 4 << 10}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	const nconns = 4
	var conns []*eventloop.Conn
	for range nconns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, recv(t, h.ch, "OnOpen"))
	}
	// A connection the peer closed: once the engine has seen it,
	// AsyncWrite returns ErrConnClosed at once.
	gone, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	goneConn := recv(t, h.ch, "OnOpen")
	gone.Close()
	waitFor(t, "the closed connection's OnClose", func() bool {
		return errors.Is(goneConn.AsyncWrite(nil, nil), eventloop.ErrConnClosed)
	})
	conns = append(conns, goneConn)

	// Each writer runs until the engine has closed (bounded, in case it
	// never says so).
	const writers, perWriter = 4, 200000
	var (
		mu      sync.Mutex
		calls   int
		dones   int
		bad     []string
		results = map[string]int{}
		started sync.WaitGroup
		wg      sync.WaitGroup
	)
	started.Add(writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := make([]byte, 512)
			for i := range perWriter {
				if i == 50 {
					started.Done()
				}
				var (
					n       atomic.Int32
					gotErr  error
					errSeen = make(chan struct{})
				)
				c := conns[(w+i)%len(conns)]
				err := c.AsyncWrite(p, func(_ *eventloop.Conn, err error) {
					if n.Add(1) == 1 {
						gotErr = err
						close(errSeen)
					}
					mu.Lock()
					dones++
					mu.Unlock()
				})
				mu.Lock()
				calls++
				results[fmt.Sprint(err)]++
				mu.Unlock()
				if err != nil {
					select {
					case <-errSeen:
						if gotErr != err {
							mu.Lock()
							bad = append(bad, fmt.Sprintf("AsyncWrite = %v, but done got %v", err, gotErr))
							mu.Unlock()
						}
					default:
						mu.Lock()
						bad = append(bad, fmt.Sprintf("AsyncWrite = %v and done not called before it returned", err))
						mu.Unlock()
					}
				}
				if errors.Is(err, eventloop.ErrEngineClosed) {
					return
				}
			}
		}()
	}
	started.Wait()
	e.Close()
	wg.Wait()
	stop()
	// Serve has returned: every loop has stopped. A done still owed
	// is not coming; allow a late one a moment all the same.
	for deadline := time.Now().Add(sockettest.Patience(t) / 6); ; time.Sleep(time.Millisecond) {
		mu.Lock()
		ok := dones >= calls
		mu.Unlock()
		if ok || time.Now().After(deadline) {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if dones != calls {
		t.Errorf("%d AsyncWrite calls, %d done calls; want one each", calls, dones)
	}
	if len(bad) > 0 {
		t.Errorf("%d calls broke the contract, first: %s", len(bad), bad[0])
	}
	for _, err := range []error{eventloop.ErrEngineClosed, eventloop.ErrConnClosed} {
		if results[err.Error()] == 0 {
			t.Errorf("no AsyncWrite returned %v (results %v): the race this test is for did not happen", err, results)
		}
	}
	t.Logf("results: %v", results)
}
