//go:build linux

package cli_test

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/socketkit/socketkit/cmd/sock/internal/cli"
	"github.com/socketkit/socketkit/cmd/sock/internal/netns"
	"github.com/socketkit/socketkit/internal/sockettest"
	"github.com/socketkit/socketkit/socket"
)

func doctorJSON(t *testing.T, args ...string) (int, cli.DoctorReport, string) {
	t.Helper()
	code, out, errs := run(t, "", append([]string{"doctor", "--json"}, args...)...)
	var r cli.DoctorReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("sock doctor %v: %v\n%s\n%s", args, err, out, errs)
	}
	return code, r, errs
}

func anyContains(ss []string, sub string) bool {
	for _, s := range ss {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// TestDoctorNamesTheProcess: a server this test starts in another process
// is named, with its pid.
func TestDoctorNamesTheProcess(t *testing.T) {
	py := python(t)
	cmd := exec.Command(py, "-c", `import socket,sys
s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(5)
print(s.getsockname()[1], flush=True)
sys.stdin.read()`)
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	port := strings.TrimSpace(line)
	stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", cmd.Process.Pid))
	comm := string(stat)[strings.IndexByte(string(stat), '(')+1 : strings.LastIndexByte(string(stat), ')')]
	code, out, errs := run(t, "", "doctor", "127.0.0.1:"+port)
	if code != 0 {
		t.Fatalf("doctor: exit %d %s\n%s", code, errs, out)
	}
	want := fmt.Sprintf("TCP port %s is held by %s (pid %d), listening on 127.0.0.1:%s", port, comm, cmd.Process.Pid, port)
	if !strings.Contains(out, want) || !strings.Contains(out, "connected in") || !strings.Contains(out, "its accept queue is empty") {
		t.Errorf("doctor does not say %q, connected and an empty queue:\n%s", want, out)
	}
	// A bare port gives the local part only.
	_, r, _ := doctorJSON(t, port)
	if r.Local == nil || len(r.Local.Listeners) != 1 || len(r.Local.Listeners[0].Owners) == 0 ||
		r.Local.Listeners[0].Owners[0].PID != cmd.Process.Pid || len(r.Tries) != 0 {
		t.Errorf("doctor --json %s: %+v", port, r)
	}
}

// TestDoctorCountsTimeWait: the TIME_WAIT sockets a test makes on a port
// are counted, and so are the other states.
func TestDoctorCountsTimeWait(t *testing.T) {
	sockettest.LeakCheck(t)
	l, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	l.SetTimeout(5 * time.Second)
	laddr, _ := l.Getsockname()
	port := laddr.(*socket.Inet4Addr).Port
	const timeWaits = 3
	for i := 0; i < timeWaits; i++ {
		c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		if err != nil {
			t.Fatal(err)
		}
		c.SetTimeout(5 * time.Second)
		if err := c.Connect(laddr); err != nil {
			t.Fatal(err)
		}
		s, _, err := l.Accept()
		if err != nil {
			t.Fatal(err)
		}
		s.Close() // the server closes first: TIME_WAIT on its port
		c.Recv(make([]byte, 1), 0)
		c.Close()
	}
	// One more connection, left open and accepted: ESTABLISHED on both ends.
	c, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	if err := c.Connect(laddr); err != nil {
		t.Fatal(err)
	}
	s, _, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var r cli.DoctorReport
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, r, _ = doctorJSON(t, fmt.Sprint(port))
		if r.Local != nil && r.Local.States["TIME_WAIT"] == timeWaits || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if r.Local == nil || r.Local.States["TIME_WAIT"] != timeWaits || r.Local.States["LISTEN"] != 1 ||
		r.Local.States["ESTABLISHED"] != 1 || r.Local.ClientStates["ESTABLISHED"] != 1 {
		t.Fatalf("states on port %d: %+v; want LISTEN 1, ESTABLISHED 1, TIME_WAIT %d, and 1 client ESTABLISHED", port, r.Local, timeWaits)
	}
	if !anyContains(r.Findings, fmt.Sprintf("LISTEN 1, ESTABLISHED 1, TIME_WAIT %d", timeWaits)) ||
		!anyContains(r.Findings, fmt.Sprintf("cli.test (pid %d)", os.Getpid())) {
		t.Errorf("findings: %q", r.Findings)
	}
}

// TestDoctorSaysWhatIsWrong: a closed port, a full accept queue and an
// unreachable network each get their own diagnosis.
func TestDoctorSaysWhatIsWrong(t *testing.T) {
	sockettest.LeakCheck(t)
	t.Run("closed port", func(t *testing.T) {
		hold, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		defer hold.Close()
		hold.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
		sa, _ := hold.Getsockname()
		code, r, errs := doctorJSON(t, sa.String())
		if code != cli.ExitError || len(r.Tries) != 1 || r.Tries[0].Outcome != "refused" ||
			!strings.Contains(r.Tries[0].Words, "nothing listens") || !anyContains(r.Findings, "nothing listens on TCP port") ||
			!anyContains(r.Next, "sock explain ECONNREFUSED") || !strings.Contains(errs, "(sock explain ECONNREFUSED)") {
			t.Errorf("closed port: exit %d %+v %s", code, r, errs)
		}
	})
	t.Run("full accept queue", func(t *testing.T) {
		l, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
		defer l.Close()
		l.Bind(&socket.Inet4Addr{Addr: [4]byte{127, 0, 0, 1}})
		if err := l.Listen(1); err != nil {
			t.Fatal(err)
		}
		laddr, _ := l.Getsockname()
		for i := 0; i < 2; i++ { // backlog 1 holds 2: now it is full
			c, _ := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
			defer c.Close()
			c.SetTimeout(5 * time.Second)
			if err := c.Connect(laddr); err != nil {
				t.Fatal(err)
			}
		}
		code, r, _ := doctorJSON(t, "-w", "1s", laddr.String())
		if r.Local == nil || len(r.Local.Listeners) != 1 || !r.Local.Listeners[0].Full || r.Local.Listeners[0].AcceptQueue != 2 ||
			r.Local.Listeners[0].Limit != 1 {
			t.Fatalf("full queue: %+v", r.Local)
		}
		if code != cli.ExitError || len(r.Tries) != 1 || r.Tries[0].Outcome != "timeout" || !strings.Contains(r.Tries[0].Words, "accept queue") ||
			!anyContains(r.Findings, "accept queue is FULL: 2 connections wait for accept(), the limit is 1") {
			t.Errorf("full queue: exit %d %+v", code, r)
		}
	})
	t.Run("unroutable", func(t *testing.T) {
		var code int
		var out, errs string
		err := netns.Run(func() error {
			// In a fresh namespace with only lo: no route to 192.0.2.1
			// (TEST-NET-1), so no packet leaves.
			var o, e strings.Builder
			code = cli.Run([]string{"doctor", "--json", "192.0.2.1:80"}, strings.NewReader(""), &o, &e)
			out, errs = o.String(), e.String()
			return nil
		})
		if errors.Is(err, netns.ErrNeedRoot) {
			t.Skip("needs root to make a network namespace with no route: ", err)
		}
		if err != nil {
			t.Fatal(err)
		}
		var r cli.DoctorReport
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		if code != cli.ExitError || r.Local != nil || len(r.Tries) != 1 || r.Tries[0].Outcome != "unreachable" ||
			!strings.Contains(r.Tries[0].Words, "no route") || !strings.Contains(r.Tries[0].Errno, "ENETUNREACH (101") ||
			!anyContains(r.Next, "ip route get 192.0.2.1") || !strings.Contains(errs, "(sock explain ENETUNREACH)") {
			t.Errorf("unroutable: exit %d %+v %s", code, r, errs)
		}
	})
}

// TestDoctorTLS: --tls reports the handshake and that a self-signed
// certificate does not verify.
func TestDoctorTLS(t *testing.T) {
	sockettest.LeakCheck(t)
	cert, err := cli.SelfSigned()
	if err != nil {
		t.Fatal(err)
	}
	l, err := socket.CreateServer("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln := tls.NewListener(l.Listener(), &tls.Config{Certificates: []tls.Certificate{cert}})
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		c.(*tls.Conn).Handshake()
		c.Close()
	}()
	laddr, _ := l.Getsockname()
	code, out, errs := run(t, "", "doctor", "--tls", "--servername", "localhost", laddr.String())
	<-done
	if code != 0 || !strings.Contains(out, "TLS: TLS 1.3") || !strings.Contains(out, "does not verify for localhost") {
		t.Errorf("doctor --tls: exit %d %s\n%s", code, errs, out)
	}
	// Bad targets are usage errors.
	for _, bad := range []string{"0", "70000", "host", "host:port", ":80"} {
		if code, _, errs := run(t, "", "doctor", bad); code != cli.ExitUsage || strings.Count(strings.TrimSpace(errs), "\n") > 1 {
			t.Errorf("doctor %q: exit %d %q", bad, code, errs)
		}
	}
}
