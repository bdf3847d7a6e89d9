//go:build linux

package cli_test

import (
	"fmt"
	"io"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/socket"
)

// startSockGroup runs the built binary as the leader of a process group of
// its own, as a shell runs a foreground job, and waits for its "serving"
// line.
func startSockGroup(t *testing.T, args ...string) (*exec.Cmd, string, *syncBuffer) {
	t.Helper()
	bin, err := sockBinary()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var errb syncBuffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
	re := regexp.MustCompile(`serving \S+ on (\S+) `)
	for i := 0; i < 1000; i++ {
		if m := re.FindStringSubmatch(errb.String()); m != nil {
			return cmd, m[1], &errb
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("sock %v did not start: %s", args, errb.String())
	return nil, "", nil
}

// echoOnce sends msg to an echo server and checks the answer.
func echoOnce(t *testing.T, addr, msg string) {
	t.Helper()
	sa, _ := socket.ParseAddr(socket.AF_INET, addr)
	c, err := socket.New(socket.AF_INET, socket.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetTimeout(5 * time.Second)
	if err := c.Connect(sa); err != nil {
		t.Fatal(err)
	}
	c.Sendall([]byte(msg), 0)
	c.CloseWrite()
	if got, err := io.ReadAll(c); string(got) != msg {
		t.Fatalf("echo %q, %v", got, err)
	}
}

// TestServePreforkCtrlC: Ctrl-C in a terminal sends SIGINT to the whole
// foreground process group. The prefork server stops, and never takes a
// worker stopping for a crash ("prefork child exited; replacing it").
func TestServePreforkCtrlC(t *testing.T) {
	for round := 0; round < 3; round++ {
		cmd, addr, errb := startSockGroup(t, "serve", "echo", "--dispatcher", "prefork", "--workers", "3",
			"--addr", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
		for i := 0; i < 6; i++ {
			echoOnce(t, addr, fmt.Sprintf("request %d", i))
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGINT) // what the terminal does
		if err := waitExit(t, cmd, 10*time.Second); err != nil {
			t.Fatalf("sock exited with %v: %s", err, errb.String())
		}
		out := errb.String()
		if strings.Contains(out, "replacing") || strings.Contains(out, "exited") {
			t.Fatalf("round %d: Ctrl-C was taken for a crash:\n%s", round, out)
		}
		if !strings.Contains(out, "shutting down") {
			t.Fatalf("round %d: no shutdown line:\n%s", round, out)
		}
	}
}
