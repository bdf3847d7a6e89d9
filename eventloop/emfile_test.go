//go:build linux

package eventloop_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/eventloop"
	"github.com/socketkit/socketkit/socket"
)

// The EMFILE case needs a descriptor limit that must not hit the other
// tests: the test binary re-runs itself as the server, with -test.run
// naming the helper and emfileHelperEnv set.
const emfileHelperEnv = "EVENTLOOP_TEST_EMFILE_HELPER"

// TestEMFILEHelper is the server of TestEMFILE: the engine with Blocking
// handlers that hold their connections until told to release them, with a
// descriptor limit (soft = hard) a few above what is in use, so that
// accept4 fails with EMFILE. It measures its own CPU time.
func TestEMFILEHelper(t *testing.T) {
	if os.Getenv(emfileHelperEnv) == "" {
		t.Skip("helper process for TestEMFILE")
	}
	release := make(chan struct{})
	ln, err := socket.Listen("tcp", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := ln.Getsockname()
	e := &eventloop.Engine{Loops: 2, Handler: eventloop.Blocking(context.Background(), func(ctx context.Context, c net.Conn) {
		c.Write([]byte("served\n"))
		buf := make([]byte, 16)
		c.Read(buf) // the client's "bye" or EOF
		<-release
	})}
	ents, _ := os.ReadDir("/proc/self/fd")
	limit := uint64(len(ents) + 8 + 4) // the loops' epoll and eventfd, and a handful of connections
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	go e.Serve(ln)
	fmt.Printf("ADDR %v\n", addr)
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "measure":
			var r0, r1 unix.Rusage
			e0 := e.Stats().AcceptErrors
			unix.Getrusage(unix.RUSAGE_SELF, &r0)
			start := time.Now()
			time.Sleep(2 * time.Second) // the measured interval
			unix.Getrusage(unix.RUSAGE_SELF, &r1)
			el := time.Since(start)
			cpu := time.Duration(r1.Utime.Nano() + r1.Stime.Nano() - r0.Utime.Nano() - r0.Stime.Nano())
			// Every accept4 that fails is an AcceptError, and accepting
			// pauses after each: the count is the number of tries.
			fmt.Printf("MEASURE cpu=%.2f%% emfile=%d\n", 100*cpu.Seconds()/el.Seconds(), e.Stats().AcceptErrors-e0)
		case "release":
			close(release)
			fmt.Println("RELEASED")
		case "quit":
			e.Close()
			return
		}
	}
}

// TestEMFILE: while accept4 fails with EMFILE the engine pauses accepting
// with a back-off, staying below 5% CPU over 2 s; when descriptors are
// freed it serves again within a second. (socketserver's accept loop has
// the same case.)
func TestEMFILE(t *testing.T) {
	if os.Getenv(emfileHelperEnv) != "" {
		t.Skip("in the helper")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The helper serves on the backend of this run.
	cmd := exec.Command(exe, "-test.run=^TestEMFILEHelper$", "-test.v", "-test.count=1", "-backend="+string(eventloop.DefaultBackend()))
	cmd.Env = append(os.Environ(), emfileHelperEnv+"=1")
	cmd.Stderr = os.Stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	out := bufio.NewReader(stdout)
	readLine := func(prefix string) string {
		t.Helper()
		for {
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("helper output ended before %q: %v", prefix, err)
			}
			if strings.HasPrefix(line, prefix) {
				return strings.TrimSpace(strings.TrimPrefix(line, prefix))
			}
		}
	}
	sa, err := socket.ParseAddr(socket.AF_INET, readLine("ADDR "))
	if err != nil {
		t.Fatal(err)
	}
	// Open connections until the server stops serving them: the rest wait
	// in the listen queue while accept4 fails with EMFILE.
	var served, waiting []*socket.Socket
	defer func() {
		for _, c := range append(served, waiting...) {
			c.Close()
		}
	}()
	for range 40 {
		c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.SetTimeout(10 * time.Second)
		if err := c.Connect(sa); err != nil {
			t.Fatal(err)
		}
		c.SetTimeout(100 * time.Millisecond)
		buf := make([]byte, 16)
		if n, _ := c.Recv(buf, 0); n > 0 {
			served = append(served, c)
		} else {
			waiting = append(waiting, c)
		}
	}
	t.Logf("%d connections served before the limit, %d waiting", len(served), len(waiting))
	if len(served) == 0 || len(waiting) == 0 {
		t.Fatalf("served %d, waiting %d: the limit was not reached", len(served), len(waiting))
	}
	fmt.Fprintln(in, "measure")
	m := readLine("MEASURE ")
	t.Logf("during the EMFILE storm: %s", m)
	var cpu float64
	var emfiles int
	fmt.Sscanf(m, "cpu=%f%% emfile=%d", &cpu, &emfiles)
	fmt.Printf("FIGURE emfile_%s_cpu_percent=%.2f\nFIGURE emfile_%s_accept_attempts_2s=%d\n", figureEngine(), cpu, figureEngine(), emfiles)
	if emfiles == 0 {
		t.Fatal("no EMFILE during the measurement: the test proved nothing")
	}
	if cpu >= 5 {
		t.Fatalf("the engine used %.2f%% CPU under EMFILE; want < 5%%", cpu)
	}
	if emfiles > 40 {
		t.Fatalf("%d failed accepts in 2s: the back-off is not bounding them", emfiles)
	}
	// Free descriptors: the served clients leave and their handlers return.
	fmt.Fprintln(in, "release")
	readLine("RELEASED")
	for _, c := range served {
		c.Send([]byte("bye"), 0)
		c.Close()
	}
	served = nil
	start := time.Now()
	for _, c := range waiting[:5] {
		c.SetTimeout(5 * time.Second)
		buf := make([]byte, 16)
		if n, err := c.Recv(buf, 0); n == 0 || err != nil {
			t.Fatalf("a waiting client was not served after descriptors were freed: %d, %v", n, err)
		}
	}
	recovered := time.Since(start)
	t.Logf("served again %v after the descriptors were freed", recovered)
	fmt.Printf("FIGURE emfile_%s_recovered_ms=%d\n", figureEngine(), recovered.Milliseconds())
	if recovered > 2*time.Second {
		t.Errorf("serving again took %v after descriptors were freed; want within 2s", recovered)
	}
	fmt.Fprintln(in, "quit")
	io.Copy(io.Discard, out)
}

// figureEngine names the engine in figures: "engine" on epoll, as before
// there was a second backend, "engine-uring" on io_uring.
func figureEngine() string {
	if eventloop.DefaultBackend() == eventloop.BackendIOUring {
		return "engine-uring"
	}
	return "engine"
}
