//go:build linux

package eventloop_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
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

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

// The tests of what only the io_uring backend has: its provided buffers,
// its completion ring, its requests in flight. They run in the package's
// io_uring run (see TestMain).

func uringOnly(t *testing.T) {
	t.Helper()
	if eventloop.DefaultBackend() != eventloop.BackendIOUring {
		t.Skip("an io_uring test: it runs in the package's io_uring run")
	}
}

// quiescent waits until every loop of e holds nothing but its wake-up
// read, its accepts, a receive for each of the conns connections the
// test keeps open and sends stuck on clients that do not read: no
// buffer handed out, no chunk or slot of a closed connection.
func quiescent(t *testing.T, e *eventloop.Engine, conns int) {
	t.Helper()
	var last []eventloop.URingState
	deadline := time.Now().Add(10 * time.Second)
	for {
		last = eventloop.URingStates(e)
		ok := len(last) > 0
		recv := 0
		for _, s := range last {
			recv += s.Receiving
			if s.BuffersOut != 0 || s.Held != 0 || s.ClosedSlots != 0 || s.InFlight != 1+s.Accepting+s.Receiving+s.Sending {
				ok = false
			}
		}
		if ok && recv == conns {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the loops do not settle: %+v (want %d receiving)", last, conns)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// echoClient sends size random bytes on c while it reads the echo, and
// checks that what came back is what went.
func echoClient(c net.Conn, size int) error {
	data := make([]byte, size)
	rand.Read(data)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	errc := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		errc <- err
	}()
	got, err := io.ReadAll(io.LimitReader(c, int64(size)))
	if werr := <-errc; werr != nil {
		return werr
	}
	if err != nil {
		return err
	}
	if sha256.Sum256(got) != sha256.Sum256(data) {
		return fmt.Errorf("the echo of %d bytes differs (%d bytes came back)", size, len(got))
	}
	return nil
}

// bufModes are the two ways the loops consume provided buffers: a buffer
// a receive, or incrementally (Linux 6.12).
var bufModes = []struct {
	name string
	inc  bool
}{{"a buffer a receive", false}, {"incremental", true}}

// TestURingNoBuffers: with 4 provided buffers for 16 clients that send at
// once, receives run out of buffers (ENOBUFS) again and again; each is
// armed again and no byte is lost, reordered or duplicated; afterwards
// every buffer is back in the ring.
func TestURingNoBuffers(t *testing.T) {
	uringOnly(t)
	for _, m := range bufModes {
		t.Run(m.name, func(t *testing.T) { testURingNoBuffers(t, m.inc) })
	}
}

func testURingNoBuffers(t *testing.T, inc bool) {
	sockettest.LeakCheck(t)
	defer eventloop.SetURingSizes(64, 256, 4, 256, inc)()
	e := &eventloop.Engine{Handler: echo{}, Loops: 1}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			errs <- echoClient(c, 256<<10)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if n := e.Stats().RecvNoBuffers; n == 0 {
		t.Error("no receive ran out of buffers: the test did not test ENOBUFS")
	} else {
		t.Logf("receives that ran out of buffers and were armed again: %d", n)
	}
	quiescent(t, e, 0)
	if st := eventloop.URingStates(e); st[0].Incremental != inc {
		t.Errorf("incremental consumption %v, want %v", st[0].Incremental, inc)
	}
	stop()
}

// flooder sends until the engine stops reading from it (its echo, which
// it never reads, has filled the socket buffers and passed the high
// watermark), then holds the connection open.
func flooder(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	block := make([]byte, 64<<10)
	for {
		c.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
		if _, err := c.Write(block); err != nil {
			if os.IsTimeout(err) {
				return c
			}
			t.Fatal(err)
		}
	}
}

// roundTrips runs n clients, each making rts round trips of 64 bytes, and
// returns the round trips a second.
func roundTripRate(t *testing.T, addr string, clients, rts int) float64 {
	t.Helper()
	var wg sync.WaitGroup
	var failed atomic.Value
	begin := time.Now()
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Store(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(30 * time.Second))
			msg, got := bytes.Repeat([]byte{'m'}, 64), make([]byte, 64)
			for j := 0; j < rts; j++ {
				if _, err := c.Write(msg); err != nil {
					failed.Store(err)
					return
				}
				if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
					failed.Store(fmt.Errorf("round trip %d: %q, %v", j, got, err))
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		t.Fatal(err)
	}
	return float64(clients*rts) / time.Since(begin).Seconds()
}

// TestURingNonReaderCannotStarve: a client that sends without reading
// cannot take the loop's provided buffers from the others. The ring has 8
// buffers; the flooder is echoed until its output passes the high
// watermark, then its receive is canceled and it holds no buffer (no
// receive armed, every buffer back in the ring, its echo waiting in a
// send); the 8 other clients complete all their round trips through the
// same 8 buffers. Their rate beside the flooder against alone is logged
// here, not asserted: on a machine shared with other test runs it moves by
// more than the 10% the target allows (measured: 0.72x to 1.20x over
// runs of this test). The benchmark suite's slow-reader table holds it to
// 0.9x, measured side by side on a quiet machine.
func TestURingNonReaderCannotStarve(t *testing.T) {
	uringOnly(t)
	for _, m := range bufModes {
		t.Run(m.name, func(t *testing.T) { testURingNonReaderCannotStarve(t, m.inc) })
	}
}

func testURingNonReaderCannotStarve(t *testing.T, inc bool) {
	sockettest.LeakCheck(t)
	defer eventloop.SetURingSizes(64, 256, 8, 1024, inc)()
	e := &eventloop.Engine{Handler: echo{}, Loops: 1, HighWatermark: 256 << 10}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	alone := roundTripRate(t, addr, 8, 300)
	f := flooder(t, addr)
	defer f.Close()
	quiescent(t, e, 0) // the flooder is connected but not receiving, and holds no buffer
	if st := eventloop.URingStates(e); st[0].Sending != 1 {
		t.Fatalf("the flooder's echo is not stuck in a send: %+v", st)
	}
	beside := roundTripRate(t, addr, 8, 300)
	t.Logf("8 clients alone %.0f round trips/s, beside a client that does not read %.0f (%.2fx)", alone, beside, beside/alone)
	quiescent(t, e, 0)
	f.Close()
	stop()
}

// bigWriter writes size bytes to each new connection and records it.
type bigWriter struct {
	eventloop.BaseHandler
	size   int
	opened chan *eventloop.Conn
	closed chan error
}

func (b *bigWriter) OnOpen(c *eventloop.Conn) eventloop.Action {
	c.Write(make([]byte, b.size))
	b.opened <- c
	return eventloop.None
}

func (b *bigWriter) OnClose(c *eventloop.Conn, err error) { b.closed <- err }

// openFds counts the process's open descriptors.
func openFds() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// TestURingCloseInFlight: a connection closed while a send (to a client
// that does not read) and a receive are in flight leaks nothing: its
// requests are canceled, the chunk the send reads is kept until the
// send's completion and then reused, its descriptor is closed after the
// last completion, and the loop holds no buffer or slot for it. Closed by
// the peer's reset, by the idle timeout, and by the engine's Close.
func TestURingCloseInFlight(t *testing.T) {
	uringOnly(t)
	for _, how := range []string{"peer reset", "idle timeout", "engine close"} {
		t.Run(how, func(t *testing.T) {
			sockettest.LeakCheck(t)
			fds := openFds()
			var logs bytes.Buffer
			var mu sync.Mutex
			h := &bigWriter{size: 8 << 20, opened: make(chan *eventloop.Conn, 4), closed: make(chan error, 4)}
			e := &eventloop.Engine{Handler: h, Loops: 1, HighWatermark: 64 << 20,
				Logger: slog.New(slog.NewTextHandler(lockedW{&logs, &mu}, nil))}
			if how == "idle timeout" {
				e.IdleTimeout = 5 * time.Second
			}
			addr, stop := start(t, e, "tcp", "127.0.0.1:0")
			// Until every send has stalled, each client sends a byte a
			// second so that the idle timeout cannot close it first: under
			// the race detector on a loaded machine, opening the four
			// connections took up to 9 s, more than the idle timeout.
			keepalive := make(chan struct{})
			var keepers sync.WaitGroup
			var clients []*net.TCPConn
			for i := 0; i < 4; i++ {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				clients = append(clients, c.(*net.TCPConn))
				if how == "idle timeout" {
					keepers.Add(1)
					go func() {
						defer keepers.Done()
						tick := time.NewTicker(time.Second)
						defer tick.Stop()
						for {
							select {
							case <-keepalive:
								return
							case <-tick.C:
								c.Write([]byte{0})
							}
						}
					}()
				}
				recv(t, h.opened, "OnOpen")
			}
			// Each connection has a send in flight that cannot finish.
			waitFor(t, "the sends to stall", func() bool {
				for _, s := range eventloop.URingStates(e) {
					if s.Receiving != 4 || s.Sending != 4 || s.InFlight != 1+s.Accepting+8 {
						return false
					}
				}
				return true
			})
			close(keepalive)
			keepers.Wait()
			switch how {
			case "peer reset":
				for _, c := range clients {
					c.SetLinger(0)
					c.Close()
				}
			case "engine close":
				e.Close()
			}
			for range clients {
				recv(t, h.closed, "OnClose")
			}
			if how != "engine close" {
				quiescent(t, e, 0)
				if st := e.Stats(); st.Active != 0 || st.Closed != 4 {
					t.Errorf("stats after the closes: %+v", st)
				}
			}
			for _, c := range clients {
				c.Close()
			}
			stop()
			mu.Lock()
			if strings.Contains(logs.String(), "still in flight") {
				t.Errorf("the loop stopped with requests in flight: %s", logs.String())
			}
			mu.Unlock()
			waitFor(t, "the descriptors to be closed", func() bool { return openFds() <= fds })
		})
	}
}

// TestURingCQOverflow: 64 clients in lockstep against a completion ring
// of 32 entries (and a submission ring of 16): a round's completions
// overflow the ring, the overflow is counted, and none is lost.
func TestURingCQOverflow(t *testing.T) {
	uringOnly(t)
	sockettest.LeakCheck(t)
	defer eventloop.SetURingSizes(16, 32, 256, 4096, true)()
	e := &eventloop.Engine{Handler: echo{}, Loops: 1}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	const clients, rounds = 64, 20
	var conns []net.Conn
	for i := 0; i < clients; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		conns = append(conns, c)
	}
	for r := 0; r < rounds; r++ {
		for i, c := range conns {
			if _, err := c.Write(bytes.Repeat([]byte{byte(r + i)}, 1000)); err != nil {
				t.Fatal(err)
			}
		}
		for i, c := range conns {
			got := make([]byte, 1000)
			if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, bytes.Repeat([]byte{byte(r + i)}, 1000)) {
				t.Fatalf("round %d client %d: %v", r, i, err)
			}
		}
	}
	if n := e.Stats().CQOverflows; n == 0 {
		t.Error("the completion ring never overflowed: the test did not test overflow")
	} else {
		t.Logf("rounds that found completions in the overflow list: %d", n)
	}
	quiescent(t, e, clients)
	for _, c := range conns {
		c.Close()
	}
	stop()
}

// TestURingSignals: the loop's wait is interrupted by signals (the Go
// runtime's preemption signal, SIGURG, sent here a thousand times): each
// interrupted io_uring_enter is made again and no message is lost.
func TestURingSignals(t *testing.T) {
	uringOnly(t)
	sockettest.LeakCheck(t)
	e := &eventloop.Engine{Handler: echo{}, Loops: 1}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 1000; i++ {
			unix.Kill(os.Getpid(), unix.SIGURG)
			time.Sleep(100 * time.Microsecond)
		}
	}()
	roundTripRate(t, addr, 4, 500)
	<-done
	stop()
}
