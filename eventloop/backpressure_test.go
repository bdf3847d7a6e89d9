//go:build linux

package eventloop_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

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

// bigReplies answers each "GET nnn\n" with 1 MiB of byte(nnn), following
// the documented pattern for pipelined requests: when Write says the
// output is full, it leaves the request unread and returns, and OnData is
// offered it again once the output has drained.
type bigReplies struct {
	eventloop.BaseHandler
	reply    []byte
	answered int
	report   func(format string, args ...any)
}

func (h *bigReplies) OnData(c *eventloop.Conn) eventloop.Action {
	for {
		in, _ := c.Peek(-1)
		i := bytes.IndexByte(in, '\n')
		if i < 0 {
			return eventloop.None
		}
		n, err := strconv.Atoi(string(bytes.TrimPrefix(in[:i], []byte("GET "))))
		if err != nil {
			return eventloop.Close
		}
		for k := range h.reply {
			h.reply[k] = byte(n)
		}
		if _, err := c.Write(h.reply); errors.Is(err, eventloop.ErrOutboundFull) {
			h.report("full after %d", h.answered)
			return eventloop.None // the request stays unread
		} else if err != nil {
			h.report("write: %v", err)
			return eventloop.Close
		}
		c.Discard(i + 1)
		h.answered++
	}
}

const pipelineChildEnv = "EVENTLOOP_PIPELINE_CHILD"

// TestPipelinedBackPressure: a client pipelines 200 requests, each
// answered with 1 MiB, and reads nothing for a while: the server (a child
// process, so that its peak RSS is its own) stays under 64 MB, and all
// 200 answers arrive in order once the client reads, on a connection that
// stays open and on one whose client shuts down its sending side after
// the last request (the answers still come, then the end).
func TestPipelinedBackPressure(t *testing.T) {
	if os.Getenv(pipelineChildEnv) != "" {
		pipelineServer()
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestPipelinedBackPressure$", "-backend="+string(eventloop.DefaultBackend()))
	cmd.Env = append(os.Environ(), pipelineChildEnv+"=1")
	cmd.Stderr = os.Stderr
	out, _ := cmd.StdoutPipe()
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		stdin.Close() // the child stops when its stdin ends
		if err := cmd.Wait(); err != nil {
			t.Errorf("server: %v", err)
		}
	}()
	// The child's stdout has the test framework's lines too: the server's
	// own begin with "addr " and "report ".
	lines := bufio.NewScanner(out)
	addrs := make(chan string, 1)
	reports := make(chan string, 1000)
	go func() {
		for lines.Scan() {
			if a, ok := strings.CutPrefix(lines.Text(), "addr "); ok {
				addrs <- a
			} else if r, ok := strings.CutPrefix(lines.Text(), "report "); ok {
				reports <- r
			}
		}
	}()
	addr := recv(t, addrs, "the server's address")
	for _, halfClose := range []bool{false, true} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		var req bytes.Buffer
		for i := range 200 {
			fmt.Fprintf(&req, "GET %03d\n", i)
		}
		c.Write(req.Bytes())
		if halfClose {
			c.(*net.TCPConn).CloseWrite()
		}
		// The client reads nothing until the server says it has stopped
		// answering for want of room.
		if r := recv(t, reports, "the server to fill the output"); !strings.HasPrefix(r, "full after") {
			t.Fatalf("server: %s", r)
		}
		c.SetDeadline(time.Now().Add(60 * time.Second))
		buf := make([]byte, 1<<20)
		for i := range 200 {
			if _, err := io.ReadFull(c, buf); err != nil || buf[0] != byte(i) || buf[len(buf)-1] != byte(i) {
				t.Fatalf("halfClose=%v: answer %d: %v (first byte %d)", halfClose, i, err, buf[0])
			}
		}
		if halfClose {
			if n, err := c.Read(buf); n != 0 || err != io.EOF {
				t.Fatalf("after the answers: %d, %v; want the end", n, err)
			}
		}
		c.Close()
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	var peak int
	for l := range strings.Lines(string(status)) {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			peak, _ = strconv.Atoi(f[1]) // kB
		}
	}
	t.Logf("server peak RSS: %d MB", peak>>10)
	if peak == 0 || peak > 64<<10 {
		t.Fatalf("server peak RSS %d kB, want under 64 MB", peak)
	}
}

// pipelineServer is the child of TestPipelinedBackPressure: it serves
// bigReplies, prints its address and what the handler reports, and stops
// when its stdin ends.
func pipelineServer() {
	h := &bigReplies{reply: make([]byte, 1<<20), report: func(format string, args ...any) {
		fmt.Printf("report "+format+"\n", args...)
	}}
	e := &eventloop.Engine{Handler: h, Loops: 1, MaxOutbound: 4 << 20}
	served := make(chan error, 1)
	go func() { served <- e.ListenAndServe("tcp", "127.0.0.1:0") }()
	<-e.Ready()
	fmt.Println("addr", e.Addr())
	io.Copy(io.Discard, os.Stdin)
	e.Close()
	<-served
}

// hoarder never reads: what it is offered stays unread.
type hoarder struct {
	eventloop.BaseHandler
	cause chan error
}

func (hoarder) OnData(c *eventloop.Conn) eventloop.Action { return eventloop.None }

func (h hoarder) OnClose(c *eventloop.Conn, err error) { h.cause <- err }

// TestMaxInbound: a handler that leaves more than MaxInbound unread (the
// default, or a limit of its own) has its connection closed with
// ErrInboundFull, and the peer sees it closed (reset: the kernel had
// unread data); a request under the limit is kept until it is complete.
func TestMaxInbound(t *testing.T) {
	for _, tc := range []struct {
		name  string
		limit int
		send  int
		want  error
	}{
		{"default 4 MiB", 0, 64 << 20, eventloop.ErrInboundFull},
		{"64 KiB", 64 << 10, 1 << 20, eventloop.ErrInboundFull},
		{"under the limit", 1 << 20, 512 << 10, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			h := hoarder{cause: make(chan error, 1)}
			e := &eventloop.Engine{Handler: h, Loops: 1, MaxInbound: tc.limit}
			addr, stop := start(t, e, "tcp", "127.0.0.1:0")
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			go c.Write(make([]byte, tc.send))
			if tc.want == nil {
				// Kept: the connection stays open while the client waits.
				c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
				if _, err := c.Read(make([]byte, 1)); !errors.Is(err, os.ErrDeadlineExceeded) {
					t.Fatalf("a request under MaxInbound: %v; want the connection kept open", err)
				}
				c.Close()
				if err := recv(t, h.cause, "OnClose"); err != nil {
					t.Fatalf("OnClose: %v", err)
				}
				stop()
				return
			}
			if err := recv(t, h.cause, "OnClose"); !errors.Is(err, tc.want) {
				t.Fatalf("OnClose: %v, want %v", err, tc.want)
			}
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
				t.Fatalf("the client reads %d, %v; want the connection closed", n, err)
			}
			stop()
		})
	}
}
