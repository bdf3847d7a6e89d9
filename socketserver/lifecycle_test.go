//go:build linux

package socketserver_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// TestShutdownImmediately: Shutdown right after Serve starts still stops it
// (Python issue #2302), with every ordering of the two.
func TestShutdownImmediately(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) { testShutdownImmediately(t, d) })
	}
}

func testShutdownImmediately(t *testing.T, d dispatcherCase) {
	sockettest.LeakCheck(t)
	for i := 0; i < 50; i++ {
		srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler, ss.WithDispatcher(d.make()))
		if err != nil {
			t.Fatal(err)
		}
		errc := make(chan error, 1)
		go func() { errc <- srv.ServeForever() }()
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		select {
		case err := <-errc:
			if !errors.Is(err, ss.ErrServerClosed) {
				t.Fatalf("Serve = %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve still running after Shutdown")
		}
	}
	// Shutdown before Serve: Serve returns at once.
	srv, _ := ss.NewTCPServer("127.0.0.1:0", echoHandler, ss.WithDispatcher(d.make()))
	srv.Shutdown(context.Background())
	if err := srv.ServeForever(); !errors.Is(err, ss.ErrServerClosed) {
		t.Fatalf("Serve after Shutdown = %v", err)
	}
}

// TestShutdownUnderLoad: Shutdown while 200 clients are sending loses no
// request the server accepted.
func TestShutdownUnderLoad(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) { testShutdownUnderLoad(t, d) })
	}
}

func testShutdownUnderLoad(t *testing.T, d dispatcherCase) {
	sockettest.LeakCheck(t)
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		line := make([]byte, 64)
		n, err := io.ReadAtLeast(r.Conn, line, 1)
		if err != nil {
			return nil // a client that gave up
		}
		time.Sleep(20 * time.Millisecond) // work in flight while Shutdown starts
		_, err = r.Conn.Write(append([]byte("done "), line[:n]...))
		return err
	})
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d.make()))
	if err != nil {
		t.Fatal(err)
	}
	srv.Logger = slog.New(slog.DiscardHandler)
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeForever() }()
	addr := srv.Address()
	const clients = 200
	var completed, refused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < clients; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetTimeout(15 * time.Second)
			if err := c.Connect(addr); err != nil {
				refused.Add(1)
				return
			}
			msg := fmt.Sprintf("request %d", i)
			if _, err := c.Sendall([]byte(msg), 0); err != nil {
				refused.Add(1)
				return
			}
			c.CloseWrite()
			resp, err := io.ReadAll(c)
			if err != nil || len(resp) == 0 {
				refused.Add(1) // reset while still in the kernel's queue: never accepted
				return
			}
			if string(resp) != "done "+msg {
				t.Errorf("truncated or wrong response %q to %q", resp, msg)
				return
			}
			completed.Add(1)
		}()
	}
	close(start)
	waitFor(t, "some connections accepted", func() bool { return srv.Stats().Accepted >= 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := <-errc; !errors.Is(err, ss.ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
	wg.Wait()
	st := srv.Stats()
	t.Logf("accepted %d, completed %d, not accepted %d", st.Accepted, completed.Load(), refused.Load())
	if st.Accepted != uint64(completed.Load()) {
		t.Fatalf("server accepted %d requests but %d completed: accepted requests were lost", st.Accepted, completed.Load())
	}
	if st.Accepted == 0 {
		t.Fatal("nothing was accepted before Shutdown: the test proved nothing")
	}
}

// TestBlockOnClose: with BlockOnClose, Close waits for handlers; without,
// it returns while they run.
func TestBlockOnClose(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		for _, block := range []bool{true, false} {
			t.Run(fmt.Sprint(d.name, "/", block), func(t *testing.T) { testBlockOnClose(t, d, block) })
		}
	}
}

func testBlockOnClose(t *testing.T, d dispatcherCase, block bool) {
	sockettest.LeakCheck(t)
	var returned atomic.Bool
	entered := make(chan struct{})
	release := make(chan struct{})
	done := make(chan struct{})
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		defer close(done)
		close(entered)
		<-ctx.Done() // Close cancels the request
		if !block {
			<-release
		}
		time.Sleep(50 * time.Millisecond) // the handler's own cleanup takes a while
		returned.Store(true)
		return nil
	})
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d.make()))
	if err != nil {
		t.Fatal(err)
	}
	srv.BlockOnClose = block
	served := make(chan error, 1)
	go func() { served <- srv.ServeForever() }()
	dial(t, srv)
	<-entered
	srv.Close()
	if returned.Load() != block {
		t.Fatalf("BlockOnClose=%v: handler returned=%v when Close returned", block, returned.Load())
	}
	close(release)
	recv(t, done, "the handler's return")
	if err := recv(t, served, "Serve's return"); !errors.Is(err, ss.ErrServerClosed) {
		t.Fatalf("Serve = %v", err)
	}
}

func TestHandleRequest(t *testing.T) {
	sockettest.LeakCheck(t)
	for _, tr := range []transport{transports[0], transports[4]} { // tcp4, udp4
		t.Run(tr.name, func(t *testing.T) {
			srv, err := ss.New(tr.network, tr.addr(t), echoHandler)
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var timeouts atomic.Int32
			srv.Timeout = 50 * time.Millisecond
			srv.OnTimeout = func() { timeouts.Add(1) }
			start := time.Now()
			if err := srv.HandleRequest(context.Background()); !errors.Is(err, ss.ErrTimeout) {
				t.Fatalf("HandleRequest with no client = %v, want ErrTimeout", err)
			}
			if timeouts.Load() != 1 || time.Since(start) < 40*time.Millisecond {
				t.Fatalf("OnTimeout called %d times after %v", timeouts.Load(), time.Since(start))
			}
			// One request: handled, then HandleRequest returns.
			c := dial(t, srv)
			done := make(chan error, 1)
			go func() {
				err := exchange(c, []byte("one"))
				if tr.network == "tcp" {
					c.CloseWrite() // the echo handler returns at EOF
				}
				done <- err
			}()
			srv.Timeout = 5 * time.Second
			if err := srv.HandleRequest(context.Background()); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if srv.Stats().Accepted != 1 {
				t.Fatalf("accepted %d", srv.Stats().Accepted)
			}
		})
	}
}

func TestServiceActions(t *testing.T) {
	srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	calls := make(chan time.Time, 3)
	srv.ServiceActions = func() {
		select {
		case calls <- time.Now():
		default:
		}
	}
	srv.PollInterval = 10 * time.Millisecond
	start := time.Now()
	stop := serve(t, srv)
	var last time.Time
	for i := range 3 {
		last = recv(t, calls, fmt.Sprintf("ServiceActions call %d", i+1))
	}
	stop()
	if el := last.Sub(start); el < 25*time.Millisecond {
		t.Fatalf("three calls in %v at a 10ms interval", el)
	}
}
