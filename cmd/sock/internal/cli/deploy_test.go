//go:build linux

package cli_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/socketkit/socketkit/internal/sockettest"
)

// unitValue returns the value of key= in a systemd unit file.
func unitValue(t *testing.T, unit, key string) string {
	t.Helper()
	for _, line := range strings.Split(unit, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	t.Fatalf("no %s= in:\n%s", key, unit)
	return ""
}

// TestDeployReadme: README's "Running in production" shows deploy/'s
// files as they are.
func TestDeployReadme(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sock-echo.socket", "sock-echo.service", "prometheus.yml"} {
		if body := strings.TrimRight(deployFile(t, name), "\n"); !strings.Contains(string(readme), body) {
			t.Errorf("README.md does not show deploy/%s as it is", name)
		}
	}
}

// TestDeployRestart runs deploy/'s units as systemd would, under
// systemd-socket-activate: the socket unit's ListenStream and
// FileDescriptorName, the service's ExecStart (the built sock, and a
// free port, PID file and metrics port instead of the fixed ones); then
// the restart procedure, ExecReload's kill -HUP of the pid in PIDFile,
// twice while clients open a connection per request: none fails, and
// the PID file names a new sock after each.
func TestDeployRestart(t *testing.T) {
	socketUnit, service := deployFile(t, "sock-echo.socket"), deployFile(t, "sock-echo.service")
	listen := unitValue(t, socketUnit, "ListenStream")
	fdname := unitValue(t, socketUnit, "FileDescriptorName")
	exec := strings.Fields(unitValue(t, service, "ExecStart"))
	pidFile := unitValue(t, service, "PIDFile")
	if reload := unitValue(t, service, "ExecReload"); reload != "/bin/kill -HUP $MAINPID" {
		t.Fatalf("ExecReload=%s; the test does kill -HUP", reload)
	}
	if exec[0] != "/usr/local/bin/sock" {
		t.Fatalf("ExecStart runs %s", exec[0])
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	myPid := filepath.Join(t.TempDir(), "sock.pid")
	metricsAddr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	var args []string
	for _, a := range exec[1:] {
		switch a {
		case pidFile:
			a = myPid
		case "127.0.0.1:9464":
			a = metricsAddr
		}
		args = append(args, a)
	}
	if listen != "127.0.0.1:6254" {
		t.Fatalf("ListenStream=%s; the test swaps 127.0.0.1:6254 for a free port", listen)
	}
	_, _, errb := activate(t, []string{"-l", addr, "--fdname=" + fdname}, args...)
	if got := echoStream(t, "tcp", addr, "first\n"); got != "first\n" {
		t.Fatalf("echo %q", got)
	}
	waitFor(t, errb, "from systemd fd 3 ("+fdname+")", 10*time.Second)
	currentPid := func() int {
		b, _ := os.ReadFile(myPid)
		n, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		return n
	}
	for i := 0; currentPid() == 0 && i < 500; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	first := currentPid()
	pids := map[int]bool{first: true}
	defer func() {
		if pid := currentPid(); pid > 0 { // kill(0) would signal this test's whole process group
			syscall.Kill(pid, syscall.SIGTERM)
		}
	}()

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(4 * time.Second)
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			for n := 0; time.Now().Before(stop); n++ {
				msg := fmt.Sprintf("client %d request %d\n", i, n)
				if err := sockettest.EchoOnce(addr, msg, 10*time.Second); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}(i)
	}
	for k := 0; k < 2; k++ {
		time.Sleep(1200 * time.Millisecond)
		old := currentPid()
		if old <= 0 {
			t.Fatalf("reload %d: the PID file names no process", k+1)
		}
		syscall.Kill(old, syscall.SIGHUP) // systemctl reload: ExecReload
		deadline := time.Now().Add(10 * time.Second)
		for currentPid() == old && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if currentPid() == old {
			t.Fatalf("reload %d: the PID file still names %d\n%s", k+1, old, errb.String())
		}
		pids[currentPid()] = true
	}
	wg.Wait()
	t.Logf("%d requests, %d failed, %d socks", ok.Load(), failed.Load(), len(pids))
	if failed.Load() > 0 || ok.Load() == 0 || len(pids) != 3 {
		t.Fatalf("%d of %d requests failed across 2 reloads (first: %v); %d socks\n%s", failed.Load(), ok.Load()+failed.Load(), firstErr.Load(), len(pids), errb.String())
	}
	// Each new sock says its pid, the one to signal from then on.
	for pid := range pids {
		if pid != first {
			waitFor(t, errb, fmt.Sprintf("sock: pid %d serves now, taking over from pid ", pid), 10*time.Second)
		}
	}
	// The last one removes the PID file when it exits for good.
	last := currentPid()
	if last <= 0 {
		t.Fatalf("the PID file %s names no process", myPid)
	}
	syscall.Kill(last, syscall.SIGTERM)
	deadline := time.Now().Add(sockettest.Patience(t))
	for {
		if _, err := os.Stat(myPid); errors.Is(err, os.ErrNotExist) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the PID file %s is still there after the last sock's SIGTERM\n%s", myPid, errb.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
