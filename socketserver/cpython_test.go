//go:build linux

package socketserver_test

// The port of CPython 3.11's Lib/test/test_socketserver.py: one Go test per
// test method, named after it (TestClass_method). testdata/
// cpython-conformance.md maps every method to its test or to the reason it
// differs. The Forking* classes run their server in a helper process
// (TestCPythonForkingHelper), because Prefork re-executes the binary.

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// testStr is TEST_STR.
var testStr = []byte("hello world\n")

// lineStream is run_server's MyHandler for stream servers: read a line,
// write it back.
func lineStream() ss.Handler {
	return ss.Stream(func(ctx context.Context, r *ss.StreamRequest) error {
		line, err := r.R.ReadBytes('\n')
		if err != nil && len(line) == 0 {
			return nil
		}
		_, err = r.W.Write(line)
		return err
	})
}

// lineDatagram is MyHandler for datagram servers (DatagramRequestHandler).
func lineDatagram() ss.Handler {
	return ss.Datagram(func(ctx context.Context, r *ss.DatagramRequest) error {
		line, _ := bufio.NewReader(r.R).ReadBytes('\n')
		r.W.Write(line)
		return nil
	})
}

type serverKind struct {
	network string
	stream  bool
	make    func(addr string, h ss.Handler) (*ss.Server, error)
}

// pickaddr is SocketServerTest.pickaddr: port 0 on loopback, or a fresh
// Unix path.
func pickaddr(t *testing.T, network string) string {
	if strings.HasPrefix(network, "unix") {
		return sockettest.UnixPath(t, "unix_socket")
	}
	return "127.0.0.1:0"
}

// runServer is SocketServerTest.run_server: serve, examine three times,
// shut down, close; the socket's descriptor is -1 after.
func runServer(t *testing.T, k serverKind) {
	sockettest.LeakCheck(t)
	h := lineDatagram()
	if k.stream {
		h = lineStream()
	}
	srv, err := k.make(pickaddr(t, k.network), h)
	if err != nil {
		t.Fatal(err)
	}
	srv.ErrorHandler = func(r *ss.Request, err error) { t.Errorf("handler: %v", err) }
	if a, err := srv.Socket().Getsockname(); err != nil || a.String() != srv.Address().String() {
		t.Fatalf("Address %v, Getsockname %v, %v", srv.Address(), a, err)
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ServeForever() }()
	for range 3 {
		examine(t, k.stream, srv.Address())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, ss.ErrServerClosed) {
		t.Fatalf("ServeForever = %v", err)
	}
	srv.Close()
	if srv.Fd() != -1 {
		t.Fatalf("Fd after Close = %d", srv.Fd())
	}
}

// examine is stream_examine or dgram_examine: send TEST_STR, read it back.
func examine(t *testing.T, stream bool, addr socket.Sockaddr) {
	t.Helper()
	typ := socket.SOCK_DGRAM
	if stream {
		typ = socket.SOCK_STREAM
	}
	s, err := socket.New(addr.Family(), typ, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetTimeout(10 * time.Second) // support.SHORT_TIMEOUT
	if !stream && addr.Family() == socket.AF_UNIX {
		if err := s.Bind(&socket.UnixAddr{Path: sockettest.UnixPath(t, "client")}); err != nil {
			t.Fatal(err)
		}
	}
	if stream {
		if err := s.Connect(addr); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Sendall(testStr, 0); err != nil {
			t.Fatal(err)
		}
	} else if _, err := s.Sendto(testStr, 0, addr); err != nil {
		t.Fatal(err)
	}
	var buf []byte
	chunk := make([]byte, 100)
	for !bytes.Contains(buf, []byte("\n")) {
		n, err := s.Recv(chunk, 0)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		buf = append(buf, chunk[:n]...)
	}
	if !bytes.Equal(buf, testStr) {
		t.Fatalf("received %q; want %q", buf, testStr)
	}
}

func TestSocketServerTest_test_TCPServer(t *testing.T) {
	runServer(t, serverKind{"tcp", true, func(a string, h ss.Handler) (*ss.Server, error) { return ss.NewTCPServer(a, h) }})
}

func TestSocketServerTest_test_ThreadingTCPServer(t *testing.T) {
	runServer(t, serverKind{"tcp", true, func(a string, h ss.Handler) (*ss.Server, error) { return ss.NewThreadingTCPServer(a, h) }})
}

func TestSocketServerTest_test_UnixStreamServer(t *testing.T) {
	runServer(t, serverKind{"unix", true, func(a string, h ss.Handler) (*ss.Server, error) { return ss.NewUnixStreamServer(a, h) }})
}

func TestSocketServerTest_test_ThreadingUnixStreamServer(t *testing.T) {
	runServer(t, serverKind{"unix", true, func(a string, h ss.Handler) (*ss.Server, error) {
		return ss.NewThreadingUnixStreamServer(a, h)
	}})
}

func TestSocketServerTest_test_UDPServer(t *testing.T) {
	runServer(t, serverKind{"udp", false, func(a string, h ss.Handler) (*ss.Server, error) { return ss.NewUDPServer(a, h) }})
}

func TestSocketServerTest_test_ThreadingUDPServer(t *testing.T) {
	runServer(t, serverKind{"udp", false, func(a string, h ss.Handler) (*ss.Server, error) { return ss.NewThreadingUDPServer(a, h) }})
}

func TestSocketServerTest_test_UnixDatagramServer(t *testing.T) {
	runServer(t, serverKind{"unixgram", false, func(a string, h ss.Handler) (*ss.Server, error) {
		return ss.NewUnixDatagramServer(a, h)
	}})
}

func TestSocketServerTest_test_ThreadingUnixDatagramServer(t *testing.T) {
	runServer(t, serverKind{"unixgram", false, func(a string, h ss.Handler) (*ss.Server, error) {
		return ss.NewThreadingUnixDatagramServer(a, h)
	}})
}

// TestCPythonForkingHelper is the parent process of the Forking* tests: a
// server with Prefork (Python's ForkingMixIn) on the network, address and
// handler the environment names. Its workers re-run it and serve.
func TestCPythonForkingHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "TestCPythonForkingHelper" {
		t.Skip("helper process for the Forking* tests")
	}
	network, addr, mode := os.Getenv("CPY_NETWORK"), os.Getenv("CPY_ADDR"), os.Getenv("CPY_MODE")
	var h ss.Handler
	switch mode {
	case "stream":
		h = lineStream()
	case "dgram":
		h = lineDatagram()
	default: // "error:FILE": ErrorHandlerTest's BadHandler
		h = badHandler(strings.TrimPrefix(mode, "error:"))
	}
	pf := &ss.Prefork{Children: 2}
	srv, err := ss.New(network, addr, h, ss.WithPrefork(pf))
	if err != nil {
		t.Fatal(err)
	}
	if file, ok := strings.CutPrefix(mode, "error:"); ok {
		srv.ErrorHandler = func(*ss.Request, error) { appendLine(file, "Error handled") }
	}
	if ss.IsPreforkChild() {
		srv.ServeForever()
		t.Fatal("unreachable: a prefork worker exits in Serve")
	}
	// simple_subprocess (issue 1540386): a child the server did not start
	// must be left for its owner to wait on.
	other := exec.Command("sh", "-c", "exit 72")
	if err := other.Start(); err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.ServeForever() }()
	for pf.ActiveChildren() < 2 {
		time.Sleep(5 * time.Millisecond) // the parent's count moves as workers start
	}
	fmt.Printf("ADDR %v\n", srv.Address())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		if in.Text() != "shutdown" {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := srv.Shutdown(ctx)
		cancel()
		serr := <-served
		srv.Close()
		werr := other.Wait()
		code := -1
		if ee, ok := werr.(*exec.ExitError); ok {
			code = ee.ExitCode()
		}
		fmt.Printf("SHUTDOWN %v %v children=%d fd=%d other=%d\n", err, errors.Is(serr, ss.ErrServerClosed), pf.ActiveChildren(), srv.Fd(), code)
		return
	}
}

// runForking is run_server for the Forking* classes: the server runs in
// TestCPythonForkingHelper; the test examines it three times, then shuts
// it down and checks that no worker is left (bpo-31151) and that the
// unrelated child exited 72 for its owner (issue 1540386).
func runForking(t *testing.T, network, mode string, examineIt func(addr socket.Sockaddr)) {
	if os.Getenv(helperEnv) != "" || ss.IsPreforkChild() {
		t.Skip("in a helper")
	}
	_, out, in := helper(t, "TestCPythonForkingHelper", "CPY_NETWORK="+network, "CPY_ADDR="+pickaddr(t, network), "CPY_MODE="+mode)
	text := readLine(t, out, "ADDR ")
	fam := socket.AF_INET
	if strings.HasPrefix(text, "/") {
		fam = socket.AF_UNIX
	}
	addr, err := socket.ParseAddr(fam, text)
	if err != nil {
		t.Fatal(err)
	}
	examineIt(addr)
	fmt.Fprintln(in, "shutdown")
	if got := readLine(t, out, "SHUTDOWN "); got != "<nil> true children=0 fd=-1 other=72" {
		t.Fatalf("after shutdown: %s; want <nil> true children=0 fd=-1 other=72", got)
	}
}

func forkingExamine(t *testing.T, stream bool) func(socket.Sockaddr) {
	return func(addr socket.Sockaddr) {
		for range 3 {
			examine(t, stream, addr)
		}
	}
}

func TestSocketServerTest_test_ForkingTCPServer(t *testing.T) {
	runForking(t, "tcp", "stream", forkingExamine(t, true))
}

func TestSocketServerTest_test_ForkingUnixStreamServer(t *testing.T) {
	runForking(t, "unix", "stream", forkingExamine(t, true))
}

func TestSocketServerTest_test_ForkingUDPServer(t *testing.T) {
	runForking(t, "udp", "dgram", forkingExamine(t, false))
}

func TestSocketServerTest_test_ForkingUnixDatagramServer(t *testing.T) {
	runForking(t, "unixgram", "dgram", forkingExamine(t, false))
}

func TestSocketServerTest_test_shutdown(t *testing.T) {
	// Issue #2302: Shutdown always makes Serve return.
	sockettest.LeakCheck(t)
	type running struct {
		srv *ss.Server
		err chan error
	}
	var all []running
	for range 20 {
		srv, err := ss.NewTCPServer("127.0.0.1:0", ss.Stream(func(context.Context, *ss.StreamRequest) error { return nil }))
		if err != nil {
			t.Fatal(err)
		}
		r := running{srv, make(chan error, 1)}
		go func() { r.err <- srv.ServeForever() }()
		all = append(all, r)
	}
	for _, r := range all {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := r.srv.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}
		cancel()
	}
	for _, r := range all {
		if err := <-r.err; !errors.Is(err, ss.ErrServerClosed) {
			t.Fatalf("ServeForever = %v", err)
		}
		r.srv.Close()
	}
}

func TestSocketServerTest_test_close_immediately(t *testing.T) {
	sockettest.LeakCheck(t)
	srv, err := ss.NewThreadingTCPServer("127.0.0.1:0", ss.HandlerFunc(func(context.Context, *ss.Request) error { return nil }))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestSocketServerTest_test_tcpserver_bind_leak(t *testing.T) {
	// Issue #22435: a failed bind must not leak the socket. Python's
	// OverflowError for port -1 is an error here (found before any socket
	// is made), and so is a port in use (bind fails after socket(2)); 1024
	// of each must leave no descriptor behind.
	sockettest.LeakCheck(t)
	taken, err := ss.NewTCPServer("127.0.0.1:0", lineStream())
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, addr := range []string{"127.0.0.1:-1", taken.Address().String()} {
		for range 1024 {
			srv, err := ss.NewTCPServer(addr, lineStream())
			if err == nil {
				srv.Close()
				t.Fatalf("NewTCPServer(%s) succeeded", addr)
			}
		}
	}
}

func TestSocketServerTest_test_context_manager(t *testing.T) {
	// "with TCPServer(...) as server" is defer server.Close().
	srv, err := ss.NewTCPServer("127.0.0.1:0", lineStream())
	if err != nil {
		t.Fatal(err)
	}
	func() { defer srv.Close() }()
	if srv.Fd() != -1 {
		t.Fatalf("Fd after Close = %d", srv.Fd())
	}
}

func appendLine(file, line string) {
	f, err := os.OpenFile(file, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return
	}
	f.WriteString(line + "\n")
	f.Close()
}

// badHandler is ErrorHandlerTest's BadHandler: it logs its call and fails.
func badHandler(file string) ss.Handler {
	return ss.HandlerFunc(func(context.Context, *ss.Request) error {
		appendLine(file, "Handler called")
		return errors.New("Test error")
	})
}

// errorTestServer is BaseErrorTestServer: one connection, one request
// handled by BadHandler, then the server is closed; ErrorHandler logs
// "Error handled".
func errorTestServer(t *testing.T, d ss.Dispatcher) string {
	file := t.TempDir() + "/testfn"
	srv, err := ss.NewTCPServer("127.0.0.1:0", badHandler(file), ss.WithDispatcher(d))
	if err != nil {
		t.Fatal(err)
	}
	var handled sync.WaitGroup
	handled.Add(1)
	srv.ErrorHandler = func(*ss.Request, error) { appendLine(file, "Error handled"); handled.Done() }
	c, err := socket.CreateConnection(context.Background(), srv.Address().String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := srv.HandleRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
	handled.Wait() // ThreadingErrorTestServer.wait_done
	srv.Close()
	return file
}

func checkResult(t *testing.T, file string, handled bool) {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	want := "Handler called\n"
	if handled {
		want += "Error handled\n"
	}
	if string(b) != want {
		t.Fatalf("log %q; want %q", b, want)
	}
}

func TestErrorHandlerTest_test_sync_handled(t *testing.T) {
	checkResult(t, errorTestServer(t, ss.Synchronous{}), true)
}

func TestErrorHandlerTest_test_threading_handled(t *testing.T) {
	checkResult(t, errorTestServer(t, &ss.Goroutines{}), true)
}

func TestErrorHandlerTest_test_forking_handled(t *testing.T) {
	file := t.TempDir() + "/testfn"
	runForking(t, "tcp", "error:"+file, func(addr socket.Sockaddr) {
		c := newClient(t, addr)
		c.Close()
		waitFor(t, "the worker's handler and error handler", func() bool {
			b, _ := os.ReadFile(file)
			return strings.Count(string(b), "\n") >= 2
		})
	})
	checkResult(t, file, true)
}

func newClient(t *testing.T, addr socket.Sockaddr) *socket.Socket {
	t.Helper()
	c, err := socket.New(addr.Family(), socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.SetTimeout(10 * time.Second)
	if err := c.Connect(addr); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSocketWriterTest_test_write(t *testing.T) {
	// W writes at once, without a flush, and a big write is not cut short
	// by a signal that arrives while it waits (SIGUSR1 here, caught on a
	// channel as a Go program does).
	const big = 16 << 20 // support.SOCK_MAX_SIZE
	var sent1, sent2 int
	var received string
	srv, err := ss.NewTCPServer("127.0.0.1:0", ss.Stream(func(ctx context.Context, r *ss.StreamRequest) error {
		sent1, _ = r.W.Write([]byte("write data\n"))
		received, _ = r.R.ReadString('\n')
		var err error
		sent2, err = r.W.Write(make([]byte, big))
		return err
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1)
	defer signal.Stop(sig)
	var response1 string
	var received2 int
	client := make(chan error, 1)
	go func() {
		c, err := socket.CreateConnection(context.Background(), srv.Address().String(), nil)
		if err != nil {
			client <- err
			return
		}
		defer c.Close()
		c.SetTimeout(10 * time.Second)
		reader := bufio.NewReader(c)
		response1, _ = reader.ReadString('\n')
		c.Sendall([]byte("client response\n"), 0)
		io.ReadFull(reader, make([]byte, 100))
		// The handler is now blocked in its big write: signal the process
		// until the signal is seen.
		for seen := false; !seen; {
			syscall.Kill(os.Getpid(), syscall.SIGUSR1)
			select {
			case <-sig:
				seen = true
			case <-time.After(time.Second):
			}
		}
		n, err := io.Copy(io.Discard, reader)
		received2 = int(n)
		client <- err
	}()
	if err := srv.HandleRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-client; err != nil {
		t.Fatal(err)
	}
	if sent1 != len(response1) || response1 != "write data\n" || received != "client response\n" ||
		sent2 != big || received2 != big-100 {
		t.Fatalf("sent1 %d response1 %q received %q sent2 %d received2 %d", sent1, response1, received, sent2, received2)
	}
}

func TestMiscTestCase_test_shutdown_request_called_if_verify_request_false(t *testing.T) {
	// Issue #26309: a request VerifyRequest refuses is still shut down:
	// its connection is closed, and it is counted.
	sockettest.LeakCheck(t)
	srv, err := ss.NewTCPServer("127.0.0.1:0", lineStream())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	srv.VerifyRequest = func(*ss.Request) bool { return false }
	c := newClient(t, srv.Address())
	defer c.Close()
	if err := srv.HandleRequest(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n, err := c.Recv(make([]byte, 1), 0); n != 0 || err != nil {
		t.Fatalf("Recv on the refused connection = %d, %v; want EOF", n, err)
	}
	if st := srv.Stats(); st.Rejected != 1 {
		t.Fatalf("Stats.Rejected = %d; want 1", st.Rejected)
	}
}

func TestMiscTestCase_test_threads_reaped(t *testing.T) {
	// bpo-37193: a threading server must not keep every request's thread.
	// Here a request's goroutine ends with the request: after 10, the
	// goroutine count is back where it started.
	srv, err := ss.NewThreadingTCPServer("127.0.0.1:0", lineStream())
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	before := runtime.NumGoroutine()
	for i := range 10 {
		c := newClient(t, srv.Address())
		if err := srv.HandleRequest(context.Background()); err != nil {
			t.Fatal(err)
		}
		c.Sendall([]byte(strconv.Itoa(i)+"\n"), 0)
		io.ReadAll(c)
		c.Close()
	}
	// The request is counted as ended (Active) just before its goroutine
	// ends; the goroutine count alone can be back down first, when
	// another goroutine of the process ended meanwhile (seen with both
	// cores loaded).
	waitFor(t, "the requests to end", func() bool { return srv.Stats().Active == 0 })
	waitFor(t, "the request goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	if st := srv.Stats(); st.Accepted != 10 || st.Active != 0 {
		t.Fatalf("Stats %+v", st)
	}
}
