//go:build linux

package eventloop_test

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
)

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

// TestIdleTimeout: a connection that sends nothing for IdleTimeout is
// closed with ErrIdleTimeout, one that keeps sending is not.
func TestIdleTimeout(t *testing.T) {
	sockettest.LeakCheck(t)
	rec := &closeRecorder{}
	addr, stop := start(t, &eventloop.Engine{Handler: rec, Loops: 1, IdleTimeout: 200 * time.Millisecond}, "tcp", "127.0.0.1:0")
	busy, _ := net.Dial("tcp", addr)
	idle, _ := net.Dial("tcp", addr)
	defer busy.Close()
	defer idle.Close()
	closed := make(chan error, 1)
	go func() {
		idle.SetReadDeadline(time.Now().Add(10 * time.Second))
		n, err := idle.Read(make([]byte, 1))
		if n != 0 || err != io.EOF {
			err = errors.Join(errors.New("idle connection not closed"), err)
		} else {
			err = nil
		}
		closed <- err
	}()
	// Keep the busy one busy, well inside the timeout, until the idle one
	// is closed.
	tick := time.NewTicker(40 * time.Millisecond)
	defer tick.Stop()
	for waiting := true; waiting; {
		select {
		case err := <-closed:
			if err != nil {
				t.Fatal(err)
			}
			waiting = false
		case <-tick.C:
			busy.Write([]byte("x"))
		}
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

type ticker struct {
	echo
	n     int
	fifth chan struct{}
}

func (t *ticker) OnTick() (time.Duration, eventloop.Action) {
	if t.n++; t.n == 5 {
		close(t.fifth)
	}
	return 10 * time.Millisecond, eventloop.None
}

// TestOnTick: OnTick runs again at the interval it returns.
func TestOnTick(t *testing.T) {
	tk := &ticker{fifth: make(chan struct{})}
	_, stop := start(t, &eventloop.Engine{Handler: tk, TickInterval: 10 * time.Millisecond}, "tcp", "127.0.0.1:0")
	recv(t, tk.fifth, "the fifth OnTick")
	stop()
}
