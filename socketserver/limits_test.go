//go:build linux

package socketserver_test

import (
	"context"
	"errors"
	"log/slog"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	ss "github.com/socketkit/socketkit/socketserver"
)

func TestMaxConnections(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) { testMaxConnections(t, d) })
	}
}

func testMaxConnections(t *testing.T, d dispatcherCase) {
	sockettest.LeakCheck(t)
	release := make(chan struct{})
	entered := make(chan struct{}, 2)
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d.make()))
	if err != nil {
		t.Fatal(err)
	}
	srv.MaxConnections = 2
	serve(t, srv)
	defer close(release)
	dial(t, srv)
	dial(t, srv)
	recv(t, entered, "the first handler")
	recv(t, entered, "the second handler")
	third := dial(t, srv)
	if n, err := third.Recv(make([]byte, 1), 0); n != 0 || (err != nil && !errors.Is(err, syscall.ECONNRESET)) {
		t.Fatalf("third connection read %d, %v; want it closed", n, err)
	}
	if st := srv.Stats(); st.Rejected != 1 || st.Active != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestTimeouts(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) { testTimeouts(t, d) })
	}
}

func testTimeouts(t *testing.T, d dispatcherCase) {
	sockettest.LeakCheck(t)
	t.Run("idle", func(t *testing.T) {
		srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler, ss.WithDispatcher(d.make()))
		if err != nil {
			t.Fatal(err)
		}
		// The timeout is long next to the gaps between exchanges so that a
		// loaded machine, which can hold a goroutine back for a few hundred
		// milliseconds, does not make a gap look idle.
		srv.IdleTimeout = 600 * time.Millisecond
		srv.Logger = slog.New(slog.DiscardHandler)
		serve(t, srv)
		c := dial(t, srv)
		// Activity keeps it open past the idle timeout (3 gaps of 250ms)...
		var last time.Time
		for i := 0; i < 4; i++ {
			if i > 0 {
				time.Sleep(250 * time.Millisecond) // the point: a gap shorter than the timeout
			}
			if err := exchange(c, []byte("keepalive")); err != nil {
				t.Fatalf("active connection closed: %v", err)
			}
			last = time.Now()
		}
		// ...silence closes it, about IdleTimeout after the last activity.
		if n, _ := c.Recv(make([]byte, 1), 0); n != 0 {
			t.Fatal("data on an idle connection")
		}
		if el := time.Since(last); el < 540*time.Millisecond || el > 5*time.Second {
			t.Fatalf("idle connection closed %v after the last activity; want about 600ms", el)
		}
	})
	t.Run("request", func(t *testing.T) {
		srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler, ss.WithDispatcher(d.make()))
		if err != nil {
			t.Fatal(err)
		}
		srv.IdleTimeout = 1 * time.Second
		srv.RequestTimeout = 1500 * time.Millisecond
		srv.Logger = slog.New(slog.DiscardHandler)
		serve(t, srv)
		c := dial(t, srv)
		// A client trickling a byte every 50ms beats the idle timeout, but
		// not the absolute request deadline. (The idle timeout is long next
		// to the trickle's gaps, which a loaded machine can stretch.)
		start := time.Now()
		var err2 error
		for time.Since(start) < 10*time.Second {
			if _, err2 = c.Send([]byte("x"), 0); err2 != nil {
				break
			}
			if n, err := c.Recv(make([]byte, 1), 0); n == 0 || err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // the point: the trickle
		}
		// Not before the deadline; and long before the 10 s a deadline that
		// each byte pushed back would give.
		if el := time.Since(start); el < 1350*time.Millisecond || el > 5*time.Second {
			t.Fatalf("trickling client closed after %v; want about 1.5s", el)
		}
	})
}
