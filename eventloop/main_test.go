//go:build linux

package eventloop_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

var backendFlag = flag.String("backend", "both", "the engine backend the tests run on: epoll, io_uring or both")

// TestMain runs every test of the package once on each backend (the
// default backend of an Engine is switched between the runs; tests that
// concern one backend set it themselves). Where io_uring is unusable its
// run is skipped with the reason, unless REQUIRE_URING=1 (CI), which
// fails instead.
func TestMain(m *testing.M) {
	flag.Parse()
	sockettest.VerifyRun(func() int {
		var backends []eventloop.Backend
		if fz := flag.Lookup("test.fuzz"); fz != nil && fz.Value.String() != "" || flag.Lookup("test.fuzzworker") != nil && flag.Lookup("test.fuzzworker").Value.String() == "true" {
			// Fuzzing runs m.Run once (its targets try every backend
			// themselves).
			return m.Run()
		}
		switch *backendFlag {
		case "both":
			backends = []eventloop.Backend{eventloop.BackendEpoll, eventloop.BackendIOUring}
		case "epoll", "io_uring":
			backends = []eventloop.Backend{eventloop.Backend(*backendFlag)}
		default:
			fmt.Fprintf(os.Stderr, "-backend %q: want epoll, io_uring or both\n", *backendFlag)
			return 2
		}
		code := 0
		for _, b := range backends {
			if b == eventloop.BackendIOUring {
				if err := eventloop.ProbeIOUring(); err != nil {
					if os.Getenv("REQUIRE_URING") == "1" {
						fmt.Fprintf(os.Stderr, "FAIL: REQUIRE_URING=1 and the io_uring backend cannot run: %v\n", err)
						code = 1
					} else {
						fmt.Printf("=== SKIP backend io_uring: %v\n", err)
					}
					continue
				}
			}
			fmt.Printf("=== backend %s\n", b)
			eventloop.SetDefaultBackend(b)
			if c := m.Run(); c != 0 {
				fmt.Printf("--- FAIL: backend %s\n", b)
				code = c
			}
		}
		eventloop.SetDefaultBackend(eventloop.BackendEpoll)
		return code
	})
}

// backendOf is the backend e runs on, for messages.
func backendOf(e *eventloop.Engine) eventloop.Backend {
	b, _ := e.ResolvedBackend()
	return b
}

// echo writes back what it reads.
type echo struct{ eventloop.BaseHandler }

func (echo) OnData(c *eventloop.Conn) eventloop.Action {
	b, _ := c.Next(-1)
	c.Write(b)
	return eventloop.None
}

func (echo) OnPacket(p *eventloop.Packet) eventloop.Action {
	p.Reply(p.Data)
	return eventloop.None
}

// start serves e on network/addr and returns its address and a stop
// function that shuts it down and checks Serve's result.
func start(t testing.TB, e *eventloop.Engine, network, addr string) (string, func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- e.ListenAndServe(network, addr) }()
	// A loaded machine can take seconds to run the serving goroutine.
	p := sockettest.Patience(t)
	select {
	case <-e.Ready():
	case <-time.After(p):
	}
	if e.Addr() == nil {
		select {
		case err := <-errc:
			t.Fatalf("engine did not start: %v", err)
		default:
			t.Fatalf("engine did not start within %v", p)
		}
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

// waitFor waits until cond holds, failing the test after
// sockettest.Patience (30 s): for states that only a poll can see (a
// counter another goroutine moves).
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	sockettest.WaitFor(t, what, cond)
}

// recv waits for a value on ch, failing the test after
// sockettest.Patience (30 s).
func recv[T any](t testing.TB, ch <-chan T, what string) T {
	t.Helper()
	p := sockettest.Patience(t)
	select {
	case v := <-ch:
		return v
	case <-time.After(p):
		t.Fatalf("timed out after %v waiting for %s", p, what)
		var zero T
		return zero
	}
}

// lockedW is a writer safe for the engine's loops and the test at once.
type lockedW struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedW) Write(p []byte) (int, error) { l.mu.Lock(); defer l.mu.Unlock(); return l.w.Write(p) }

// discardLogger keeps the engine's expected complaints out of the test
// output.
func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }

// listener opens a TCP listener on a free loopback port, for Serve.
func listener(t testing.TB) (*socket.Socket, string) {
	t.Helper()
	ln, err := socket.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	return ln, ln.LocalAddr().String()
}
