//go:build linux

package socketserver_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
	ss "github.com/socketkit/socketkit/socketserver"
)

// These cases are about what a Prefork parent reports and how it stops:
// its Stats are its workers' sums (issues 10 and 14), and stopping it with
// a terminal's Ctrl-C never looks like a crash.

// statsLine formats Stats for the helpers' output.
func statsLine(st ss.Stats) string {
	return fmt.Sprintf("accepted=%d active=%d in=%d out=%d errors=%d", st.Accepted, st.Active, st.BytesIn, st.BytesOut, st.Errors)
}

// TestPreforkStatsHelper serves echo from two workers and answers
// "stats", "kill" (SIGKILL to one worker) and "shutdown" on stdin.
func TestPreforkStatsHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "TestPreforkStatsHelper" {
		t.Skip("helper process for TestPreforkStats")
	}
	pf := &ss.Prefork{Children: 2, RestartDelay: 10 * time.Millisecond}
	srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler, ss.WithDispatcher(pf))
	if err != nil {
		t.Fatal(err)
	}
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
	in := bufio.NewScanner(os.Stdin)
	for in.Scan() {
		switch in.Text() {
		case "stats":
			fmt.Printf("STATS %s\n", statsLine(srv.Stats()))
		case "kill":
			pids := pf.PIDs()
			syscall.Kill(pids[0], syscall.SIGKILL)
			for slicesContain(pf.PIDs(), pids[0]) || pf.ActiveChildren() < 2 {
				time.Sleep(5 * time.Millisecond) // reaped and replaced
			}
			fmt.Println("KILLED")
		case "shutdown":
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := srv.Shutdown(ctx)
			cancel()
			fmt.Printf("SHUTDOWN err=%v serve=%v\n", err, <-served)
			fmt.Printf("STATS %s\n", statsLine(srv.Stats()))
			return
		}
	}
}

func slicesContain(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// TestPreforkStats: the parent's Stats are what its workers served,
// current while they run, kept when one is killed, and whole after
// Shutdown. (Before, the parent, which accepts nothing, reported zeros.)
func TestPreforkStats(t *testing.T) {
	if os.Getenv(helperEnv) != "" || ss.IsPreforkChild() {
		t.Skip("in a helper")
	}
	_, out, in := helper(t, "TestPreforkStatsHelper")
	sa, err := socket.ParseAddr(socket.AF_INET, readLine(t, out, "ADDR "))
	if err != nil {
		t.Fatal(err)
	}
	stats := func() string {
		fmt.Fprintln(in, "stats")
		return readLine(t, out, "STATS ")
	}
	// echo sends n bytes and reads them back, on a connection of its own.
	echo := func(n int) {
		c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetTimeout(10 * time.Second)
		if err := c.Connect(sa); err != nil {
			t.Fatal(err)
		}
		if err := exchange(c, bytes.Repeat([]byte{'x'}, n)); err != nil {
			t.Fatal(err)
		}
		c.CloseWrite()
		io.ReadAll(c) // the worker closes once its handler has returned
	}
	// waitStats asks until the parent reports want: a request is counted
	// done a moment after its client sees the close.
	waitStats := func(want string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		got := stats()
		for got != want && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
			got = stats()
		}
		if got != want {
			t.Fatalf("parent's Stats: %s\nwant:           %s", got, want)
		}
	}
	for range 6 {
		echo(100)
	}
	waitStats("accepted=6 active=0 in=600 out=600 errors=0")
	// A worker killed with SIGKILL: what it served still counts.
	fmt.Fprintln(in, "kill")
	readLine(t, out, "KILLED")
	waitStats("accepted=6 active=0 in=600 out=600 errors=0")
	for range 4 {
		echo(10)
	}
	waitStats("accepted=10 active=0 in=640 out=640 errors=0")
	fmt.Fprintln(in, "shutdown")
	if got := readLine(t, out, "SHUTDOWN "); got != "err=<nil> serve="+ss.ErrServerClosed.Error() {
		t.Fatalf("shutdown: %s", got)
	}
	if got := readLine(t, out, "STATS "); got != "accepted=10 active=0 in=640 out=640 errors=0" {
		t.Fatalf("after Shutdown the parent reports %s", got)
	}
}

// TestPreforkInterruptHelper is a program that serves with Prefork and
// stops on SIGINT, as `sock serve --dispatcher prefork` does: its Logger
// writes to stdout, which the test reads.
func TestPreforkInterruptHelper(t *testing.T) {
	if os.Getenv(helperEnv) != "TestPreforkInterruptHelper" {
		t.Skip("helper process for TestPreforkInterrupt")
	}
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{os.Stdout, &logMu}, nil))
	pf := &ss.Prefork{Children: 3, RestartDelay: time.Millisecond}
	srv, err := ss.NewTCPServer("127.0.0.1:0", echoHandler, ss.WithDispatcher(pf), ss.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- srv.ServeForever() }()
	if ss.IsPreforkChild() {
		// A worker of a program that handles SIGINT itself, as the CLI
		// does: before, the terminal's SIGINT reached it too.
		go func() {
			<-sigs
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			srv.Shutdown(ctx)
		}()
		<-served
		t.Fatal("unreachable: a prefork worker exits in Serve")
	}
	for pf.ActiveChildren() < 3 {
		time.Sleep(5 * time.Millisecond) // the workers start: nothing else to wait on
	}
	fmt.Println("READY")
	<-sigs
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err = srv.Shutdown(ctx)
	logMu.Lock()
	fmt.Printf("STOPPED shutdown=%v serve=%v restarts=%d\n", err, <-served, pf.Restarts())
	logMu.Unlock()
}

// TestPreforkInterrupt: a terminal's Ctrl-C (SIGINT to the foreground
// process group) stops a Prefork server cleanly: no worker is reported as
// crashed or replaced (issue 14: "prefork child exited; replacing it" on
// every Ctrl-C), Shutdown and Serve end as they should. Five rounds, since
// the fault was a race between the workers' exits and the parent's stop.
func TestPreforkInterrupt(t *testing.T) {
	if os.Getenv(helperEnv) != "" || ss.IsPreforkChild() {
		t.Skip("in a helper")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		cmd := exec.Command(exe, "-test.run=^TestPreforkInterruptHelper$", "-test.count=1")
		cmd.Env = append(os.Environ(), helperEnv+"=TestPreforkInterruptHelper")
		cmd.Stderr = os.Stderr
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // a group to signal, as a shell's job
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		out := bufio.NewReader(stdout)
		readLine(t, out, "READY")
		// What the terminal does on Ctrl-C: SIGINT to every process of the
		// foreground group.
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil {
			t.Fatal(err)
		}
		var logs []string
		var stopped string
		for stopped == "" {
			line, err := out.ReadString('\n')
			if err != nil {
				t.Fatalf("round %d: the helper's output ended before STOPPED: %v\n%s", round, err, strings.Join(logs, ""))
			}
			switch {
			case strings.HasPrefix(line, "STOPPED "):
				stopped = strings.TrimSpace(strings.TrimPrefix(line, "STOPPED "))
			case strings.Contains(line, "level="):
				logs = append(logs, line)
			}
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
		if stopped != "shutdown=<nil> serve="+ss.ErrServerClosed.Error()+" restarts=0" {
			t.Errorf("round %d: %s", round, stopped)
		}
		for _, l := range logs {
			if strings.Contains(l, "exited") || strings.Contains(l, "replac") {
				t.Errorf("round %d: stopping logged %q", round, strings.TrimSpace(l))
			}
		}
		if t.Failed() {
			return
		}
	}
}
