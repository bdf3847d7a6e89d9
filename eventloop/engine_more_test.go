//go:build linux

package eventloop_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/eventloop"
	"golang.org/x/sys/unix"
)

func (echo) OnPacket(p *eventloop.Packet) eventloop.Action {
	p.Reply(p.Data)
	return eventloop.None
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

func TestUDPEcho(t *testing.T) {
	sockettest.LeakCheck(t)
	e := &eventloop.Engine{Handler: echo{}, Loops: 2, ReusePort: true}
	addr, stop := start(t, e, "udp", "127.0.0.1:0")
	for i := 0; i < 8; i++ {
		c, err := net.Dial("udp", addr)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		for j := 0; j < 10; j++ {
			msg := fmt.Sprintf("datagram %d.%d", i, j)
			c.Write([]byte(msg))
			buf := make([]byte, 100)
			n, err := c.Read(buf)
			if err != nil || string(buf[:n]) != msg {
				t.Fatalf("%q, %v", buf[:n], err)
			}
		}
		c.Close()
	}
	stop()
}

// pusher writes as long as the client takes it: it keeps the output at the
// high watermark and refills it in OnWritable.
type pusher struct {
	eventloop.BaseHandler
	total int64
	sent  atomic.Int64
	block []byte
}

func (p *pusher) fill(c *eventloop.Conn) eventloop.Action {
	for c.OutboundBuffered() < 1<<20 && p.sent.Load() < p.total {
		c.Write(p.block)
		p.sent.Add(int64(len(p.block)))
	}
	if p.sent.Load() >= p.total {
		return eventloop.Close
	}
	return eventloop.None
}
func (p *pusher) OnOpen(c *eventloop.Conn) eventloop.Action     { return p.fill(c) }
func (p *pusher) OnWritable(c *eventloop.Conn) eventloop.Action { return p.fill(c) }

// TestSlowReaderBounded: a client that does not read cannot make the engine
// buffer more than the watermarks allow.
func TestSlowReaderBounded(t *testing.T) {
	sockettest.LeakCheck(t)
	p := &pusher{total: 1 << 30, block: make([]byte, 64<<10)}
	e := &eventloop.Engine{Handler: p, Loops: 1, HighWatermark: 2 << 20}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(300 * time.Millisecond) // the client reads nothing
	stuck := p.sent.Load()
	t.Logf("sent into a client that does not read: %d bytes", stuck)
	if stuck > 16<<20 {
		t.Fatalf("the engine buffered %d bytes for a client that does not read", stuck)
	}
	// Once the client reads, the rest flows.
	c.SetDeadline(time.Now().Add(20 * time.Second))
	n, err := io.CopyN(io.Discard, c, 64<<20)
	if err != nil || n != 64<<20 {
		t.Fatalf("read %d, %v", n, err)
	}
	c.Close()
	stop()
}

// asyncHandler answers each line from another goroutine, with AsyncWrite.
type asyncHandler struct{ eventloop.BaseHandler }

func (asyncHandler) OnData(c *eventloop.Conn) eventloop.Action {
	line := string(c.Next(-1))
	go func() {
		time.Sleep(5 * time.Millisecond)
		c.AsyncWrite([]byte("async:"+line), nil)
	}()
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

type closeRecorder struct {
	eventloop.BaseHandler
	mu    sync.Mutex
	cause []error
}

func (r *closeRecorder) OnClose(c *eventloop.Conn, err error) {
	r.mu.Lock()
	r.cause = append(r.cause, err)
	r.mu.Unlock()
}

func TestIdleTimeout(t *testing.T) {
	sockettest.LeakCheck(t)
	rec := &closeRecorder{}
	addr, stop := start(t, &eventloop.Engine{Handler: rec, Loops: 1, IdleTimeout: 200 * time.Millisecond}, "tcp", "127.0.0.1:0")
	busy, _ := net.Dial("tcp", addr)
	idle, _ := net.Dial("tcp", addr)
	defer busy.Close()
	defer idle.Close()
	startT := time.Now()
	for time.Since(startT) < 600*time.Millisecond {
		busy.Write([]byte("x"))
		time.Sleep(40 * time.Millisecond)
	}
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("idle connection: %d, %v; want closed", n, err)
	}
	busy.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := busy.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the busy connection was closed too: %v", err)
	}
	rec.mu.Lock()
	if len(rec.cause) != 1 || !errors.Is(rec.cause[0], eventloop.ErrIdleTimeout) {
		t.Fatalf("OnClose causes %v", rec.cause)
	}
	rec.mu.Unlock()
	busy.Close()
	stop()
}

// TestShutdownDrains: Shutdown sends pending output before closing.
func TestShutdownDrains(t *testing.T) {
	sockettest.LeakCheck(t)
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<18) // 4 MiB
	h := &oneShot{data: data}
	e := &eventloop.Engine{Handler: h, Loops: 1, HighWatermark: 64 << 20}
	addr, _ := start(t, e, "tcp", "127.0.0.1:0")
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for h.opened.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- e.Shutdown(ctx)
	}()
	time.Sleep(50 * time.Millisecond) // the client reads only after Shutdown began
	got, err := io.ReadAll(c)
	if err != nil || sha256.Sum256(got) != sha256.Sum256(data) {
		t.Fatalf("received %d of %d bytes, %v", len(got), len(data), err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type oneShot struct {
	eventloop.BaseHandler
	data   []byte
	opened atomic.Int32
}

func (o *oneShot) OnOpen(c *eventloop.Conn) eventloop.Action {
	c.Write(o.data)
	o.opened.Add(1)
	return eventloop.None
}

type panicky struct{ echo }

func (panicky) OnData(c *eventloop.Conn) eventloop.Action {
	if bytes.Contains(c.Peek(-1), []byte("boom")) {
		panic("boom")
	}
	return echo{}.OnData(c)
}

func TestPanicClosesOnlyThatConnection(t *testing.T) {
	sockettest.LeakCheck(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	e := &eventloop.Engine{Handler: panicky{}, Loops: 1, Logger: slog.New(slog.NewTextHandler(lockedW{&logs, &mu}, nil))}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	bad, _ := net.Dial("tcp", addr)
	good, _ := net.Dial("tcp", addr)
	defer good.Close()
	bad.Write([]byte("boom"))
	bad.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := bad.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("panicking connection: %d, %v", n, err)
	}
	bad.Close()
	good.Write([]byte("fine"))
	buf := make([]byte, 4)
	good.SetReadDeadline(time.Now().Add(5 * time.Second))
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

type lockedW struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedW) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.w.Write(p) }

func TestMaxConnsAndClose(t *testing.T) {
	sockettest.LeakCheck(t)
	e := &eventloop.Engine{Handler: echo{}, Loops: 1, MaxConns: 2}
	addr, _ := start(t, e, "tcp", "127.0.0.1:0")
	a, _ := net.Dial("tcp", addr)
	b, _ := net.Dial("tcp", addr)
	defer a.Close()
	defer b.Close()
	for e.Stats().Active < 2 {
		time.Sleep(time.Millisecond)
	}
	c, _ := net.Dial("tcp", addr)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, _ := c.Read(make([]byte, 1)); n != 0 {
		t.Fatal("third connection served")
	}
	c.Close()
	if e.Stats().Rejected != 1 {
		t.Fatalf("stats %+v", e.Stats())
	}
	// Close is immediate: open connections are reset or closed at once.
	e.Close()
	a.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := a.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection open after Close")
	}
}

type ticker struct {
	echo
	n atomic.Int32
}

func (t *ticker) OnTick() (time.Duration, eventloop.Action) {
	t.n.Add(1)
	return 10 * time.Millisecond, eventloop.None
}

func TestOnTick(t *testing.T) {
	tk := &ticker{}
	_, stop := start(t, &eventloop.Engine{Handler: tk, TickInterval: 10 * time.Millisecond}, "tcp", "127.0.0.1:0")
	time.Sleep(150 * time.Millisecond)
	stop()
	if n := tk.n.Load(); n < 5 {
		t.Fatalf("OnTick ran %d times in 150ms at 10ms", n)
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
	// but no loop takes the connection: nothing is echoed.
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
		if v := <-h.got; v != want {
			t.Errorf("Nagle=%v: TCP_NODELAY = %d, want %d", nagle, v, want)
		}
		c.Close()
		stop()
	}
}
