//go:build linux

package eventloop_test

import (
	"cmp"
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

// TestLightLoadDoesNotGather: a busy loop lets input gather for up to
// 50 µs (see eventloop's Backends) only when many connections are
// active at once. One client in ping-pong beside 40 connections that
// are mostly idle (each one message every 10 ms) does not make it wait:
// it once did, for good, and each of that client's round trips took
// about 100 µs longer. Many connections in ping-pong at once do. (Two or
// three clients beside them still make it wait when the machine is
// loaded, as under go test -race beside other packages: the input count
// cannot tell them from many then.)
func TestLightLoadDoesNotGather(t *testing.T) {
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

// TestGatherSlowingInputEnds: a loop that gathers checks that gathering
// does not slow its input, and stops if it does. Three clients in
// ping-pong each send a message on one of 100 other connections after
// every round trip (heartbeats that wait for no answer): the input is
// spread over many connections as a busy loop's is, but its rate is the
// clients', which each wait of 50 µs slows. Without the check the loop
// gathered on about every third round trip, for good (2927 and 2968
// waits in the last 9000, epoll and io_uring; 49 and 44 with it).
//
// The test first measures what gathering costs those clients here and
// now, with busy off and with the check off: when the machine is short
// of CPU (other processes, the race detector) each round trip takes
// several times as long and the 50 µs wait slows it by less than the
// check looks for (busySlower), or by not much more, which the noise of
// a loaded machine hides: the attempt does not count. With two CPU
// burners on the two cores, one attempt in three failed on io_uring
// (1928 and 2525 waits of 9000 gathered, round trips slowed 1.5 and 2.6
// times): the check can miss gathering that costs clients that much when
// the loop's CPU comes and goes.
func TestGatherSlowingInputEnds(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector slows each round trip so much that gathering slows it by less than the check looks for (busy.go's busySlower)")
	}
	const clients, trips = 3, 6000
	run := func(unchecked, never bool) (gathers uint64, rtt time.Duration) {
		restore := eventloop.SetBusyTest(unchecked, never)
		defer restore()
		e := &eventloop.Engine{Loops: 1, Handler: echo{}}
		addr, stop := start(t, e, "tcp", "127.0.0.1:0")
		defer stop()
		beats := make([]net.Conn, 100)
		for i := range beats {
			beats[i] = dial(t, addr)
			defer beats[i].Close()
			go io.Copy(io.Discard, beats[i]) // the echoes, until Close
		}
		var mu sync.Mutex
		next := 0
		beat := func() error {
			mu.Lock()
			b := beats[next%len(beats)]
			next++
			mu.Unlock()
			_, err := b.Write([]byte("heartbea"))
			return err
		}
		// The window: the last half of the first client's round trips.
		var g0 uint64
		var t0 time.Time
		var first sync.Once
		errs := dialPingPong(t, addr, clients, func(c net.Conn) error {
			var err error
			pErr := pingPong(c, trips, func(n int) {
				if err == nil {
					err = beat()
				}
				if n == trips/2 {
					first.Do(func() { g0, t0 = eventloop.Gathers(e), time.Now() })
				}
			})
			return cmp.Or(pErr, err)
		})
		for err := range errs {
			t.Fatal(err)
		}
		return eventloop.Gathers(e) - g0, time.Since(t0) * clients / (clients * trips / 2)
	}
	// A loaded machine's pace changes from one second to the next: up to
	// three attempts, each measuring the cost of gathering before the
	// check; the test fails when every attempt that could hold did not.
	window := clients * trips / 2
	held, tried := false, 0
	for attempt := 1; attempt <= 3 && !held; attempt++ {
		_, rttOff := run(false, true)
		gUnchecked, rttOn := run(true, false)
		t.Logf("attempt %d: without the check %d waits gathered in %d round trips, %v a round trip, against %v not busy", attempt, gUnchecked, window, rttOn, rttOff)
		if rttOn < rttOff*5/4 {
			t.Logf("attempt %d: gathering slows these clients' round trips only %.2fx here now, too little for the check to be sure to see (the machine is short of CPU?)", attempt, float64(rttOn)/float64(rttOff))
			continue
		}
		tried++
		g, rtt := run(false, false)
		t.Logf("attempt %d: with the check %d waits gathered in the last %d round trips of %d clients in ping-pong, each with a heartbeat beside; %v a round trip", attempt, g, window, clients, rtt)
		held = g <= uint64(window/10)
	}
	switch {
	case tried == 0:
		t.Skip("in no attempt did gathering slow the clients' round trips 1.25 times (see the log): the machine is too loaded for this test")
	case !held:
		t.Errorf("in %d attempts more than %d of the loop's waits gathered input in the last %d round trips of %d clients in ping-pong with heartbeats beside, whose round trips gathering slowed 1.25 times or more (see the log)", tried, window/10, window, clients)
	}
}
