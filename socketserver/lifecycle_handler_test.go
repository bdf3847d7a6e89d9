//go:build linux

package socketserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// Shutdown and Close called from inside the server's own user code (issue
// 9 part 2; Python's bpo-39797): a handler, Setup, Finish, VerifyRequest,
// ErrorHandler, a datagram handler, ServiceActions; on every dispatcher;
// Shutdown with and without a deadline and with the handler's own context.
// None may deadlock, and none may sit out its deadline.

// lifecycleCall is a call a handler makes on its own server.
type lifecycleCall struct {
	name string
	call func(ctx context.Context, srv *ss.Server) error
	// closes: the call closes the caller's own connection (Close does).
	closes bool
}

var lifecycleCalls = []lifecycleCall{
	{"Shutdown(3s deadline)", func(_ context.Context, srv *ss.Server) error {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		return srv.Shutdown(ctx)
	}, false},
	{"Shutdown(Background)", func(_ context.Context, srv *ss.Server) error {
		return srv.Shutdown(context.Background())
	}, false},
	{"Shutdown(handler ctx)", func(ctx context.Context, srv *ss.Server) error {
		return srv.Shutdown(ctx)
	}, false},
	{"Close", func(_ context.Context, srv *ss.Server) error { return srv.Close() }, true},
}

var selfStopDispatchers = []dispatcherCase{
	{"synchronous", func() ss.Dispatcher { return ss.Synchronous{} }},
	{"goroutines", func() ss.Dispatcher { return &ss.Goroutines{} }},
	{"pool2", func() ss.Dispatcher { return ss.WorkerPool(2) }},
}

// callResult is what the call returned and how long it took.
type callResult struct {
	err  error
	took time.Duration
}

// stagedHandler calls its call at one stage of the request.
type stagedHandler struct {
	stage  string
	call   lifecycleCall
	srv    atomic.Pointer[ss.Server]
	result chan callResult
}

func (h *stagedHandler) run(ctx context.Context) {
	start := time.Now()
	err := h.call.call(ctx, h.srv.Load())
	h.result <- callResult{err, time.Since(start)}
}

func (h *stagedHandler) Setup(ctx context.Context, r *ss.Request) error {
	if h.stage == "Setup" {
		h.run(ctx)
	}
	return nil
}

func (h *stagedHandler) Handle(ctx context.Context, r *ss.Request) error {
	switch h.stage {
	case "Handle":
		h.run(ctx)
	case "ErrorHandler":
		return errors.New("to ErrorHandler")
	}
	if r.Conn == nil {
		return r.Reply([]byte("bye")) // a datagram: the socket is still open
	}
	if !h.call.closes {
		_, err := r.Conn.Write([]byte("bye"))
		return err
	}
	return nil
}

func (h *stagedHandler) Finish(ctx context.Context, r *ss.Request) error {
	if h.stage == "Finish" {
		h.run(ctx)
	}
	return nil
}

// TestLifecycleFromHandler: each call from each stage on each dispatcher
// returns at once (well inside its 3 s deadline, with nil from Shutdown),
// the caller's own reply still goes out after Shutdown, and Serve returns
// ErrServerClosed once the handler has returned.
func TestLifecycleFromHandler(t *testing.T) {
	for _, stage := range []string{"Handle", "Setup", "Finish", "VerifyRequest", "ErrorHandler", "datagram"} {
		for _, d := range selfStopDispatchers {
			for _, c := range lifecycleCalls {
				t.Run(stage+"/"+d.name+"/"+c.name, func(t *testing.T) { testLifecycleFromHandler(t, stage, d, c) })
			}
		}
	}
}

func testLifecycleFromHandler(t *testing.T, stage string, d dispatcherCase, c lifecycleCall) {
	sockettest.LeakCheck(t)
	h := &stagedHandler{stage: stage, call: c, result: make(chan callResult, 1)}
	network := "tcp"
	if stage == "datagram" {
		network, h.stage = "udp", "Handle"
	}
	srv, err := ss.New(network, "127.0.0.1:0", h, ss.WithDispatcher(d.make()))
	if err != nil {
		t.Fatal(err)
	}
	h.srv.Store(srv)
	srv.Logger = slog.New(slog.DiscardHandler)
	switch stage {
	case "VerifyRequest":
		srv.VerifyRequest = func(r *ss.Request) bool { h.run(r.Context()); return true }
	case "ErrorHandler":
		srv.ErrorHandler = func(r *ss.Request, err error) { h.run(r.Context()) }
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeForever() }()
	cl := dial(t, srv)
	cl.SetTimeout(10 * time.Second)
	if _, err := cl.Send([]byte("stop"), 0); err != nil {
		t.Fatal(err)
	}
	var res callResult
	select {
	case res = <-h.result:
	case <-time.After(5 * time.Second):
		srv.Close() // release what can be released, for the leak check
		t.Fatalf("%s from %s did not return in 5 s: deadlock", c.name, stage)
	}
	if res.took > time.Second {
		t.Errorf("%s from %s took %v", c.name, stage, res.took)
	}
	if res.err != nil {
		t.Errorf("%s from %s = %v", c.name, stage, res.err)
	}
	if !c.closes && stage != "ErrorHandler" { // (the ErrorHandler case's handler fails instead)
		buf := make([]byte, 8)
		n, err := cl.Recv(buf, 0)
		if string(buf[:n]) != "bye" {
			t.Errorf("the caller's reply after %s: %q, %v", c.name, buf[:n], err)
		}
	}
	select {
	case err := <-served:
		if !errors.Is(err, ss.ErrServerClosed) {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(5 * time.Second):
		srv.Close()
		t.Fatalf("Serve did not return after %s from %s", c.name, stage)
	}
}

// TestLifecycleFromServiceActions: ServiceActions runs on a goroutine of
// its own; Shutdown and Close from it stop the server too.
func TestLifecycleFromServiceActions(t *testing.T) {
	for _, c := range lifecycleCalls {
		t.Run(c.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler)
			if err != nil {
				t.Fatal(err)
			}
			result := make(chan error, 1)
			var once atomic.Bool
			srv.ServiceActions = func() {
				if once.CompareAndSwap(false, true) {
					result <- c.call(context.Background(), srv)
				}
			}
			srv.PollInterval = time.Millisecond
			served := make(chan error, 1)
			go func() { served <- srv.ServeForever() }()
			if err := recv(t, result, c.name+" from ServiceActions"); err != nil {
				t.Errorf("%s = %v", c.name, err)
			}
			if err := recv(t, served, "Serve's return"); !errors.Is(err, ss.ErrServerClosed) {
				t.Errorf("Serve = %v", err)
			}
		})
	}
}

// TestShutdownFromHandlerWaitsForOthers: Shutdown from a handler returns
// only once the other request that is running has finished, and that
// request gets its whole answer.
func TestShutdownFromHandlerWaitsForOthers(t *testing.T) {
	for _, d := range selfStopDispatchers[1:] { // two requests at once
		t.Run(d.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			var srvp atomic.Pointer[ss.Server]
			otherIn := make(chan struct{})
			var otherDone atomic.Bool
			shutdownReturned := make(chan bool, 1) // whether the other was done by then
			h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
				b := make([]byte, 5)
				if _, err := io.ReadFull(r.Conn, b); err != nil {
					return err
				}
				if string(b) == "other" {
					close(otherIn)
					time.Sleep(200 * time.Millisecond) // work the Shutdown must wait for
					otherDone.Store(true)
					_, err := r.Conn.Write([]byte("done"))
					return err
				}
				err := srvp.Load().Shutdown(context.Background())
				shutdownReturned <- otherDone.Load()
				if err != nil {
					return err
				}
				_, err = r.Conn.Write([]byte("bye"))
				return err
			})
			srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d.make()))
			if err != nil {
				t.Fatal(err)
			}
			srvp.Store(srv)
			served := make(chan error, 1)
			go func() { served <- srv.ServeForever() }()
			other := dial(t, srv)
			other.Send([]byte("other"), 0)
			<-otherIn
			quit := dial(t, srv)
			quit.Send([]byte("quit!"), 0)
			if done := recv(t, shutdownReturned, "Shutdown's return"); !done {
				t.Error("Shutdown from a handler returned while another request was running")
			}
			for _, c := range []struct {
				s    *socket.Socket
				want string
			}{{other, "done"}, {quit, "bye"}} {
				got, _ := io.ReadAll(c.s)
				if string(got) != c.want {
					t.Errorf("reply %q, want %q", got, c.want)
				}
			}
			if err := recv(t, served, "Serve's return"); !errors.Is(err, ss.ErrServerClosed) {
				t.Errorf("Serve = %v", err)
			}
		})
	}
}

// TestShutdownFromHandlerQueued: with one worker, a request accepted while
// the caller holds it cannot start before the caller returns; Shutdown
// does not wait for it (that would deadlock), and it is served after.
func TestShutdownFromHandlerQueued(t *testing.T) {
	for _, d := range []dispatcherCase{
		{"pool1", func() ss.Dispatcher { return ss.WorkerPool(1) }},
		{"goroutines-max1", func() ss.Dispatcher { return &ss.Goroutines{MaxConcurrent: 1} }},
	} {
		t.Run(d.name, func(t *testing.T) {
			sockettest.LeakCheck(t)
			var srvp atomic.Pointer[ss.Server]
			result := make(chan error, 1)
			h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
				b := make([]byte, 5)
				if _, err := io.ReadFull(r.Conn, b); err != nil {
					return err
				}
				if string(b) == "quit!" {
					// Wait until the next connection is accepted and queued.
					for deadline := time.Now().Add(10 * time.Second); srvp.Load().Stats().Active < 2; {
						if time.Now().After(deadline) {
							result <- errors.New("the second connection was not accepted")
							return nil
						}
						time.Sleep(time.Millisecond)
					}
					result <- srvp.Load().Shutdown(context.Background())
				}
				_, err := r.Conn.Write(b)
				return err
			})
			srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d.make()))
			if err != nil {
				t.Fatal(err)
			}
			srvp.Store(srv)
			served := make(chan error, 1)
			go func() { served <- srv.ServeForever() }()
			quit := dial(t, srv)
			quit.Send([]byte("quit!"), 0)
			queued := dial(t, srv)
			queued.Send([]byte("later"), 0)
			if err := recv(t, result, "Shutdown from the handler"); err != nil {
				t.Errorf("Shutdown = %v", err)
			}
			for _, c := range []struct {
				s    *socket.Socket
				want string
			}{{quit, "quit!"}, {queued, "later"}} {
				c.s.CloseWrite()
				got, _ := io.ReadAll(c.s)
				if string(got) != c.want {
					t.Errorf("reply %q, want %q (the queued request is served after)", got, c.want)
				}
			}
			if err := recv(t, served, "Serve's return"); !errors.Is(err, ss.ErrServerClosed) {
				t.Errorf("Serve = %v", err)
			}
		})
	}
}

// TestCloseReleasesShutdown: a Shutdown waiting for a handler that does
// not return (it ignores its context) returns ErrServerClosed as soon as
// Close is called, from another goroutine or from a handler.
func TestCloseReleasesShutdown(t *testing.T) {
	for _, from := range []string{"goroutine", "handler"} {
		t.Run(from, func(t *testing.T) {
			sockettest.LeakCheck(t)
			var srvp atomic.Pointer[ss.Server]
			stuckIn := make(chan struct{})
			release := make(chan struct{})
			closed := make(chan error, 1)
			h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
				b := make([]byte, 5)
				if _, err := io.ReadFull(r.Conn, b); err != nil {
					return nil
				}
				if string(b) == "close" {
					closed <- srvp.Load().Close()
					return nil
				}
				close(stuckIn)
				<-release // deaf to its context
				return nil
			})
			srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(&ss.Goroutines{}))
			if err != nil {
				t.Fatal(err)
			}
			srvp.Store(srv)
			defer close(release)
			served := make(chan error, 1)
			go func() { served <- srv.ServeForever() }()
			stuck := dial(t, srv)
			stuck.Send([]byte("stuck"), 0)
			<-stuckIn
			// The closer is accepted before Shutdown stops accepting.
			closer := dial(t, srv)
			waitFor(t, "the second connection", func() bool { return srv.Stats().Accepted == 2 })
			shutdown := make(chan error, 1)
			go func() { shutdown <- srv.Shutdown(context.Background()) }()
			waitFor(t, "Shutdown to stop accepting", func() bool { return srv.Fd() == -1 })
			switch from {
			case "goroutine":
				go func() { closed <- srv.Close() }()
			case "handler":
				closer.Send([]byte("close"), 0)
			}
			if err := recv(t, closed, "Close"); err != nil {
				t.Errorf("Close = %v", err)
			}
			if err := recv(t, shutdown, "the waiting Shutdown"); !errors.Is(err, ss.ErrServerClosed) {
				t.Errorf("the waiting Shutdown returned %v, want ErrServerClosed", err)
			}
			if err := recv(t, served, "Serve's return"); !errors.Is(err, ss.ErrServerClosed) {
				t.Errorf("Serve = %v", err)
			}
		})
	}
}

// TestPreforkQuitHelper serves a protocol whose "quit" (Shutdown) and
// "kill" (Close) commands stop the whole server from a worker's handler.
func TestPreforkQuitHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "TestPreforkQuitHelper" {
		t.Skip("helper process for TestPreforkQuit")
	}
	var srvp atomic.Pointer[ss.Server]
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		b := make([]byte, 4)
		if _, err := io.ReadFull(r.Conn, b); err != nil {
			return nil
		}
		var err error
		switch string(b) {
		case "quit":
			err = srvp.Load().Shutdown(ctx)
		case "kill":
			err = srvp.Load().Close()
		}
		_, werr := fmt.Fprintf(r.Conn, "bye %v", err)
		return werr
	})
	var logs lockedBuffer
	pf := &ss.Prefork{Children: 2, RestartDelay: time.Millisecond}
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(pf), ss.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	srvp.Store(srv)
	if ss.IsPreforkChild() {
		srv.ServeForever()
		t.Fatal("unreachable: a prefork worker exits in Serve")
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeForever() }()
	for pf.ActiveChildren() < 2 {
		time.Sleep(5 * time.Millisecond) // the workers start: nothing else to wait on
	}
	fmt.Printf("ADDR %v\n", srv.Address())
	err = <-served
	fmt.Printf("SERVE %v children=%d restarts=%d logs=%q\n", err, pf.ActiveChildren(), pf.Restarts(), logs.String())
}

// TestPreforkQuit: a worker's handler that calls Shutdown (or Close) stops
// the whole Prefork server: the parent's Serve returns ErrServerClosed, no
// worker is replaced or reported, and with Shutdown the caller's reply
// still goes out. (Before, the worker alone stopped, and was replaced.)
func TestPreforkQuit(t *testing.T) {
	if os.Getenv(helperEnv) != "" || ss.IsPreforkChild() {
		t.Skip("in a helper")
	}
	for _, cmd := range []string{"quit", "kill"} {
		t.Run(cmd, func(t *testing.T) {
			_, out, _ := helper(t, "TestPreforkQuitHelper")
			sa, err := socket.ParseAddr(socket.AF_INET, readLine(t, out, "ADDR "))
			if err != nil {
				t.Fatal(err)
			}
			c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetTimeout(10 * time.Second)
			if err := c.Connect(sa); err != nil {
				t.Fatal(err)
			}
			c.Sendall([]byte(cmd), 0)
			reply, _ := io.ReadAll(c)
			if cmd == "quit" && string(reply) != "bye <nil>" {
				t.Errorf("reply %q, want %q", reply, "bye <nil>")
			}
			done := make(chan string, 1)
			go func() {
				for {
					line, err := out.ReadString('\n')
					if err != nil {
						done <- "the helper's output ended: " + err.Error()
						return
					}
					if rest, ok := strings.CutPrefix(line, "SERVE "); ok {
						done <- strings.TrimSpace(rest)
						return
					}
				}
			}()
			got := recv(t, done, "the parent's Serve to return")
			if want := ss.ErrServerClosed.Error() + ` children=0 restarts=0 logs=""`; got != want {
				t.Errorf("parent: %s\nwant:   %s", got, want)
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
