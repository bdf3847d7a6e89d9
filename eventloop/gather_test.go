//go:build linux

package eventloop_test

import (
	"fmt"
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

// TestLightLoadDoesNotGather: a busy io_uring loop waits up to 50 µs for
// many completions (see eventloop's Backends) only when many connections
// are active at once. One client in ping-pong beside many connections
// that are mostly idle (each one message every 10 ms) does not make it
// wait: it once did, for good, and each of that client's round trips
// took about 100 µs longer. Many connections in ping-pong at once do.
// (Two or three clients beside them still make it wait when the machine
// is loaded, as under go test -race beside other packages: the input
// count cannot tell them from many then.)
func TestLightLoadDoesNotGather(t *testing.T) {
	if eventloop.DefaultBackend() != eventloop.BackendIOUring {
		t.Skip("only the io_uring backend gathers input")
	}
	for _, tc := range []struct{ clients, idle int }{{1, 40}} {
		t.Run(fmt.Sprintf("%d_clients_beside_%d", tc.clients, tc.idle), func(t *testing.T) {
			lightLoad(t, tc.clients, tc.idle)
		})
	}
}

func lightLoad(t *testing.T, clients, idle int) {
	e := &eventloop.Engine{Loops: 1, Handler: echo{}}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	defer stop()
	dial := func(n int) []net.Conn {
		conns := make([]net.Conn, n)
		for i := range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Close() })
			conns[i] = c
		}
		return conns
	}
	run := func(conns []net.Conn, f func(int, net.Conn) error) <-chan error {
		errs := make(chan error, len(conns))
		var wg sync.WaitGroup
		for i, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := f(i, c); err != nil {
					errs <- err
				}
			}()
		}
		go func() { wg.Wait(); close(errs) }()
		return errs
	}

	// idle connections, each sending one message every 10 ms, and clients
	// in ping-pong, of which the first one's last 1000 round trips are
	// watched.
	const trips = 2000
	done := make(chan struct{})
	bg := run(dial(idle), func(_ int, c net.Conn) error {
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
	var g0, g1 uint64
	fg := run(dial(clients), func(i int, c net.Conn) error {
		return pingPong(c, trips, func(n int) {
			switch {
			case i != 0:
			case n == trips-1000:
				g0 = eventloop.Gathers(e)
			case n == trips-1:
				g1 = eventloop.Gathers(e)
			}
		})
	})
	for err := range fg {
		t.Fatal(err)
	}
	close(done)
	for err := range bg {
		t.Fatal(err)
	}
	t.Logf("%d waits that gathered in the last 1000 round trips of one of %d clients beside %d mostly idle connections (%s)", g1-g0, clients, idle, backendOf(e))
	if g1-g0 > 100 {
		t.Errorf("%d of the loop's waits gathered input in the last 1000 round trips of one of %d clients in ping-pong beside %d connections sending a message every 10 ms each, want at most 100 (%s)", g1-g0, clients, idle, backendOf(e))
	}

	// 64 connections in ping-pong at once: the loop gathers.
	g0 = eventloop.Gathers(e)
	busy := run(dial(64), func(_ int, c net.Conn) error { return pingPong(c, 200, nil) })
	for err := range busy {
		t.Fatal(err)
	}
	g1 = eventloop.Gathers(e)
	t.Logf("%d waits that gathered during 64 connections' ping-pong (%s)", g1-g0, backendOf(e))
	if g1 == g0 {
		t.Errorf("no wait gathered input while 64 connections were in ping-pong at once (%s)", backendOf(e))
	}
}
