//go:build linux

package socketserver_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

func TestVerifyRequest(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) { testVerifyRequest(t, d) })
	}
}

func testVerifyRequest(t *testing.T, d dispatcherCase) {
	sockettest.LeakCheck(t)
	var handled atomic.Int32
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error { handled.Add(1); return nil })
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d.make()))
	if err != nil {
		t.Fatal(err)
	}
	var asked atomic.Int32
	srv.VerifyRequest = func(r *ss.Request) bool {
		asked.Add(1)
		ap, _ := socket.AddrPortOf(r.ClientAddr)
		return ap.Port()%2 == 0 && false // reject every client
	}
	serve(t, srv)
	c := dial(t, srv)
	buf := make([]byte, 1)
	if n, err := c.Recv(buf, 0); n != 0 || err != nil {
		t.Fatalf("rejected client read %d, %v; want the connection closed", n, err)
	}
	if asked.Load() != 1 || handled.Load() != 0 || srv.Stats().Rejected != 1 {
		t.Fatalf("asked %d handled %d stats %+v", asked.Load(), handled.Load(), srv.Stats())
	}
}

// TestPanicRecovered: a panicking handler is logged, and the next request
// is served.
func TestPanicRecovered(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) { testPanicRecovered(t, d) })
	}
}

func testPanicRecovered(t *testing.T, d dispatcherCase) {
	sockettest.LeakCheck(t)
	var logs bytes.Buffer
	var mu sync.Mutex
	var calls atomic.Int32
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		if calls.Add(1) == 1 {
			panic("boom on the first request")
		}
		return echoHandler(ctx, r)
	})
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d.make()))
	if err != nil {
		t.Fatal(err)
	}
	srv.Logger = slog.New(slog.NewTextHandler(lockedWriter{&logs, &mu}, nil))
	serve(t, srv)
	c1 := dial(t, srv)
	c1.Send([]byte("x"), 0)
	if n, _ := c1.Recv(make([]byte, 1), 0); n != 0 {
		t.Fatal("panicking request got data")
	}
	c2 := dial(t, srv)
	if err := exchange(c2, []byte("still serving")); err != nil {
		t.Fatalf("request after the panic: %v", err)
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "handler panicked") || !strings.Contains(out, "boom on the first request") {
		t.Fatalf("panic not logged:\n%s", out)
	}
	if srv.Stats().Errors != 1 {
		t.Fatalf("stats %+v", srv.Stats())
	}
}

type setupFinish struct {
	mu    sync.Mutex
	log   []string
	fail  string
	done  chan struct{}
	count int
}

func (h *setupFinish) add(s string) { h.mu.Lock(); h.log = append(h.log, s); h.mu.Unlock() }
func (h *setupFinish) Setup(ctx context.Context, r *ss.Request) error {
	h.add("setup")
	if h.fail == "setup" {
		return errors.New("setup failed")
	}
	return nil
}
func (h *setupFinish) Handle(ctx context.Context, r *ss.Request) error {
	h.add("handle")
	if h.fail == "panic" {
		panic("in handle")
	}
	return nil
}
func (h *setupFinish) Finish(ctx context.Context, r *ss.Request) error {
	h.add("finish")
	h.done <- struct{}{}
	return nil
}

func TestSetupHandleFinish(t *testing.T) {
	for _, tc := range []struct{ fail, want string }{
		{"", "setup,handle,finish"},
		{"setup", "setup,finish"},
		{"panic", "setup,handle,finish"},
	} {
		t.Run("fail="+tc.fail, func(t *testing.T) {
			h := &setupFinish{fail: tc.fail, done: make(chan struct{}, 1)}
			srv, err := ss.NewTCPServer("127.0.0.1:0", h)
			if err != nil {
				t.Fatal(err)
			}
			var handled []error
			var mu sync.Mutex
			srv.ErrorHandler = func(r *ss.Request, err error) { mu.Lock(); handled = append(handled, err); mu.Unlock() }
			stop := serve(t, srv)
			dial(t, srv)
			<-h.done
			h.mu.Lock()
			got := strings.Join(h.log, ",")
			h.mu.Unlock()
			if got != tc.want {
				t.Fatalf("stages %s, want %s", got, tc.want)
			}
			stop() // waits for the request to end: ErrorHandler has run
			mu.Lock()
			defer mu.Unlock()
			if (tc.fail != "") != (len(handled) == 1) {
				t.Fatalf("ErrorHandler got %v", handled)
			}
			var pe *ss.PanicError
			if tc.fail == "panic" && !errors.As(handled[0], &pe) {
				t.Fatalf("panic reported as %T", handled[0])
			}
		})
	}
}
