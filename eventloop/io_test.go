//go:build linux

package eventloop_test

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
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
	// The client reads nothing: wait until the engine has stopped
	// producing (the socket buffers are full and the output sits over the
	// low watermark, so OnWritable is not called again).
	stuck := settled(t, p.sent.Load)
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

// settled waits until value has stopped changing (the same over 100ms of
// polls, after it first moved) and returns it.
func settled(t testing.TB, value func() int64) int64 {
	t.Helper()
	waitFor(t, "the first change", func() bool { return value() != 0 })
	last, same := value(), 0
	waitFor(t, "the value to settle", func() bool {
		v := value()
		if v != last {
			last, same = v, 0
			return false
		}
		same++
		time.Sleep(4 * time.Millisecond) // polls 5ms apart
		return same >= 20
	})
	return last
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
