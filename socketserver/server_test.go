//go:build linux

package socketserver_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

func TestMain(m *testing.M) { sockettest.VerifyTestMain(m) }

type transport struct {
	name    string
	network string
	addr    func(t *testing.T) string
}

func loopback4(*testing.T) string { return "127.0.0.1:0" }
func loopback6(t *testing.T) string {
	if !socket.HasIPv6() {
		t.Skip("no IPv6")
	}
	return "[::1]:0"
}
func unixPath(t *testing.T) string { return sockettest.UnixPath(t, "srv.sock") }

var transports = []transport{
	{"tcp4", "tcp", loopback4},
	{"tcp6", "tcp", loopback6},
	{"unix", "unix", unixPath},
	{"unixpacket", "unixpacket", unixPath},
	{"udp4", "udp", loopback4},
	{"udp6", "udp", loopback6},
	{"unixgram", "unixgram", unixPath},
}

type dispatcherCase struct {
	name string
	make func() ss.Dispatcher
}

var dispatchers = []dispatcherCase{
	{"synchronous", func() ss.Dispatcher { return ss.Synchronous{} }},
	{"goroutines", func() ss.Dispatcher { return &ss.Goroutines{} }},
	{"goroutines-max2", func() ss.Dispatcher { return &ss.Goroutines{MaxConcurrent: 2} }},
	{"pool4", func() ss.Dispatcher { return ss.WorkerPool(4) }},
	{"eventloop", func() ss.Dispatcher { return &ss.EventLoop{Loops: 2} }},
}

// lifecycleDispatchers are the concurrent dispatchers the lifecycle tests
// run over.
var lifecycleDispatchers = []dispatcherCase{dispatchers[1], dispatchers[4]}

// echoHandler echoes a stream connection record by record (so that
// seqpacket keeps its boundaries) or a datagram.
var echoHandler = ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
	if r.Conn == nil {
		return r.Reply(r.Packet)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Conn.Read(buf)
		if n > 0 {
			if _, werr := r.Conn.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
})

// serve starts srv.Serve and returns a function that shuts it down and
// checks that Serve returned ErrServerClosed.
func serve(t *testing.T, srv *ss.Server) (stop func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			select {
			case err := <-errc:
				if !errors.Is(err, ss.ErrServerClosed) {
					t.Errorf("Serve returned %v, want ErrServerClosed", err)
				}
			case <-time.After(10 * time.Second):
				t.Error("Serve did not return after Shutdown")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// dial connects a client socket of the server's kind. Datagram clients are
// bound (Unix datagram clients need an address to get replies).
func dial(t *testing.T, srv *ss.Server) *socket.Socket {
	t.Helper()
	addr := srv.Address()
	typ := srv.Socket().Type()
	c, err := socket.New(addr.Family(), typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if typ == socket.SOCK_DGRAM {
		var local socket.Sockaddr
		switch addr.Family() {
		case socket.AF_UNIX:
			local = &socket.UnixAddr{Path: sockettest.UnixPath(t, "client.sock")}
		case socket.AF_INET:
			local = &socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}}
		default:
			local = &socket.Inet6Addr{Addr: [16]byte{15: 1}}
		}
		if err := c.Bind(local); err != nil {
			t.Fatal(err)
		}
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Connect(addr); err != nil {
		t.Fatal(err)
	}
	return c
}

// exchange sends msg and reads back len(msg) bytes (one datagram or
// record for message transports).
func exchange(c *socket.Socket, msg []byte) error {
	if _, err := c.Sendall(msg, 0); err != nil {
		return err
	}
	got := make([]byte, len(msg)+16)
	n := 0
	for n < len(msg) {
		m, err := c.Recv(got[n:], 0)
		if err != nil {
			return err
		}
		if m == 0 {
			return io.ErrUnexpectedEOF
		}
		n += m
		if c.Type() != socket.SOCK_STREAM {
			break
		}
	}
	if !bytes.Equal(got[:n], msg) {
		return fmt.Errorf("echo %q, want %q", got[:n], msg)
	}
	return nil
}

// TestEchoMatrix runs one echo test over every transport × dispatcher.
func TestEchoMatrix(t *testing.T) {
	for _, tr := range transports {
		for _, d := range dispatchers {
			t.Run(tr.name+"/"+d.name, func(t *testing.T) {
				sockettest.LeakCheck(t)
				srv, err := ss.New(tr.network, tr.addr(t), echoHandler, ss.WithDispatcher(d.make()))
				if err != nil {
					t.Fatal(err)
				}
				stop := serve(t, srv)
				const clients, msgs = 6, 20
				var wg sync.WaitGroup
				errs := make(chan error, clients)
				for i := 0; i < clients; i++ {
					c := dial(t, srv)
					wg.Add(1)
					go func() {
						defer wg.Done()
						for j := 0; j < msgs; j++ {
							if err := exchange(c, []byte(fmt.Sprintf("client %d message %d", i, j))); err != nil {
								errs <- err
								return
							}
						}
						c.Close() // a synchronous server serves one connection at a time
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Error(err)
				}
				stop()
				st := srv.Stats()
				if st.Errors != 0 || st.Active != 0 {
					t.Errorf("stats after the run: %+v", st)
				}
				if srv.Fd() != -1 {
					t.Errorf("Fd after Shutdown = %d", srv.Fd())
				}
			})
		}
	}
}

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
	time.Sleep(15 * time.Millisecond)
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
	{
		{
			sockettest.LeakCheck(t)
			var returned atomic.Bool
			entered := make(chan struct{})
			release := make(chan struct{})
			h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
				close(entered)
				<-ctx.Done() // Close cancels the request
				if !block {
					<-release
				}
				time.Sleep(50 * time.Millisecond)
				returned.Store(true)
				return nil
			})
			srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(d.make()))
			if err != nil {
				t.Fatal(err)
			}
			srv.BlockOnClose = block
			go srv.ServeForever()
			dial(t, srv)
			<-entered
			srv.Close()
			if returned.Load() != block {
				t.Fatalf("BlockOnClose=%v: handler returned=%v when Close returned", block, returned.Load())
			}
			close(release)
			if !block {
				for !returned.Load() {
					time.Sleep(5 * time.Millisecond)
				}
			}
		}
	}
}

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
			go func() { done <- exchange(c, []byte("one")) }()
			srv.Timeout = 5 * time.Second
			if tr.network == "tcp" {
				go func() { time.Sleep(50 * time.Millisecond); c.CloseWrite() }()
			}
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

type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// setupFinish records the stages in order.
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
			serve(t, srv)
			dial(t, srv)
			<-h.done
			h.mu.Lock()
			got := strings.Join(h.log, ",")
			h.mu.Unlock()
			if got != tc.want {
				t.Fatalf("stages %s, want %s", got, tc.want)
			}
			time.Sleep(10 * time.Millisecond)
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

// TestBindFailureNoLeak: a bind failure repeated 1,000 times leaks no
// descriptor.
func TestBindFailureNoLeak(t *testing.T) {
	sockettest.LeakCheck(t)
	busy, err := ss.NewTCPServer("127.0.0.1:0", echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	addr := busy.Address().String()
	for i := 0; i < 1000; i++ {
		srv, err := ss.NewTCPServer(addr, echoHandler)
		if err == nil {
			srv.Close()
			t.Fatal("second server bound a busy port")
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			t.Fatalf("bind %d: %v", i, err)
		}
	}
	if _, err := ss.New("sctp", ":0", echoHandler); err == nil {
		t.Fatal("unknown network accepted")
	}
}

func TestMaxConnections(t *testing.T) {
	for _, d := range lifecycleDispatchers {
		t.Run(d.name, func(t *testing.T) { testMaxConnections(t, d) })
	}
}

func testMaxConnections(t *testing.T, d dispatcherCase) {
	sockettest.LeakCheck(t)
	release := make(chan struct{})
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
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
	for srv.Stats().Active < 2 {
		time.Sleep(2 * time.Millisecond)
	}
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
		srv.IdleTimeout = 100 * time.Millisecond
		srv.Logger = slog.New(slog.DiscardHandler)
		serve(t, srv)
		c := dial(t, srv)
		// Activity keeps it open past the idle timeout...
		var last time.Time
		for i := 0; i < 4; i++ {
			if i > 0 {
				time.Sleep(60 * time.Millisecond)
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
		if el := time.Since(last); el < 90*time.Millisecond || el > 5*time.Second {
			t.Fatalf("idle connection closed %v after the last activity; want about 100ms", el)
		}
	})
	t.Run("request", func(t *testing.T) {
		srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler, ss.WithDispatcher(d.make()))
		if err != nil {
			t.Fatal(err)
		}
		srv.IdleTimeout = 200 * time.Millisecond
		srv.RequestTimeout = 300 * time.Millisecond
		srv.Logger = slog.New(slog.DiscardHandler)
		serve(t, srv)
		c := dial(t, srv)
		// A client trickling a byte every 50ms beats the idle timeout, but
		// not the absolute request deadline.
		start := time.Now()
		var err2 error
		for time.Since(start) < 3*time.Second {
			if _, err2 = c.Send([]byte("x"), 0); err2 != nil {
				break
			}
			if n, err := c.Recv(make([]byte, 1), 0); n == 0 || err != nil {
				break
			}
			time.Sleep(50 * time.Millisecond)
		}
		if el := time.Since(start); el < 250*time.Millisecond || el > 2*time.Second {
			t.Fatalf("trickling client closed after %v; want about 300ms", el)
		}
	})
}

func TestDatagramHandlerReplies(t *testing.T) {
	sockettest.LeakCheck(t)
	for _, replyEmpty := range []bool{false, true} {
		t.Run(fmt.Sprint("ReplyEmpty=", replyEmpty), func(t *testing.T) {
			h := &ss.DatagramHandler{ReplyEmpty: replyEmpty, Func: func(ctx context.Context, r *ss.DatagramRequest) error {
				b, _ := io.ReadAll(r.R)
				if string(b) == "silent" {
					return nil // W stays empty
				}
				fmt.Fprintf(r.W, "got %s", b)
				return nil
			}}
			srv, err := ss.NewUDPServer("127.0.0.1:0", h)
			if err != nil {
				t.Fatal(err)
			}
			serve(t, srv)
			c := dial(t, srv)
			c.Send([]byte("hello"), 0)
			buf := make([]byte, 64)
			if n, err := c.Recv(buf, 0); err != nil || string(buf[:n]) != "got hello" {
				t.Fatalf("reply %q, %v", buf[:n], err)
			}
			c.Send([]byte("silent"), 0)
			c.SetTimeout(200 * time.Millisecond)
			n, err := c.Recv(buf, 0)
			switch {
			case replyEmpty && (err != nil || n != 0):
				t.Fatalf("ReplyEmpty: got %d, %v; want an empty datagram", n, err)
			case !replyEmpty && !errors.Is(err, syscall.EAGAIN) && !errors.Is(err, context.DeadlineExceeded) && !isTimeout(err):
				t.Fatalf("empty reply: got %d, %v; want nothing sent", n, err)
			}
		})
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestMaxPacketSize(t *testing.T) {
	sockettest.LeakCheck(t)
	srv, err := ss.NewUDPServer("127.0.0.1:0", echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	srv.MaxPacketSize = 100
	serve(t, srv)
	c := dial(t, srv)
	c.Send(make([]byte, 101), 0)
	if err := exchange(c, make([]byte, 100)); err != nil {
		t.Fatalf("a datagram of MaxPacketSize: %v", err)
	}
	if st := srv.Stats(); st.Truncated != 1 || st.Accepted != 2 {
		t.Fatalf("stats %+v; want the long datagram dropped and counted", st)
	}
}

func TestStreamHandler(t *testing.T) {
	sockettest.LeakCheck(t)
	h := &ss.StreamHandler{WriteBufferSize: 4096, NoDelay: true, Timeout: 5 * time.Second,
		Func: func(ctx context.Context, r *ss.StreamRequest) error {
			for {
				line, err := r.R.ReadString('\n')
				if err != nil {
					return nil
				}
				fmt.Fprintf(r.W, "%d:%s", len(line), strings.ToUpper(line))
			}
		}}
	srv, err := ss.NewThreadingTCPServer("127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	serve(t, srv)
	c := dial(t, srv)
	c.Sendall([]byte("one\ntwo\nthree\n"), 0)
	c.CloseWrite()
	out, _ := io.ReadAll(c) // buffered: flushed when the function returns
	if string(out) != "4:ONE\n4:TWO\n6:THREE\n" {
		t.Fatalf("got %q", out)
	}
	st := srv.Stats()
	if st.BytesIn != 14 || st.BytesOut != uint64(len(out)) {
		t.Fatalf("byte counts %+v", st)
	}
}

func TestServiceActions(t *testing.T) {
	srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int32
	srv.ServiceActions = func() { n.Add(1) }
	srv.PollInterval = 10 * time.Millisecond
	stop := serve(t, srv)
	time.Sleep(100 * time.Millisecond)
	stop()
	if n.Load() < 3 {
		t.Fatalf("ServiceActions ran %d times in 100ms at a 10ms interval", n.Load())
	}
}

func TestDualStack(t *testing.T) {
	if !socket.HasDualStackIPv6() {
		t.Skip("no dual stack")
	}
	srv, err := ss.NewDualStackTCPServer("[::]:0", echoHandler, ss.WithDispatcher(&ss.Goroutines{}))
	if err != nil {
		t.Fatal(err)
	}
	serve(t, srv)
	port := srv.Address().(*socket.Inet6Addr).Port
	for _, host := range []string{"127.0.0.1", "::1"} {
		c, err := net.Dial("tcp", net.JoinHostPort(host, fmt.Sprint(port)))
		if err != nil {
			t.Fatalf("dial %s: %v", host, err)
		}
		c.Write([]byte("hi"))
		buf := make([]byte, 2)
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("%s: %v", host, err)
		}
		c.Close()
	}
}

func TestUnixSocketFileRemoved(t *testing.T) {
	path := sockettest.UnixPath(t, "gone.sock")
	srv, err := ss.NewUnixStreamServer(path, echoHandler)
	if err != nil {
		t.Fatal(err)
	}
	stop := serve(t, srv)
	stop()
	if _, err := socket.ParseAddr(socket.AF_UNIX, path); err != nil {
		t.Fatal(err)
	}
	// The file is gone, so a new server binds at once...
	srv2, err := ss.NewUnixStreamServer(path, echoHandler)
	if err != nil {
		t.Fatalf("rebinding after Shutdown: %v", err)
	}
	// ...and a stale file left by a crashed server is removed on request.
	fd := srv2.Socket()
	dup, _ := fd.Dup() // keep the file: simulate a crash, no unlink
	dup.Close()
	srv2.Socket().Close() // nothing accepts any more, but the file stays
	if _, err := ss.NewUnixStreamServer(path, echoHandler); !errors.Is(err, syscall.EADDRINUSE) {
		t.Fatalf("binding over a stale file without RemoveStale: %v", err)
	}
	srv3, err := ss.New("unix", path, echoHandler, func(s *ss.Server) { s.RemoveStale = true })
	if err != nil {
		t.Fatalf("RemoveStale: %v", err)
	}
	srv3.Close()
	srv2.Close()
}
