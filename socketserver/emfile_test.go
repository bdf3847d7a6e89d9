//go:build linux

package socketserver_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/internal/sockhook"
	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// TestEMFILEHelper is the server of TestEMFILE: it lowers its descriptor
// limit (soft = hard) so that accept fails with EMFILE, holds connections
// until told to release them, and measures its own CPU time.
func TestEMFILEHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "TestEMFILEHelper" {
		t.Skip("helper process for TestEMFILE")
	}
	release := make(chan struct{})
	h := ss.HandlerFunc(func(ctx context.Context, r *ss.Request) error {
		r.Conn.Write([]byte("served\n"))
		buf := make([]byte, 16)
		r.Conn.Read(buf) // the client's "bye" or EOF
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	})
	srv, err := ss.NewTCPServer("127.0.0.1:0", h, ss.WithDispatcher(&ss.Goroutines{}))
	if err != nil {
		t.Fatal(err)
	}
	// accept4 calls, counted by the socket hook.
	var attempts atomic.Int64
	defer sockhook.Install(func(c sockhook.Call, fd int) error {
		if c == sockhook.Accept {
			attempts.Add(1)
		}
		return nil
	})()
	// Leave room for a handful of connections beyond the descriptors in use.
	used := len(sockettest.SocketFds()) + countFds()
	limit := uint64(used + 8)
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}); err != nil {
		t.Fatal(err)
	}
	go srv.ServeForever()
	fmt.Printf("ADDR %v\n", srv.Address())
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "measure":
			var r0, r1 unix.Rusage
			a0, e0 := attempts.Load(), srv.Stats().AcceptErrors
			unix.Getrusage(unix.RUSAGE_SELF, &r0)
			start := time.Now()
			time.Sleep(2 * time.Second)
			unix.Getrusage(unix.RUSAGE_SELF, &r1)
			el := time.Since(start)
			cpu := time.Duration(r1.Utime.Nano()+r1.Stime.Nano()-r0.Utime.Nano()-r0.Stime.Nano()) * time.Nanosecond
			tries, emfile := attempts.Load()-a0, srv.Stats().AcceptErrors-e0
			fmt.Printf("MEASURE cpu=%.2f%% attempts=%d emfile=%d\n", 100*cpu.Seconds()/el.Seconds(), tries, emfile)
		case "release":
			close(release)
			fmt.Println("RELEASED")
		case "quit":
			srv.Close()
			return
		}
	}
}

func countFds() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

// TestEMFILE: while accept fails with EMFILE the accept loop backs off and
// stays below 5% CPU over 2 s; when descriptors are freed it serves again.
// (The engine's own case is eventloop's TestEMFILE.)
func TestEMFILE(t *testing.T) {
	if os.Getenv(helperEnv) != "" {
		t.Skip("in a helper")
	}
	const dispatcher = "goroutines"
	_, out, in := helper(t, "TestEMFILEHelper")
	sa, err := socket.ParseAddr(socket.AF_INET, readLine(t, out, "ADDR "))
	if err != nil {
		t.Fatal(err)
	}
	// Open connections until the server stops serving them: the rest wait
	// in the listen queue while accept fails with EMFILE.
	var served, waiting []*socket.Socket
	defer func() {
		for _, c := range append(served, waiting...) {
			c.Close()
		}
	}()
	for i := 0; i < 40; i++ {
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
	m := readLine(t, out, "MEASURE ")
	t.Logf("during the EMFILE storm: %s", m)
	var cpu float64
	var attempts, emfiles int
	fmt.Sscanf(m, "cpu=%f%% attempts=%d emfile=%d", &cpu, &attempts, &emfiles)
	fmt.Printf("FIGURE emfile_%s_cpu_percent=%.2f\nFIGURE emfile_%s_accept_attempts_2s=%d\n", dispatcher, cpu, dispatcher, attempts)
	if emfiles == 0 {
		t.Fatal("no EMFILE during the measurement: the test proved nothing")
	}
	if cpu >= 5 {
		t.Fatalf("accept loop used %.2f%% CPU under EMFILE; want < 5%%", cpu)
	}
	if attempts > 40 {
		t.Fatalf("%d accept attempts in 2s: the back-off is not bounding them", attempts)
	}
	// Free descriptors: the served clients leave and their handlers return.
	fmt.Fprintln(in, "release")
	readLine(t, out, "RELEASED")
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
	fmt.Printf("FIGURE emfile_%s_recovered_ms=%d\n", dispatcher, recovered.Milliseconds())
	if recovered > time.Second {
		t.Errorf("serving again took %v after descriptors were freed; want within 1s", recovered)
	}
	fmt.Fprintln(in, "quit")
}
