//go:build linux

package eventloop_test

import (
	"net"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
)

// TestIdleLoopSleepsAfterBusy: a loop that was busy (input from many
// connections at once) sleeps once its connections fall quiet. The
// process's voluntary context switches over 300 ms of quiet are counted:
// a loop that keeps waking counts one each time it goes back to sleep.
// On io_uring a busy loop's wait once ended every 50 µs with nothing
// (ETIME at the end of its minimum wait, with no overall timeout), about
// 8,500 wake-ups a second for as long as the connections stayed idle.
func TestIdleLoopSleepsAfterBusy(t *testing.T) {
	e := &eventloop.Engine{Loops: 1, Handler: echo{}}
	addr, stop := start(t, e, "tcp", "127.0.0.1:0")
	defer stop()
	const clients, trips = 64, 20
	for err := range dialPingPong(t, addr, clients, func(c net.Conn) error { return pingPong(c, trips, nil) }) {
		t.Fatal(err)
	}
	// Every answer is in: the loop has nothing left to do.
	var r0, r1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &r0)
	time.Sleep(300 * time.Millisecond)
	syscall.Getrusage(syscall.RUSAGE_SELF, &r1)
	n := r1.Nvcsw - r0.Nvcsw
	t.Logf("%d voluntary context switches in 300 ms of quiet (%s)", n, backendOf(e))
	if n > 200 {
		t.Errorf("%d voluntary context switches in 300 ms with every connection quiet after %d connections' ping-pong, want at most 200 (%s)", n, clients, backendOf(e))
	}
}
