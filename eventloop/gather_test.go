//go:build linux

package eventloop_test

import (
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
)

// pingPong makes trips round trips of an 8-byte message on c, calling
// each (if not nil) after every trip with its number.
func pingPong(c net.Conn, trips int, each func(int)) error {
	buf := make([]byte, 8)
	c.SetDeadline(time.Now().Add(30 * time.Second))
	for i := range trips {
		if _, err := c.Write([]byte("pingpong")); err != nil {
			return err
		}
		if _, err := io.ReadFull(c, buf); err != nil {
			return err
		}
		if each != nil {
			each(i)
		}
	}
	return nil
}

// dialPingPong dials n connections to addr (closed when the test ends)
// and runs f on each in a goroutine of its own; the channel yields their
// errors and is closed when all have returned.
func dialPingPong(t *testing.T, addr string, n int, f func(net.Conn) error) <-chan error {
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		c := dial(t, addr)
		t.Cleanup(func() { c.Close() })
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(c); err != nil {
				errs <- err
			}
		}()
	}
	go func() { wg.Wait(); close(errs) }()
	return errs
}

// TestLightLoadDoesNotGather: a busy io_uring loop waits up to 50 µs for
// many completions (see eventloop's Backends) only when many connections
// are active at once. One client in ping-pong beside 40 connections that
// are mostly idle (each one message every 10 ms) does not make it wait:
// it once did, for good, and each of that client's round trips took
// about 100 µs longer. Many connections in ping-pong at once do. (Two or
// three clients beside them still make it wait when the machine is
// loaded, as under go test -race beside other packages: the input count
// cannot tell them from many then.)
func TestLightLoadDoesNotGather(t *testing.T) {
	if eventloop.DefaultBackend() != eventloop.BackendIOUring {
		t.Skip("only the io_uring backend gathers input")
	}
	e := &eventloop.Engine{Loops: 1, Handler: echo{}}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	defer stop()

	done := make(chan struct{})
	idle := dialPingPong(t, addr, 40, func(c net.Conn) error {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return nil
			case <-tick.C:
			}
			if err := pingPong(c, 1, nil); err != nil {
				return err
			}
		}
	})
	// The client's last 1000 round trips are watched.
	const trips = 2000
	var g0, g1 uint64
	c := dial(t, addr)
	defer c.Close()
	err := pingPong(c, trips, func(n int) {
		switch n {
		case trips - 1000:
			g0 = eventloop.Gathers(e)
		case trips - 1:
			g1 = eventloop.Gathers(e)
		}
	})
	close(done)
	for idleErr := range idle {
		t.Fatal(idleErr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d waits that gathered in the last 1000 round trips of a client beside 40 mostly idle connections", g1-g0)
	if g1-g0 > 100 {
		t.Errorf("%d of the loop's waits gathered input in the last 1000 round trips of a client in ping-pong beside 40 connections sending a message every 10 ms each, want at most 100", g1-g0)
	}

	// 64 connections in ping-pong at once: the loop gathers.
	g0 = eventloop.Gathers(e)
	for err := range dialPingPong(t, addr, 64, func(c net.Conn) error { return pingPong(c, 200, nil) }) {
		t.Fatal(err)
	}
	g1 = eventloop.Gathers(e)
	t.Logf("%d waits that gathered during 64 connections' ping-pong", g1-g0)
	if g1 == g0 {
		t.Error("no wait gathered input while 64 connections were in ping-pong at once")
	}
}
