//go:build linux

package eventloop_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/eventloop"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

// echo writes back what it reads.
type echo struct{ eventloop.BaseHandler }

func (echo) OnData(c *eventloop.Conn) eventloop.Action {
	c.Write(c.Next(-1))
	return eventloop.None
}

// start serves e on network/addr and returns its address and a stop
// function that shuts it down and checks Serve's result.
func start(t testing.TB, e *eventloop.Engine, network, addr string) (string, func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- e.ListenAndServe(network, addr) }()
	for i := 0; i < 500 && e.Addr() == nil; i++ {
		time.Sleep(2 * time.Millisecond)
	}
	if e.Addr() == nil {
		t.Fatal("engine did not start")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := e.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if err := <-errc; !errors.Is(err, eventloop.ErrEngineClosed) {
			t.Errorf("Serve = %v", err)
		}
	}
	t.Cleanup(stop)
	return e.Addr().String(), stop
}

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
